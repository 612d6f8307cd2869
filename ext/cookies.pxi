# SPDX-License-Identifier: MIT
# DNS cookies (RFC 7873) with the interoperable server cookie of RFC 9018: version 1,
# three reserved bytes, a timestamp in seconds and SipHash-2-4 over the client cookie,
# those eight bytes and the client's address, keyed with the server's secret.  Servers
# that share the secret (anycast nodes) accept each other's cookies; the previous secret
# is accepted while the current one rolls out.

from sodium cimport crypto_shorthash_siphash24

cdef enum:
    COOKIE_VERSION = 1
    COOKIE_HASHED = 16              # bytes before the address in the hash's input
    SERVER_COOKIE_SIZE = 16         # RFC 9018 4.2
    COOKIE_LIFETIME = 3600          # s: an older server cookie is not valid (RFC 9018 4.3)
    COOKIE_SKEW = 300               # s: nor one stamped further in the future
    COOKIE_RENEW = 1800             # s: a valid cookie older than this is replaced
    DNS_RCODE_BADCOOKIE = 23        # RFC 7873 8: extended, its upper 8 bits in OPT


cdef inline void cookie_hash(uint8_t* out, const uint8_t* cookie, const uint8_t* addr,
                             int addr_len, const uint8_t* secret) noexcept nogil:
    """out[0:8] = SipHash-2-4(secret, client cookie | version | reserved | timestamp |
    client address), the input laid out as RFC 9018 4.4 lists it."""
    cdef uint8_t data[COOKIE_HASHED + 16]
    memcpy(data, cookie, COOKIE_HASHED)
    if addr_len:
        memcpy(data + COOKIE_HASHED, addr, addr_len)
    crypto_shorthash_siphash24(out, data, COOKIE_HASHED + addr_len, secret)


cdef inline bint hash_matches(const uint8_t* cookie, const uint8_t* addr, int addr_len,
                              const uint8_t* secret) noexcept nogil:
    cdef uint8_t expected[8]
    cookie_hash(expected, cookie, addr, addr_len, secret)
    return memcmp(expected, cookie + COOKIE_HASHED, 8) == 0


cdef inline void check_cookie(const uint8_t* pkt, query_t* q, const guard_t* g,
                              const uint8_t* addr, int addr_len, uint64_t* counters) noexcept nogil:
    """Read the query's COOKIE option (before the reply overwrites it) and decide the
    reply's: its server cookie kept when valid, made with the current secret and recent
    (RFC 9018 4.3), else a new one.  Without cookies on, the option is ignored (RFC 7873
    5.2.1: as by a server that does not implement them)."""
    cdef const uint8_t* got = pkt + q.cookie_at
    cdef int32_t age
    cdef bint current = 0
    if not g.pol.cookies:
        q.cookie_len = 0
        return
    counters[C_COOKIES] += 1
    memcpy(q.cookie, got, CLIENT_COOKIE_SIZE)
    # The reserved bytes are hashed as received (RFC 9018 4.2: zero when made, not checked).
    if q.cookie_len == CLIENT_COOKIE_SIZE + SERVER_COOKIE_SIZE and got[8] == COOKIE_VERSION:
        age = <int32_t>(g.now_s - fastdns_get32(got + 12))  # serial arithmetic (RFC 1982)
        if -COOKIE_SKEW <= age <= COOKIE_LIFETIME:
            current = hash_matches(got, addr, addr_len, g.pol.cookie_secret)
            q.cookie_valid = current or (g.pol.cookie_previous and hash_matches(
                got, addr, addr_len, g.pol.cookie_secret_previous))
    if q.cookie_valid:
        counters[C_COOKIE_VALID] += 1
    if current and age < COOKIE_RENEW:
        memcpy(q.cookie + CLIENT_COOKIE_SIZE, got + CLIENT_COOKIE_SIZE, SERVER_COOKIE_SIZE)
    else:
        q.cookie[8] = COOKIE_VERSION
        q.cookie[9] = 0
        q.cookie[10] = 0
        q.cookie[11] = 0
        fastdns_put32(q.cookie + 12, g.now_s)
        cookie_hash(q.cookie + COOKIE_HASHED, q.cookie, addr, addr_len, g.pol.cookie_secret)
    q.cookie_len = COOKIE_REPLY_SIZE
    q.opt_size = OPT_RR_SIZE + 4 + COOKIE_REPLY_SIZE
