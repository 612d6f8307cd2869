# SPDX-License-Identifier: MIT
# A signed zone's denial chain in native form: fastdns/denial.py's NsecChain and Nsec3Chain
# (read_chain, is_nsec3_owner), over name indices.  The NSEC chain is in canonical order
# (RFC 4034 6.1); the NSEC3 chain by hash, with each name's own NSEC3 found once, ahead.

cdef extern from "<openssl/sha.h>" nogil:
    ctypedef struct SHA_CTX:
        pass
    int SHA1_Init(SHA_CTX* c)
    int SHA1_Update(SHA_CTX* c, const void* data, size_t length)
    int SHA1_Final(unsigned char* md, SHA_CTX* c)

cdef extern from "<stdlib.h>" nogil:
    void qsort(void* base, size_t n, size_t size, int (*compar)(const void*, const void*) noexcept nogil)

cdef enum:
    NSEC3_HASH_SIZE = 20            # SHA-1 (RFC 5155 11: the one hash NSEC3 has)
    NSEC3_SHA1 = 1
    MAX_LABELS = 128


ctypedef struct hashed_t:
    uint8_t hash[NSEC3_HASH_SIZE]
    uint32_t name


cdef int read_denial(NativeZone z) except -1:
    """NSEC3 owners out of the name space, whether the zone is signed, and its chain."""
    cdef uint32_t i
    z.unsupported = None
    for i in range(z.name_count):
        if _is_nsec3_owner(z, i):
            z.names[i].flags |= N_HIDDEN
            if z.names[i].parent != z.apex:  # its parents would be names of the zone here
                z.unsupported = f"the NSEC3 owner {z.name_text(i)} is not just below the apex"
    z.signed = z.rrset_of(<uint32_t>z.apex, T_RRSIG) >= 0
    if not z.signed:
        return 0
    z.chain_pos = <int32_t*>malloc((z.name_count if z.name_count else 1) * sizeof(int32_t))
    if z.chain_pos == NULL:
        raise MemoryError()
    for i in range(z.name_count):
        z.chain_pos[i] = -1
    if z.rrset_of(<uint32_t>z.apex, T_NSEC3PARAM) >= 0:
        return _read_nsec3(z)
    if z.rrset_of(<uint32_t>z.apex, T_NSEC) >= 0:
        return _read_nsec(z)
    return 0


cdef bint _is_nsec3_owner(NativeZone z, uint32_t name) noexcept:
    """denial.is_nsec3_owner: NSEC3 records and their signatures, nothing else."""
    cdef const name_t* nm = &z.names[name]
    cdef uint32_t k
    cdef bint nsec3 = 0
    for k in range(nm.rr_first, nm.rr_first + nm.rr_count):
        if z.rrs[k].rtype == T_NSEC3:
            nsec3 = 1
        elif not (z.rrs[k].rtype == T_RRSIG and get_u16be(z.data + z.rrs[k].rdata) == T_NSEC3):
            return 0
    return nsec3


cdef int _read_nsec(NativeZone z) except -1:
    cdef uint32_t i, n = 0
    cdef sort_job_t job
    for i in range(z.name_count):
        if z.rrset_of(i, T_NSEC) >= 0:
            n += 1
    z.chain = <uint32_t*>malloc((n if n else 1) * sizeof(uint32_t))
    if z.chain == NULL:
        raise MemoryError()
    n = 0
    for i in range(z.name_count):
        if z.rrset_of(i, T_NSEC) >= 0:
            z.chain[n] = i
            n += 1
    job.names, job.lnames = z.names, z.lnames.data
    qsort_r(z.chain, n, sizeof(uint32_t), _cmp_canonical_index, &job)
    for i in range(n):
        z.chain_pos[z.chain[i]] = <int32_t>i
    z.chain_count = n
    z.chain_type = T_NSEC
    return 0


cdef int _cmp_canonical_index(const void* a, const void* b, void* job) noexcept nogil:
    cdef const sort_job_t* j = <const sort_job_t*>job
    cdef const name_t* x = &j.names[(<const uint32_t*>a)[0]]
    cdef const name_t* y = &j.names[(<const uint32_t*>b)[0]]
    return canonical_cmp(j.lnames + x.loff, x.len, j.lnames + y.loff, y.len)


