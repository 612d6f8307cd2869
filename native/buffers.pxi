# SPDX-License-Identifier: MIT
# Growable byte buffers, and a table that finds a blob already written to one (the image's
# data area shares identical blobs, as fastdns.image.ImageWriter does).

cdef extern from "<sys/mman.h>" nogil:
    int madvise(void* addr, size_t length, int advice)
    void* mmap(void* addr, size_t length, int prot, int flags, int fd, long offset)
    int munmap(void* addr, size_t length)
    void* MAP_FAILED
    enum: MADV_HUGEPAGE, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS

cdef enum:
    HUGE_PAGE = 2 * 1024 * 1024

cdef extern from *:
    """
    #define fastdns_prefetch(p) __builtin_prefetch(p)
    """
    void fastdns_prefetch(const void* p) noexcept nogil


ctypedef struct buf_t:
    uint8_t* data
    size_t len
    size_t cap


cdef int buf_init(buf_t* b, size_t cap) except -1:
    b.data = <uint8_t*>malloc(cap if cap else 16)
    if b.data == NULL:
        raise MemoryError()
    b.len = 0
    b.cap = cap if cap else 16
    return 0


cdef inline int buf_reserve(buf_t* b, size_t extra) except -1 nogil:
    """Room for extra more bytes; b.data may move."""
    if b.len + extra <= b.cap:  # inline: the compile asks for room a few times per record
        return 0
    return _buf_grow(b, extra)


cdef int _buf_grow(buf_t* b, size_t extra) except -1 nogil:
    cdef size_t cap = b.cap
    cdef uint8_t* data
    while cap < b.len + extra:
        cap *= 2
    data = <uint8_t*>realloc(b.data, cap)
    if data == NULL:
        with gil:
            raise MemoryError()
    advise_huge(data + b.len, cap - b.len)  # the part not yet written (an image's data area)
    b.data = data
    b.cap = cap
    return 0


cdef inline int buf_append(buf_t* b, const void* src, size_t n) except -1 nogil:
    buf_reserve(b, n)
    memcpy(b.data + b.len, src, n)
    b.len += n
    return 0


cdef inline void buf_free(buf_t* b) noexcept:
    free(b.data)
    b.data = NULL
    b.len = b.cap = 0


cdef inline void put_u16le(uint8_t* p, uint16_t v) noexcept nogil:
    p[0] = v & 0xFF
    p[1] = v >> 8


