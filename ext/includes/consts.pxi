# SPDX-License-Identifier: MIT
# Tunables of the data plane, named once.

cdef enum:
    BATCH = 64                  # packets per recvmmsg/sendmmsg call
    PKT_BUF_SIZE = 4096         # bytes per packet buffer: the largest UDP reply we send
    MAX_UDP_PAYLOAD = 4096      # bytes; a larger configured payload size is clamped to this
    MIN_UDP_PAYLOAD = 512       # bytes; RFC 1035 4.2.1 and RFC 6891 6.2.5
    MAX_TCP_MESSAGE = 65535     # bytes; RFC 1035 4.2.2 two-byte length prefix
    MAX_NAME = 255              # bytes of a wire name, RFC 1035 2.3.4
    MAX_LABELS = 128            # a 255-byte name has at most 127 labels plus the root
    MAX_FDS = 8                 # listen sockets one worker polls
    POLL_TIMEOUT_MS = 250       # ms; an idle worker returns to Python this often
    OPT_RR_SIZE = 11            # bytes of an OPT RR with no options
