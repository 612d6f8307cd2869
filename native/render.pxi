# SPDX-License-Identifier: MIT
# A response rendered as the sections that follow a question (compiler._render): dnspython's
# to_wire, name compression included, byte for byte, with the pointer sites recorded so
# the data plane can shift them for a question of another length.

cdef enum:
    QUESTION_OFFSET = 12
    MAX_POINTER_TARGET = 0x3FFF - 255    # fastdns.image.MAX_POINTER_TARGET
    MAX_TAIL = 0xFFFF
    MAX_COMPRESS = 8192                 # entries: each needs 2 bytes below MAX_POINTER_TARGET
    MAX_SOA = 64
    ARENA_SIZE = 2 * 16384 + 1024
    RECORD_SIZE = 20                    # fastdns.image.RECORD
    FLAG_AA = 0x0400
    RCODE_MASK = 0x000F
    EXT_SIGNED = 0x01                   # fastdns.image.EXT_*
    EXT_COVER = 0x02
    EXT_PROOFS = 0x04
    SIGNED_SIZE = 8                     # fastdns.image.SIGNED
    COVER_SIZE = 16                     # fastdns.image.COVER
    PROOFS_SIZE = 20                    # fastdns.image.PROOFS
    CHAIN_NSEC = 1                      # fastdns.image.CHAIN_*
    CHAIN_NSEC3 = 2
    ADD_NONE = 0                        # render_record's additional section: none,
    ADD_ALL = 1                         # all of it,
    ADD_UNSIGNED = 2                    # all but the signatures (RFC 4035 3.1.1),
    ADD_GLUE = 3                        # a referral's in-domain glue only (RFC 9471)


ctypedef struct render_t:
    buf_t out                           # the message from offset 0; the tail from tail_start
    int tail_start
    int n_keys
    const uint8_t* key[MAX_COMPRESS]    # lower-cased suffixes, in arena
    uint8_t key_len[MAX_COMPRESS]
    uint16_t key_pos[MAX_COMPRESS]
    uint8_t arena[ARENA_SIZE]
    int arena_len
    int n_sites
    uint16_t sites[MAX_TAIL / 2 + 1]    # tail offsets of pointers to relocate
    const uint8_t* synthesised          # lower-cased owner written as a pointer to offset 12
    int synthesised_len
    int n_soa
    uint16_t soa_at[MAX_SOA]            # tail offsets of SOA serials written (for patching)
    bint frozen                         # no new targets: what follows a cover moves
    int ext_len                         # bytes of the record's extension (COVER), after the relocations


cdef int find_key(render_t* w, const uint8_t* lname, int n) noexcept nogil:
    cdef int i
    for i in range(w.n_keys):
        if w.key_len[i] == n and memcmp(w.key[i], lname, n) == 0:
            return w.key_pos[i]
    return -1


cdef void add_key(render_t* w, const uint8_t* lname, int n, int pos) noexcept nogil:
    """_Compress.__setitem__: only targets a relocated pointer can still reach."""
    if pos > MAX_POINTER_TARGET or w.n_keys == MAX_COMPRESS or w.frozen:
        return
    w.key[w.n_keys] = lname
    w.key_len[w.n_keys] = n
    w.key_pos[w.n_keys] = pos
    w.n_keys += 1


cdef const uint8_t* arena_lower(render_t* w, const uint8_t* name, int n) except NULL nogil:
    cdef uint8_t* p
    if w.arena_len + n > ARENA_SIZE:
        with gil:
            raise NativeUnsupported("a response with too many names to compress")
    p = w.arena + w.arena_len
    lower_copy(p, name, n)
    w.arena_len += n
    return p


cdef int write_name(render_t* w, const uint8_t* name, int n, bint compress) except -1 nogil:
    """dns.name.Name.to_wire(file, compress): the longest suffix already written becomes
    a pointer; each suffix written here (but the root) becomes a target."""
    cdef const uint8_t* lname = arena_lower(w, name, n) if compress else NULL
    cdef int i = 0, pos, label
    cdef uint8_t ptr[2]
    while True:
        if compress:
            pos = find_key(w, lname + i, n - i)
            if pos >= 0:
                ptr[0] = 0xC0 | (pos >> 8)
                ptr[1] = pos & 0xFF
                w.sites[w.n_sites] = <uint16_t>(w.out.len - w.tail_start)
                w.n_sites += 1
                return buf_append(&w.out, ptr, 2)
            if name[i]:
                add_key(w, lname + i, n - i, <int>w.out.len)
        label = name[i]
        buf_append(&w.out, name + i, label + 1)
        if label == 0:
            return 0
        i += label + 1


