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
    C_Q_A                   # queries by QTYPE, for the common types ...
    C_Q_AAAA
    C_Q_MX
    C_Q_TXT
    C_Q_NS
    C_Q_SOA
    C_Q_CNAME
    C_Q_SRV
    C_Q_PTR
    C_Q_ANY
    C_Q_OTHER               # ... and all the others
    N_COUNTERS


cdef inline int qtype_counter(uint16_t qtype) noexcept nogil:
    if qtype == 1:
        return C_Q_A
    if qtype == 28:
        return C_Q_AAAA
    if qtype == 15:
        return C_Q_MX
    if qtype == 16:
        return C_Q_TXT
    if qtype == 2:
        return C_Q_NS
    if qtype == 6:
        return C_Q_SOA
    if qtype == 5:
        return C_Q_CNAME
    if qtype == 33:
        return C_Q_SRV
    if qtype == 12:
        return C_Q_PTR
    if qtype == 255:
        return C_Q_ANY
    return C_Q_OTHER