cdef int _label_offsets(const uint8_t* name, int n, uint8_t* offs) noexcept nogil:
    cdef int i = 0, count = 0
    while i < n and name[i] and count < MAX_LABELS:
        offs[count] = <uint8_t>i
        count += 1
        i += name[i] + 1
    return count


cdef int canonical_cmp(const uint8_t* a, int alen, const uint8_t* b, int blen) noexcept nogil:
    """RFC 4034 6.1 over lower-cased wire names: label by label from the root, each label
    as bytes (a prefix first), then the name with fewer labels first (dns.name.Name's
    order)."""
    cdef uint8_t ao[MAX_LABELS]
    cdef uint8_t bo[MAX_LABELS]
    cdef int na = _label_offsets(a, alen, ao)
    cdef int nb = _label_offsets(b, blen, bo)
    cdef int i = na - 1, j = nb - 1, la, lb, c
    while i >= 0 and j >= 0:
        la = a[ao[i]]
        lb = b[bo[j]]
        c = memcmp(a + ao[i] + 1, b + bo[j] + 1, la if la < lb else lb)
        if c != 0:
            return c
        if la != lb:
            return la - lb
        i -= 1
        j -= 1
    return na - nb


cdef int _read_nsec3(NativeZone z) except -1:
    """denial.read_chain: the apex NSEC3PARAM's (the first with SHA-1) parameters; the
    NSEC3 records just below the apex that carry them, by the hash their label spells."""
    cdef int32_t k = z.rrset_of(<uint32_t>z.apex, T_NSEC3PARAM)
    cdef const rr_t* rr
    cdef const uint8_t* rd = NULL
    cdef uint32_t i, n = 0
    cdef hashed_t* entries
    cdef uint8_t digest[NSEC3_HASH_SIZE]
    cdef hashed_t* found
    cdef hashed_t key
    while k < <int32_t>z.rr_count and z.rrs[k].name == <uint32_t>z.apex and z.rrs[k].rtype == T_NSEC3PARAM:
        rr = &z.rrs[k]
        if not rr.dup and rr.rdlen >= 5 and z.data[rr.rdata] == NSEC3_SHA1:
            rd = z.data + rr.rdata
            break
        k += 1
    if rd == NULL:
        z.unsupported = "its NSEC3PARAM has no SHA-1 parameters"
        return 0
    z.iterations = get_u16be(rd + 2)
    z.salt_len = rd[4]
    memcpy(z.salt, rd + 5, z.salt_len)
    entries = <hashed_t*>malloc((z.name_count if z.name_count else 1) * sizeof(hashed_t))
    if entries == NULL:
        raise MemoryError()
    for i in range(z.name_count):
        if z.names[i].parent != z.apex or not _has_nsec3_with(z, i, rd):
            continue
        if _hashed_label(z, i, entries[n].hash):
            entries[n].name = i
            n += 1
    if n == 0:
        free(entries)
        return 0
    qsort(entries, n, sizeof(hashed_t), _cmp_hashed)
    z.chain = <uint32_t*>malloc(n * sizeof(uint32_t))
    z.hashes = <uint8_t*>malloc(n * NSEC3_HASH_SIZE)
    if z.chain == NULL or z.hashes == NULL:
        free(entries)
        raise MemoryError()
    for i in range(n):
        z.chain[i] = entries[i].name
        memcpy(z.hashes + i * NSEC3_HASH_SIZE, entries[i].hash, NSEC3_HASH_SIZE)
    z.chain_count = n
    z.chain_type = T_NSEC3
    for i in range(z.name_count):  # every name's own NSEC3 (Nsec3Chain.matching)
        if z.names[i].flags & N_HIDDEN:
            continue
        nsec3_hash(z, z.lname(i), z.names[i].len, key.hash)
        found = <hashed_t*>bsearch_hashed(&key, entries, n)
        if found != NULL:
            z.chain_pos[i] = <int32_t>(found - entries)
    free(entries)
    return 0


cdef hashed_t* bsearch_hashed(const hashed_t* key, hashed_t* entries, uint32_t n) noexcept:
    cdef uint32_t lo = 0, hi = n, mid
    cdef int c
    while lo < hi:
        mid = (lo + hi) // 2
        c = memcmp(entries[mid].hash, key.hash, NSEC3_HASH_SIZE)
        if c == 0:
            return &entries[mid]
        if c < 0:
            lo = mid + 1
        else:
            hi = mid
    return NULL


