# SPDX-License-Identifier: MIT
# Per-worker counters; the order is mirrored by COUNTERS in fastdns/controlblock.py.

cdef enum:
    C_RX = 0                # datagrams received
    C_TX                    # replies sent
    C_NOERROR               # replies by RCODE: C_NOERROR + rcode for rcodes 0..5
    C_FORMERR
    C_SERVFAIL
    C_NXDOMAIN
    C_NOTIMP
    C_REFUSED
    C_BADVERS               # EDNS version not supported
    C_DROPPED               # datagrams not answered: too short, QR=1, oversized
    C_TRUNCATED             # replies sent with TC=1
    C_EDNS                  # queries with an OPT RR
    C_BATCHES               # recvmmsg calls that returned datagrams
    C_SEND_ERRORS           # replies the kernel refused to send
    C_IMAGE_SWITCHES        # images mapped after a reload
    N_COUNTERS
