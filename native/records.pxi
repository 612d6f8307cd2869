# SPDX-License-Identifier: MIT
# What both readers of a master file's records share (fastdns._zonefile over ldns,
# fastdns._zscanner over libzscanner): the growable buffer the records are written into in
# wire form, and the check that an owner is in the zone.


cdef struct Buf:
    uint8_t *p
    size_t len
    size_t cap


cdef int buf_grow(Buf *b, size_t n) noexcept nogil:
    """Room for n more bytes; -1 when there is no memory for them."""
    cdef size_t cap = b.cap or 1 << 16
    cdef uint8_t *p
    if b.len + n <= b.cap:
        return 0
    while cap < b.len + n:
        cap *= 2
    p = <uint8_t *>realloc(b.p, cap)
    if p == NULL:
        return -1
    b.p, b.cap = p, cap
    return 0


cdef inline void put_u16(uint8_t *p, uint16_t v) noexcept nogil:
    p[0] = v >> 8
    p[1] = v & 0xFF


cdef inline void put_u32(uint8_t *p, uint32_t v) noexcept nogil:
    put_u16(p, v >> 16)
    put_u16(p + 2, v & 0xFFFF)


cdef inline uint8_t lower(uint8_t c) noexcept nogil:
    return c + 32 if 65 <= c <= 90 else c


cdef bint name_in_zone(const uint8_t *name, size_t size, const uint8_t *o, size_t olen) noexcept nogil:
    cdef size_t at = 0, i
    while at < size and size - at > olen:
        at += 1 + name[at]
    if size - at != olen:
        return False
    for i in range(olen):
        if lower(name[at + i]) != lower(o[i]):
            return False
    return True