cdef int _cmp_hashed(const void* a, const void* b) noexcept nogil:
    return memcmp((<const hashed_t*>a).hash, (<const hashed_t*>b).hash, NSEC3_HASH_SIZE)


cdef bint _has_nsec3_with(NativeZone z, uint32_t name, const uint8_t* param) noexcept:
    """An NSEC3 record at name with the parameters' algorithm, iterations and salt."""
    cdef int32_t k = z.rrset_of(name, T_NSEC3)
    cdef const rr_t* rr
    cdef const uint8_t* rd
    if k < 0:
        return 0
    while k < <int32_t>z.rr_count and z.rrs[k].name == name and z.rrs[k].rtype == T_NSEC3:
        rr = &z.rrs[k]
        rd = z.data + rr.rdata
        if (rr.rdlen >= 5 + param[4] and rd[0] == param[0] and rd[2] == param[2] and rd[3] == param[3]
                and rd[4] == param[4] and memcmp(rd + 5, param + 5, param[4]) == 0):
            return 1
        k += 1
    return 0


cdef bint _hashed_label(NativeZone z, uint32_t name, uint8_t* out) except -1:
    """denial.hashed_label: the hash the name's first label spells in base32hex (RFC 4648
    7); False when it spells none."""
    cdef const uint8_t* label = z.case_name(name)
    cdef int n = label[0], i, v
    cdef uint64_t bits = 0
    cdef int nbits = 0, at = 0
    if n % 8 != 0:
        return 0
    for i in range(1, n + 1):
        v = _base32hex_value(label[i])
        if v < 0:
            return 0
    if n != 32:
        z.unsupported = f"the NSEC3 owner {z.name_text(name)} spells a hash that is not SHA-1's"
        return 0
    for i in range(1, n + 1):
        bits = (bits << 5) | <uint64_t>_base32hex_value(label[i])
        nbits += 5
        if nbits >= 8:
            nbits -= 8
            out[at] = <uint8_t>(bits >> nbits)
            at += 1
    return 1


cdef inline int _base32hex_value(uint8_t c) noexcept nogil:
    if 48 <= c <= 57:
        return c - 48
    if 65 <= c <= 86:
        return c - 55
    if 97 <= c <= 118:
        return c - 87
    return -1


cdef void nsec3_hash(NativeZone z, const uint8_t* lname, int n, uint8_t* digest) noexcept nogil:
    """RFC 5155 5: H(name || salt), then H(digest || salt) iterations times."""
    cdef SHA_CTX ctx
    cdef uint16_t i
    SHA1_Init(&ctx)
    SHA1_Update(&ctx, lname, n)
    SHA1_Update(&ctx, z.salt, z.salt_len)
    SHA1_Final(digest, &ctx)
    for i in range(z.iterations):
        SHA1_Init(&ctx)
        SHA1_Update(&ctx, digest, NSEC3_HASH_SIZE)
        SHA1_Update(&ctx, z.salt, z.salt_len)
        SHA1_Final(digest, &ctx)


cdef int32_t chain_covering(NativeZone z, const uint8_t* name, int n) noexcept nogil:
    """Chain.covering: the entry whose span holds name (any case): NSEC, the last owner at
    or before it in canonical order; NSEC3, the last hash before the name's; both wrap
    around to the last entry."""
    cdef uint8_t lname[MAX_NAME]
    cdef uint8_t digest[NSEC3_HASH_SIZE]
    cdef uint32_t lo = 0, hi = z.chain_count, mid, owner
    lower_copy(lname, name, n)
    if z.chain_type == T_NSEC:
        while lo < hi:  # bisect_right
            mid = (lo + hi) // 2
            owner = z.chain[mid]
            if canonical_cmp(lname, n, z.lname(owner), z.names[owner].len) < 0:
                hi = mid
            else:
                lo = mid + 1
    else:
        nsec3_hash(z, lname, n, digest)
        while lo < hi:  # bisect_left
            mid = (lo + hi) // 2
            if memcmp(z.hashes + mid * NSEC3_HASH_SIZE, digest, NSEC3_HASH_SIZE) < 0:
                lo = mid + 1
            else:
                hi = mid
    return <int32_t>(lo - 1) if lo else <int32_t>(z.chain_count - 1)
