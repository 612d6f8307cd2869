# SPDX-License-Identifier: MIT
# Denial of existence in a signed zone, the one part of an answer that depends on the query
# name itself: the NSEC whose span covers the name (RFC 4035 3.1.3), or the NSEC3 whose
# span covers the hash of its next closer name (RFC 5155 7.2).  The zone's chain is in the
# image, sorted (docs/image-format.md): a binary search per query, no allocation.

cdef extern from "<openssl/sha.h>" nogil:
    ctypedef struct SHA_CTX:
        pass
    int SHA1_Init(SHA_CTX* c)
    int SHA1_Update(SHA_CTX* c, const void* data, size_t length)
    int SHA1_Final(unsigned char* md, SHA_CTX* c)

cdef enum:
    MAX_LABELS = 128                # a 255-byte name has at most 127 labels and the root


cdef inline int name_labels(const uint8_t* name, const uint8_t** labels) noexcept nogil:
    """Where each label of a wire name starts, the first label first; returns how many."""
    cdef int n = 0
    while name[0] != 0 and n < MAX_LABELS:
        labels[n] = name
        n += 1
        name += name[0] + 1
    return n


cdef int canonical_compare(const uint8_t** a, int na, const uint8_t* b) noexcept nogil:
    """RFC 4034 6.1 order of two lower-cased wire names, label by label from the root; a is
    given by its labels (name_labels)."""
    cdef const uint8_t* lb[MAX_LABELS]
    cdef int nb = name_labels(b, lb)
    cdef int n, c
    while na and nb:
        na -= 1
        nb -= 1
        n = a[na][0] if a[na][0] < lb[nb][0] else lb[nb][0]
        c = memcmp(a[na] + 1, lb[nb] + 1, n)
        if c:
            return c
        if a[na][0] != lb[nb][0]:
            return a[na][0] - lb[nb][0]
    return na - nb


cdef inline uint32_t nsec_covering(const image_t* img, const img_chain* chain,
                                   const query_t* q) noexcept nogil:
    """The entry whose owner is the last at or before the query name (the last entry when
    the name sorts before them all: the apex's NSEC closes the chain)."""
    cdef const img_nsec_entry* e = <const img_nsec_entry*>(<const uint8_t*>chain + sizeof(img_chain))
    cdef const uint8_t* labels[MAX_LABELS]
    cdef int n = name_labels(q.lname, labels)
    cdef uint32_t lo = 0, hi = chain.count, mid
    while lo < hi:                  # the first owner after the name
        mid = (lo + hi) // 2
        if canonical_compare(labels, n, img.base + e[mid].name_off) < 0:
            hi = mid
        else:
            lo = mid + 1
    return lo - 1 if lo else chain.count - 1


cdef inline uint32_t nsec3_covering(const image_t* img, const img_chain* chain,
                                    const query_t* q) noexcept nogil:
    """The entry whose hash is the last below the next closer name's (the last entry when
    none is: its span wraps around)."""
    cdef const uint8_t* salt = <const uint8_t*>chain + sizeof(img_chain)
    cdef const img_nsec3_entry* e = <const img_nsec3_entry*>(salt + ((chain.salt_len + 3) & ~3))
    cdef uint8_t digest[NSEC3_HASH_SIZE]
    cdef SHA_CTX ctx
    cdef int i
    cdef uint32_t lo = 0, hi = chain.count, mid
    SHA1_Init(&ctx)                 # RFC 5155 5: H(name || salt), then H(digest || salt)
    SHA1_Update(&ctx, q.lname + q.next_closer, q.qname_len - q.next_closer)
    SHA1_Update(&ctx, salt, chain.salt_len)
    SHA1_Final(digest, &ctx)
    for i in range(chain.iterations):
        SHA1_Init(&ctx)
        SHA1_Update(&ctx, digest, NSEC3_HASH_SIZE)
        SHA1_Update(&ctx, salt, chain.salt_len)
        SHA1_Final(digest, &ctx)
    while lo < hi:                  # the first hash at or after the name's
        mid = (lo + hi) // 2
        if memcmp(e[mid].hash, digest, NSEC3_HASH_SIZE) < 0:
            lo = mid + 1
        else:
            hi = mid
    return lo - 1 if lo else chain.count - 1


cdef inline const img_rrs* entry_rrs(const image_t* img, const img_chain* chain, uint32_t i) noexcept nogil:
    """The records of the chain's entry i."""
    cdef uint32_t rrs_off
    if chain.kind == CHAIN_NSEC:
        rrs_off = (<const img_nsec_entry*>(<const uint8_t*>chain + sizeof(img_chain)))[i].rrs_off
    else:
        rrs_off = (<const img_nsec3_entry*>(<const uint8_t*>chain + sizeof(img_chain)
                                            + ((chain.salt_len + 3) & ~3)))[i].rrs_off
    return <const img_rrs*>(img.base + rrs_off)


cdef inline const img_rrs* covering_rrs(const image_t* img, uint32_t chain_off, uint32_t have0,
                                        uint32_t have1, const query_t* q) noexcept nogil:
    """The records of the chain entry covering this query name (the name itself in an NSEC
    chain, its next closer name's hash in an NSEC3 chain), or NULL: an empty chain, or the
    entry is have0 or have1 (index + 1), which the reply holds already."""
    cdef const img_chain* chain = <const img_chain*>(img.base + chain_off)
    cdef uint32_t i
    if chain.count == 0:
        return NULL
    if chain.kind == CHAIN_NSEC:
        i = nsec_covering(img, chain, q)
    else:
        i = nsec3_covering(img, chain, q)
    if i + 1 == have0 or i + 1 == have1:
        return NULL
    return entry_rrs(img, chain, i)


cdef inline const img_rrs* find_cover(const image_t* img, const img_record* rec,
                                      const query_t* q) noexcept nogil:
    """The records rec needs for this query name (its EXT_COVER), or NULL: none needed, or
    the tail has them already."""
    cdef const img_cover* c = <const img_cover*>record_extension(rec)
    return covering_rrs(img, c.chain_off, c.have0, c.have1, q)
