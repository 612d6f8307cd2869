# SPDX-License-Identifier: MIT
# What a worker needs to defend the service, beside the image: the policy the control
# process sets (rate limiting, DNS cookies' secrets; in the control block, ctl_header),
# the clocks read once per batch, and the worker's own rate-limiting table.

cdef enum:
    COOKIE_SECRET_SIZE = 16         # bytes: a SipHash-2-4 key (RFC 9018 4.4)
    RRL_TABLE_SIZE = 65536          # rate-limiting entries per worker (16 bytes each: 1 MiB)
    RRL_UNIT = 1024                 # credit one response costs (fractions of responses refill)
    RRL_CLASSES = 4                 # response classes limited separately: ratelimit.pxi

cdef struct ctl_policy:             # written by the control process (fastdns/controlblock.py)
    uint32_t rrl_rate               # responses per second per prefix and class, in each
                                    # worker; 0: no rate limiting
    uint32_t rrl_slip               # every slip-th limited response goes out truncated; 0: none
    uint8_t rrl_ipv4_prefix         # bits of an IPv4 source address that key its budget
    uint8_t rrl_ipv6_prefix         # and of an IPv6 one (at most 64)
    uint8_t cookies                 # 1: answer DNS cookies (RFC 7873, RFC 9018)
    uint8_t cookie_previous         # 1: cookie_secret_previous is accepted too
    uint32_t reserved
    uint8_t cookie_secret[COOKIE_SECRET_SIZE]           # server cookies are made with it
    uint8_t cookie_secret_previous[COOKIE_SECRET_SIZE]  # and still accepted from it

ctypedef struct rrl_entry:
    uint64_t key                    # prefix, family and class, mixed (0: free)
    uint32_t stamp_ms               # when the credit was last topped up
    int32_t credit                  # RRL_UNIT per response it may still send

ctypedef struct guard_t:
    ctl_policy pol
    rrl_entry* table                # RRL_TABLE_SIZE entries; NULL without rate limiting
    uint64_t v4_mask                # the prefixes' masks, over the first 32 / 64 bits
    uint64_t v6_mask
    uint64_t seed                   # keys the table's hash: unpredictable slots
    int32_t burst                   # one second's credit: the most an entry holds
    uint32_t slip_left              # limited responses until the next one slips
    uint32_t now_ms                 # the clocks, read once per batch (guard_tick)
    uint32_t now_s


cdef inline void guard_tick(guard_t* g) noexcept nogil:
    g.now_ms = fastdns_clock_ms()
    g.now_s = fastdns_clock_s()


cdef inline uint64_t prefix_mask(int bits, int width) noexcept nogil:
    """A mask of the first bits of a width-bit big-endian word."""
    if bits <= 0:
        return 0
    if bits >= width:
        return (<uint64_t>-1) >> (64 - width)
    return ((<uint64_t>-1) >> (64 - width)) & ~((<uint64_t>-1) >> (64 - width + bits))


cdef inline void guard_free(guard_t* g) noexcept nogil:
    free(g.table)
    g.table = NULL


cdef int guard_configure(guard_t* g, const ctl_policy* pol) noexcept nogil:
    """Take a new policy (not per packet: at start and when a reload publishes one); the
    table is allocated once, when rate limiting is first on.  -1 when out of memory."""
    g.pol = pol[0]
    g.v4_mask = prefix_mask(pol.rrl_ipv4_prefix, 32)
    g.v6_mask = prefix_mask(pol.rrl_ipv6_prefix, 64)
    g.burst = <int32_t>(pol.rrl_rate * <uint64_t>RRL_UNIT) if pol.rrl_rate < 1000000 else 1000000 * RRL_UNIT
    g.slip_left = pol.rrl_slip
    if g.seed == 0:                 # not derived from the secret: which prefixes share a
        g.seed = fastdns_random64() | 1     # slot must not tell anything about it
    if not pol.rrl_rate:
        guard_free(g)               # answer_query limits only with a table
    elif g.table == NULL:
        g.table = <rrl_entry*>calloc(RRL_TABLE_SIZE, sizeof(rrl_entry))
        if g.table == NULL:
            return -1
    return 0