cdef inline void put_u32le(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = v & 0xFF
    p[1] = (v >> 8) & 0xFF
    p[2] = (v >> 16) & 0xFF
    p[3] = v >> 24


cdef inline void put_u16be(uint8_t* p, uint16_t v) noexcept nogil:
    p[0] = v >> 8
    p[1] = v & 0xFF


cdef inline void put_u32be(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = v >> 24
    p[1] = (v >> 16) & 0xFF
    p[2] = (v >> 8) & 0xFF
    p[3] = v & 0xFF


cdef inline uint16_t get_u16le(const uint8_t* p) noexcept nogil:
    return p[0] | (<uint16_t>p[1] << 8)


cdef inline uint16_t get_u16be(const uint8_t* p) noexcept nogil:
    return (<uint16_t>p[0] << 8) | p[1]


cdef inline uint32_t get_u32be(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline uint64_t blob_hash(const uint8_t* p, size_t n) noexcept nogil:
    """A word-at-a-time mix, only for finding equal blobs; never stored."""
    cdef uint64_t h = 0xCBF29CE484222325ULL ^ n
    cdef uint64_t w
    cdef size_t i = 0
    while i + 8 <= n:
        memcpy(&w, p + i, 8)
        h = (h ^ w) * 0x9E3779B97F4A7C15ULL
        h ^= h >> 29
        i += 8
    w = 0
    if i < n:
        memcpy(&w, p + i, n - i)
    h = (h ^ w) * 0x9E3779B97F4A7C15ULL
    return h ^ (h >> 32)


ctypedef struct blob_slot_t:
    # 8 bytes: a table of millions is probed at random, and each of its pages is a fresh one
    uint32_t off4      # offset in the buffer / 4 + 1 (blobs start 4-aligned); 0 = empty slot
    uint32_t meta      # length << HASH_BITS | the top HASH_BITS of the blob's hash


cdef enum:
    HASH_BITS = 14     # of the hash kept in a slot, to pass over most unequal blobs unread
    MAX_BLOB = (1 << (32 - HASH_BITS)) - 1   # a reply's record is at most 20 + 2 * 65535 bytes


ctypedef struct blob_table_t:
    blob_slot_t* slots
    size_t mask
    size_t used


cdef void* zeroed_huge(size_t size) noexcept:
    """size bytes of zeros, freed by free_huge(p, size).  A table of millions is probed at
    random: on 2 MiB pages (where the kernel gives them on request) each probe costs a cache
    miss, not a TLB miss as well.  A big one is a mapping of its own, whose zeros the kernel
    gives page by page as they are first touched, by whichever thread touches them: the
    compile does not wait for a table of 128 MB to be written before it starts."""
    cdef void* p
    if size >= HUGE_PAGE:
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if p == MAP_FAILED:
            return NULL
        madvise(p, size, MADV_HUGEPAGE)  # advice only: without it, 4 KiB pages
        return p
    return calloc(1, size)


cdef void free_huge(void* p, size_t size) noexcept:
    if p == NULL:
        return
    if size >= HUGE_PAGE:
        munmap(p, size)
    else:
        free(p)


cdef void advise_huge(void* p, size_t size) noexcept nogil:
    """2 MiB pages, where the kernel gives them, for an array read at random and not yet
    touched (its 4 KiB-aligned inside: malloc's big blocks are mappings of their own)."""
    cdef size_t start = (<size_t>p + 4095) & ~(<size_t>4095)
    cdef size_t end = (<size_t>p + size) & ~(<size_t>4095)
    if p != NULL and size >= HUGE_PAGE and end > start:
        madvise(<void*>start, end - start, MADV_HUGEPAGE)


cdef blob_slot_t* slots_alloc(size_t n) noexcept:
    """n empty slots (see zeroed_huge)."""
    return <blob_slot_t*>zeroed_huge(n * sizeof(blob_slot_t))


cdef int blobs_init(blob_table_t* t, size_t expected) except -1:
    cdef size_t n = 1024
    while n < expected:
        n *= 2
    t.slots = slots_alloc(n)
    if t.slots == NULL:
        raise MemoryError()
    t.mask = n - 1
    t.used = 0
    return 0


cdef int blobs_grow(blob_table_t* t, const buf_t* b) except -1:
    """Twice the slots; each blob's place found again from its hash (read from b)."""
    cdef size_t n = (t.mask + 1) * 2
    cdef blob_slot_t* old = t.slots
    cdef size_t old_n = t.mask + 1
    cdef size_t i, j
    t.slots = slots_alloc(n)
    if t.slots == NULL:
        t.slots = old
        raise MemoryError()
    t.mask = n - 1
    for i in range(old_n):
        if old[i].off4:
            j = <uint32_t>blob_hash(b.data + 4 * <size_t>(old[i].off4 - 1), old[i].meta >> HASH_BITS) & t.mask
            while t.slots[j].off4:
                j = (j + 1) & t.mask
            t.slots[j] = old[i]
    free_huge(old, old_n * sizeof(blob_slot_t))
    return 0


cdef int64_t blobs_find_or_add(blob_table_t* t, const buf_t* b, const uint8_t* blob, uint32_t n,
                               uint32_t h, uint64_t new_off) except -2:
    """The offset in b of a blob equal to blob (whose blob_hash is h), or -1 after
    recording that it will be written at new_off (4-aligned)."""
    cdef size_t j
    cdef uint32_t meta = n << HASH_BITS | h >> (32 - HASH_BITS)
    if n > MAX_BLOB or new_off >= (<uint64_t>0xFFFFFFFF) * 4 or new_off & 3:
        raise ValueError(f"image data beyond its limits: a record of {n} bytes at data offset {new_off}")
    if 2 * (t.used + 1) > t.mask:
        blobs_grow(t, b)  # before this blob has a slot: a slot's blob is written, and read again
    j = h & t.mask
    while t.slots[j].off4:
        if t.slots[j].meta == meta and memcmp(b.data + 4 * <size_t>(t.slots[j].off4 - 1), blob, n) == 0:
            return <int64_t>(4 * <size_t>(t.slots[j].off4 - 1))
        j = (j + 1) & t.mask
    t.slots[j].off4 = <uint32_t>(new_off // 4 + 1)
    t.slots[j].meta = meta
    t.used += 1
    return -1


cdef inline void blobs_free(blob_table_t* t) noexcept:
    if t.slots != NULL:
        free_huge(t.slots, (t.mask + 1) * sizeof(blob_slot_t))
    t.slots = NULL
