# SPDX-License-Identifier: MIT
# Wire-format names (RFC 1035 3.1): uncompressed, as the records hold them.

cdef enum:
    MAX_NAME = 255


cdef inline uint8_t lower(uint8_t c) noexcept nogil:
    return c + 32 if 65 <= c <= 90 else c


cdef inline void lower_copy(uint8_t* dst, const uint8_t* src, int n) noexcept nogil:
    cdef int i
    for i in range(n):
        dst[i] = lower(src[i])


cdef inline bint same_lower(const uint8_t* a, const uint8_t* lowered, int n) noexcept nogil:
    """a (any case) equals the lower-cased name `lowered`."""
    cdef int i
    for i in range(n):
        if lower(a[i]) != lowered[i]:
            return 0
    return 1


cdef inline int name_length(const uint8_t* p, size_t avail) noexcept nogil:
    """Length of the uncompressed name at p, or -1 when malformed."""
    cdef size_t i = 0
    while i < avail:
        if p[i] == 0:
            return <int>(i + 1) if i + 1 <= MAX_NAME else -1
        if p[i] > 63:
            return -1
        i += p[i] + 1
    return -1


cdef inline int label_count(const uint8_t* p) noexcept nogil:
    cdef int n = 0
    while p[0]:
        n += 1
        p += p[0] + 1
    return n


cdef inline bint is_subdomain(const uint8_t* name, int length, const uint8_t* lorigin,
                              int origin_len) noexcept nogil:
    """name (any case) is lorigin (lower case) or below it, on label boundaries."""
    cdef int off = 0
    while length - off >= origin_len:
        if length - off == origin_len:
            return same_lower(name + off, lorigin, origin_len)
        off += name[off] + 1
    return 0


cdef inline uint32_t image_name_hash(const uint8_t* name, int length) noexcept nogil:
    """fastdns.image.name_hash of a lower-cased wire name: little-endian 64-bit words of
    the zero-padded name."""
    cdef uint64_t h = 0x243F6A8885A308D3ULL ^ <uint64_t>length
    cdef uint64_t w
    cdef int i = 0
    cdef int j
    while i + 8 <= length:
        memcpy(&w, name + i, 8)  # x86-64 and every Debian target we build for: little-endian
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL
        h ^= h >> 32
        i += 8
    if i < length:
        w = 0
        for j in range(length - i):
            w |= (<uint64_t>name[i + j]) << (8 * j)
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL
        h ^= h >> 32
    return <uint32_t>h


cdef int compare_wire(const uint8_t* a, int alen, const uint8_t* b, int blen) noexcept nogil:
    """bytes order of two lower-cased wire names (Python's a < b on bytes)."""
    cdef int n = alen if alen < blen else blen
    cdef int c = memcmp(a, b, n)
    if c:
        return c
    return alen - blen


cdef int compare_canonical(const uint8_t* a, const uint8_t* b) noexcept nogil:
    """RFC 4034 6.1 order of two lower-cased wire names (dnspython's Name ordering):
    label by label from the root."""
    cdef const uint8_t* la[128]
    cdef const uint8_t* lb[128]
    cdef int na = 0, nb = 0, c, n
    while a[0]:
        la[na] = a
        na += 1
        a += a[0] + 1
    while b[0]:
        lb[nb] = b
        nb += 1
        b += b[0] + 1
    while na and nb:
        na -= 1
        nb -= 1
        n = la[na][0] if la[na][0] < lb[nb][0] else lb[nb][0]
        c = memcmp(la[na] + 1, lb[nb] + 1, n)
        if c:
            return c
        if la[na][0] != lb[nb][0]:
            return la[na][0] - lb[nb][0]
    return na - nb


# -- a hash table of names, by lower-cased wire form ---------------------------------------

ctypedef struct name_table_t:
    uint64_t* slots        # hash << 32 | (name index + 1); 0 = empty
    size_t mask
    size_t used


cdef int table_init(name_table_t* t, size_t expected) except -1:
    cdef size_t n = 64  # a hoster's zones are small: thousands of them
    while n < 2 * expected:
        n *= 2
    t.slots = <uint64_t*>zeroed_huge(n * sizeof(uint64_t))  # probed at random
    if t.slots == NULL:
        raise MemoryError()
    t.mask = n - 1
    t.used = 0
    return 0


cdef inline void table_free(name_table_t* t) noexcept:
    if t.slots != NULL:
        free_huge(t.slots, (t.mask + 1) * sizeof(uint64_t))
    t.slots = NULL