cdef int write_rrset(render_t* w, NativeZone z, const rrref_t* ref) except -1 nogil:
    """dns.rrset.RRset.to_wire: every record with the owner; returns the record count."""
    cdef uint32_t k = ref.first
    cdef const rr_t* rr
    cdef int count = 0, n
    cdef size_t rdlen_at
    cdef uint8_t fixed[10]
    cdef const uint8_t* rd
    cdef bint synthesised = (w.synthesised != NULL and ref.owner_len == w.synthesised_len
                             and same_lower(ref.owner, w.synthesised, ref.owner_len))
    while k < z.rr_count:
        rr = &z.rrs[k]
        if k != ref.first and (rr.first or rr.name != z.rrs[ref.first].name):
            break
        k += 1
        if rr.dup:
            continue
        if synthesised:  # the question's name, whatever it was: never relocated
            fixed[0] = 0xC0
            fixed[1] = QUESTION_OFFSET
            buf_append(&w.out, fixed, 2)
        else:
            write_name(w, ref.owner, ref.owner_len, 1)
        put_u16be(fixed, rr.rtype)
        put_u16be(fixed + 2, C_IN)
        put_u32be(fixed + 4, ref.ttl)
        buf_append(&w.out, fixed, 10)
        rdlen_at = w.out.len - 2
        rd = z.data + rr.rdata
        if rr.rtype in (T_NS, T_CNAME, T_PTR):
            write_name(w, rd, rr.rdlen, 1)
        elif rr.rtype == T_MX:
            buf_append(&w.out, rd, 2)
            write_name(w, rd + 2, rr.rdlen - 2, 1)
        elif rr.rtype == T_SOA:
            n = name_length(rd, rr.rdlen)
            write_name(w, rd, n, 1)
            write_name(w, rd + n, name_length(rd + n, rr.rdlen - n), 1)
            if w.n_soa < MAX_SOA:
                w.soa_at[w.n_soa] = <uint16_t>(w.out.len - w.tail_start)
            w.n_soa += 1  # more than MAX_SOA: the serial cannot be patched in place
            buf_append(&w.out, rd + rr.rdlen - 20, 20)
        else:
            buf_append(&w.out, rd, rr.rdlen)
        put_u16be(w.out.data + rdlen_at, <uint16_t>(w.out.len - rdlen_at - 2))
        count += 1
    return count


cdef int render_record(render_t* w, NativeZone z, const response_t* r, const uint8_t* qname,
                       int qlen, bint synthesised, int additional, uint32_t smaller_off,
                       buf_t* blob) except -1 nogil:
    """compiler._render_sections appended to blob as fastdns.image.RECORD + relocations +
    extension (a COVER) + tail; additional: ADD_*."""
    cdef uint8_t lq[MAX_NAME]
    cdef int counts[3]
    cdef int section, i, start, offset, labels, cover_at = 0
    cdef uint16_t flags
    cdef size_t tail_len, at
    cdef uint8_t* p
    w.out.len = 0
    w.n_keys = 0
    w.arena_len = 0
    w.n_sites = 0
    w.n_soa = 0
    w.synthesised = NULL
    w.frozen = 0
    buf_reserve(&w.out, QUESTION_OFFSET + MAX_NAME + 4)
    memset(w.out.data, 0, QUESTION_OFFSET + qlen + 4)
    if qname != NULL:
        lower_copy(lq, qname, qlen)
        memcpy(w.arena, lq, qlen)
        w.arena_len = qlen
        start = lq[0] + 1 if synthesised else 0  # "*.<x>" itself is never a target
        offset = QUESTION_OFFSET + start
        while lq[start]:
            add_key(w, w.arena + start, qlen - start, offset)
            offset += lq[start] + 1
            start += lq[start] + 1
        if synthesised:
            w.synthesised = w.arena
            w.synthesised_len = qlen
    w.tail_start = QUESTION_OFFSET + qlen + 4
    w.out.len = w.tail_start
    for section in range(3):
        counts[section] = 0
        if section == S_ADDITIONAL and additional == ADD_NONE:
            continue
        for i in range(r.n[section]):
            if section == S_ADDITIONAL and ((additional == ADD_UNSIGNED and r.sec[section][i].rtype == T_RRSIG)
                                            or (additional == ADD_GLUE and not r.sec[section][i].glue)):
                continue
            counts[section] += write_rrset(w, z, &r.sec[section][i])
        if section == S_AUTHORITY and r.has_cover:
            cover_at = <int>(w.out.len - w.tail_start)
            w.frozen = 1  # the cover goes here: nothing after it may point past it
    w.ext_len = COVER_SIZE if r.has_cover else 0
    tail_len = w.out.len - w.tail_start
    if tail_len > MAX_TAIL:
        with gil:
            raise ValueError(f"response of {tail_len} bytes exceeds {MAX_TAIL}")
    flags = r.rcode & RCODE_MASK
    if r.aa:
        flags |= FLAG_AA
    at = blob.len  # appended: the plan of a node holds its records back to back
    buf_reserve(blob, RECORD_SIZE + 2 * w.n_sites + w.ext_len + tail_len)
    p = blob.data + at
    put_u16le(p, flags)
    put_u16le(p + 2, counts[0])
    put_u16le(p + 4, counts[1])
    put_u16le(p + 6, counts[2])
    put_u16le(p + 8, <uint16_t>tail_len)
    put_u16le(p + 10, w.n_sites)
    p[12] = qlen
    p[13] = EXT_COVER if r.has_cover else 0
    put_u16le(p + 14, 0)
    put_u32le(p + 16, smaller_off)
    for i in range(w.n_sites):
        put_u16le(p + RECORD_SIZE + 2 * i, w.sites[i])
    if r.has_cover:
        put_cover(p + RECORD_SIZE + 2 * w.n_sites, z, r, cover_at)
    memcpy(p + RECORD_SIZE + 2 * w.n_sites + w.ext_len, w.out.data + w.tail_start, tail_len)
    blob.len = at + RECORD_SIZE + 2 * w.n_sites + w.ext_len + tail_len
    return 0


cdef void put_cover(uint8_t* p, NativeZone z, const response_t* r, int at) noexcept nogil:
    """fastdns.image.COVER: where the record goes, the chain, the chain's records the
    tail has (compiler._cover: the first two proofs')."""
    put_u16le(p, <uint16_t>at)
    p[2] = CHAIN_NSEC if z.chain_type == T_NSEC else CHAIN_NSEC3
    p[3] = 0
    put_u32le(p + 4, <uint32_t>z.chain_off)
    put_u32le(p + 8, <uint32_t>(r.proofs[0] + 1) if r.n_proofs > 0 else 0)
    put_u32le(p + 12, <uint32_t>(r.proofs[1] + 1) if r.n_proofs > 1 else 0)
