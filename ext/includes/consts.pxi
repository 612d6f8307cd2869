# SPDX-License-Identifier: MIT
# Tunables of the data plane, named once.

cdef enum:
    BATCH = 64                  # packets per recvmmsg/sendmmsg call
    PKT_BUF_SIZE = 4096         # bytes per packet buffer: the largest UDP reply we send
    MAX_UDP_PAYLOAD = 4096      # bytes; a larger configured payload size is clamped to this
    MIN_UDP_PAYLOAD = 512       # bytes; RFC 1035 4.2.1 and RFC 6891 6.2.5
    MAX_TCP_MESSAGE = 65535     # bytes; RFC 1035 4.2.2 two-byte length prefix
    MAX_NAME = 255              # bytes of a wire name, RFC 1035 2.3.4
    LNAME_SIZE = 264            # MAX_NAME rounded up to words, plus a zero word
    MAX_FDS = 8                 # listen sockets one worker polls
    POLL_TIMEOUT_MS = 250       # ms; an idle worker returns to Python this often
    OPT_RR_SIZE = 11            # bytes of an OPT RR with no options
    MAX_POINTER_TARGET = 0x3FFF # the furthest offset a compression pointer reaches (14 bits)

# fastdns.image.name_hash (docs/image-format.md): 64-bit constants, so not in the enum.
cdef extern from *:
    """
    #define FASTDNS_NAME_HASH_SEED 0x243F6A8885A308D3ULL
    #define FASTDNS_NAME_HASH_MULTIPLIER 0x9E3779B97F4A7C15ULL
    """
    const uint64_t NAME_HASH_SEED "FASTDNS_NAME_HASH_SEED"
    const uint64_t NAME_HASH_MULTIPLIER "FASTDNS_NAME_HASH_MULTIPLIER"
