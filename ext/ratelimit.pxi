# SPDX-License-Identifier: MIT
# Response rate limiting over UDP (the idea of BIND's and Knot DNS's RRL): each client
# prefix (IPv4 /24, IPv6 /56 by default) has a budget of responses per second for each
# class of response, so a flood of one kind (spoofed in the victim's name, or random names
# for NXDOMAIN) does not starve the others.  A budget is a token bucket topped up every
# millisecond, up to one second's worth.  Over budget, a response is dropped, but every
# slip-th goes out truncated with no records (TC=1), so a real client behind the prefix
# retries over TCP; one that sent a client cookie gets BADCOOKIE with a server cookie
# instead (RFC 7873 5.2.3), and with that cookie it is no longer limited.
#
# One table per worker, direct-mapped by a seeded hash: no lock, no allocation per packet;
# a colliding prefix takes the entry over with a full budget (fail open).  The control
# process gives each worker its share of the configured rate.

cdef enum:
    RRL_ANSWER = 0                  # positive answers and NODATA
    RRL_NXDOMAIN = 1
    RRL_REFERRAL = 2
    RRL_ERROR = 3                   # every other RCODE (REFUSED, FORMERR, ...), BADVERS
    RRL_MS_PER_S = 1000


cdef inline int response_class(const uint8_t* reply, const query_t* q) noexcept nogil:
    cdef uint16_t flags = fastdns_get16(reply + 2)
    cdef int rcode = flags & DNS_RCODE_MASK
    if rcode == DNS_RCODE_NXDOMAIN:
        return RRL_NXDOMAIN
    if rcode != DNS_RCODE_NOERROR or q.edns_version:
        return RRL_ERROR
    if flags & DNS_AA or fastdns_get16(reply + 6):
        return RRL_ANSWER
    return RRL_REFERRAL


cdef inline uint64_t rrl_key(const guard_t* g, const uint8_t* addr, int addr_len,
                             int cls) noexcept nogil:
    """The source's prefix, its family and the class, mixed (MurmurHash3's finalizer)."""
    cdef uint64_t k
    if addr_len == 4:
        k = (<uint64_t>fastdns_get32(addr) & g.v4_mask) | (<uint64_t>1 << 32)
    elif addr_len == 16:
        k = fastdns_get64(addr) & g.v6_mask
    else:
        k = 0
    k = (k ^ g.seed) + <uint64_t>(cls + 1) * 0x9E3779B97F4A7C15ULL
    k ^= k >> 33
    k *= 0xFF51AFD7ED558CCDULL
    k ^= k >> 33
    k *= 0xC4CEB9FE1A85EC53ULL
    k ^= k >> 33
    return k if k else 1


cdef inline bint over_budget(guard_t* g, const uint8_t* addr, int addr_len, int cls) noexcept nogil:
    """Take one response from the prefix's budget for cls; True when there is none left."""
    cdef uint64_t key = rrl_key(g, addr, addr_len, cls)
    cdef rrl_entry* e = &g.table[key & (RRL_TABLE_SIZE - 1)]
    cdef uint32_t elapsed
    cdef int64_t credit
    if e.key != key:                # first seen (or taken over): a full budget
        e.key = key
        e.stamp_ms = g.now_ms
        e.credit = g.burst - RRL_UNIT
        return 0
    elapsed = g.now_ms - e.stamp_ms
    if elapsed:
        if elapsed > RRL_MS_PER_S:
            elapsed = RRL_MS_PER_S
        credit = e.credit + <int64_t>elapsed * g.pol.rrl_rate * RRL_UNIT // RRL_MS_PER_S
        e.credit = <int32_t>(credit if credit < g.burst else g.burst)
        e.stamp_ms = g.now_ms
    if e.credit >= RRL_UNIT:
        e.credit -= RRL_UNIT
        return 0
    return 1


cdef inline int rate_limit(uint8_t* pkt, int length, query_t* q, guard_t* g,
                           const uint8_t* addr, int addr_len, int payload_max,
                           uint64_t* counters) noexcept nogil:
    """The UDP reply in pkt as it may go out: itself, a slipped one, or 0 (dropped)."""
    cdef int cls = response_class(pkt, q)
    if not over_budget(g, addr, addr_len, cls):
        return length
    if g.slip_left and g.slip_left - 1 == 0:
        g.slip_left = g.pol.rrl_slip
        counters[C_RRL_SLIPPED + cls] += 1
        if q.cookie_len:            # a client cookie, no valid server cookie
            counters[C_BADCOOKIE] += 1
            return reply_without_records(pkt, q, DNS_RCODE_BADCOOKIE & DNS_RCODE_MASK,
                                         DNS_RCODE_BADCOOKIE >> 4, <uint16_t>payload_max)
        counters[C_TRUNCATED] += 1
        return reply_without_records(pkt, q, (fastdns_get16(pkt + 2) & (DNS_AA | DNS_RCODE_MASK))
                                     | DNS_TC, 0, <uint16_t>payload_max)
    if g.slip_left:
        g.slip_left -= 1
    counters[C_RRL_DROPPED + cls] += 1
    counters[C_DROPPED] += 1
    return 0
