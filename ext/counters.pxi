# SPDX-License-Identifier: MIT
# Per-worker counters; the order is mirrored by COUNTERS in fastdns/controlblock.py, and
# tests/unit/test_contract.py compares counter_indices() below with it.

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
    C_DROPPED               # datagrams not answered, all reasons: the C_DROP_* below,
                            # and DNS messages too short, with QR=1 or oversized
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
    # AF_XDP frames dropped before the DNS message is read, by reason (each also counted
    # in C_DROPPED).  Appended here so the slots above keep their offsets.
    C_DROP_SHORT            # frame shorter than its Ethernet, IP and UDP headers
    C_DROP_NOT_IP           # EtherType neither IPv4 nor IPv6
    C_DROP_IP_HEADER        # IPv4 header with options, a version other than 4, a wrong
                            # checksum, or a fragment; IPv6 header with a version other than 6
    C_DROP_LENGTH           # IP Total/Payload Length or UDP Length disagreeing with the
                            # frame or with each other
    # Response rate limiting (ratelimit.pxi), by response class: answers, NXDOMAIN,
    # referrals, errors; those dropped are also in C_DROPPED, those slipped in C_TRUNCATED
    # (or C_BADCOOKIE).
    C_RRL_DROPPED
    C_RRL_DROPPED_NXDOMAIN
    C_RRL_DROPPED_REFERRAL
    C_RRL_DROPPED_ERROR
    C_RRL_SLIPPED
    C_RRL_SLIPPED_NXDOMAIN
    C_RRL_SLIPPED_REFERRAL
    C_RRL_SLIPPED_ERROR
    # DNS cookies (cookies.pxi): queries with a COOKIE option, those whose server cookie
    # was valid, BADCOOKIE replies sent
    C_COOKIES
    C_COOKIE_VALID
    C_BADCOOKIE
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


cdef dict counter_indices():
    """Each counter's slot index, by its name in fastdns/controlblock.py."""
    return {
        "rx": C_RX,
        "tx": C_TX,
        "noerror": C_NOERROR,
        "formerr": C_FORMERR,
        "servfail": C_SERVFAIL,
        "nxdomain": C_NXDOMAIN,
        "notimp": C_NOTIMP,
        "refused": C_REFUSED,
        "badvers": C_BADVERS,
        "dropped": C_DROPPED,
        "truncated": C_TRUNCATED,
        "edns": C_EDNS,
        "batches": C_BATCHES,
        "send_errors": C_SEND_ERRORS,
        "image_switches": C_IMAGE_SWITCHES,
        "q_a": C_Q_A,
        "q_aaaa": C_Q_AAAA,
        "q_mx": C_Q_MX,
        "q_txt": C_Q_TXT,
        "q_ns": C_Q_NS,
        "q_soa": C_Q_SOA,
        "q_cname": C_Q_CNAME,
        "q_srv": C_Q_SRV,
        "q_ptr": C_Q_PTR,
        "q_any": C_Q_ANY,
        "q_other": C_Q_OTHER,
        "drop_short": C_DROP_SHORT,
        "drop_not_ip": C_DROP_NOT_IP,
        "drop_ip_header": C_DROP_IP_HEADER,
        "drop_length": C_DROP_LENGTH,
        "rrl_dropped_answer": C_RRL_DROPPED,
        "rrl_dropped_nxdomain": C_RRL_DROPPED_NXDOMAIN,
        "rrl_dropped_referral": C_RRL_DROPPED_REFERRAL,
        "rrl_dropped_error": C_RRL_DROPPED_ERROR,
        "rrl_slipped_answer": C_RRL_SLIPPED,
        "rrl_slipped_nxdomain": C_RRL_SLIPPED_NXDOMAIN,
        "rrl_slipped_referral": C_RRL_SLIPPED_REFERRAL,
        "rrl_slipped_error": C_RRL_SLIPPED_ERROR,
        "cookies": C_COOKIES,
        "cookie_valid": C_COOKIE_VALID,
        "badcookie": C_BADCOOKIE,
    }
