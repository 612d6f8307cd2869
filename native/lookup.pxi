# SPDX-License-Identifier: MIT
# fastdns/lookup.py over native zones: RFC 1034 4.3.2 in terms of RRsets, each RRset a
# reference to a run of records.  Every function mirrors the one of the same name there.

cdef enum:
    MAX_RRSETS = 512             # per section; more and the zone goes to the Python compiler
    MAX_CONSULTED = 64
    MAX_CNAME_CHAIN = 16         # lookup.MAX_CNAME_CHAIN
    MAX_TARGETS = 4096
    S_ANSWER = 0
    S_AUTHORITY = 1
    S_ADDITIONAL = 2
    RCODE_NOERROR = 0
    RCODE_NXDOMAIN = 3


class NativeUnsupported(Exception):
    """A zone the native compiler does not handle; the Python compiler does."""


ctypedef struct rrref_t:
    const uint8_t* owner        # the owner as it is written, uncompressed wire form
    uint32_t first              # the RRset's first record in its zone's rrs
    uint32_t ttl
    uint16_t rtype
    uint8_t owner_len


ctypedef struct response_t:
    int rcode
    bint aa
    bint glue_required
    int n[3]
    rrref_t sec[3][MAX_RRSETS]
    int n_consulted
    uint32_t consulted[MAX_CONSULTED]   # name indices in the zone looked in


ctypedef struct name_ref_t:
    const uint8_t* name          # any case
    uint8_t len


cdef inline void response_reset(response_t* r) noexcept nogil:
    r.rcode = RCODE_NOERROR
    r.aa = 1
    r.glue_required = 0
    r.n[0] = r.n[1] = r.n[2] = 0
    r.n_consulted = 0


cdef int add_ref(response_t* r, int section, const uint8_t* owner, int owner_len, uint32_t first,
                 uint32_t ttl, uint16_t rtype) except -1 nogil:
    cdef rrref_t* ref
    if r.n[section] == MAX_RRSETS:
        with gil:
            raise NativeUnsupported(f"more than {MAX_RRSETS} RRsets in one section of a response")
    ref = &r.sec[section][r.n[section]]
    ref.owner = owner
    ref.owner_len = owner_len
    ref.first = first
    ref.ttl = ttl
    ref.rtype = rtype
    r.n[section] += 1
    return 0


cdef int add_rrset(NativeZone z, response_t* r, int section, int32_t name, uint16_t rtype,
                   const uint8_t* owner, int owner_len) except -1 nogil:
    """IndexedZone.rrset: appends name's RRset of rtype, owned by owner; 1 if there is one."""
    cdef int32_t k
    if name < 0 or not (z.names[name].flags & N_OWNER):
        return 0
    k = z.rrset_of(<uint32_t>name, rtype)
    if k < 0:
        return 0
    add_ref(r, section, owner, owner_len, <uint32_t>k, z.rrs[k].ttl, rtype)
    return 1


cdef int add_negative_soa(NativeZone z, response_t* r) except -1 nogil:
    return add_ref(r, S_AUTHORITY, z.origin_case_p, z.origin_len, z.soa_rr,
                   z.negative_ttl, T_SOA)


cdef int consult(response_t* r, uint32_t name) except -1 nogil:
    if r.n_consulted == MAX_CONSULTED:
        with gil:
            raise NativeUnsupported("a lookup consulted too many names")
    r.consulted[r.n_consulted] = name
    r.n_consulted += 1
    return 0


cdef int32_t find_any_case(NativeZone z, const uint8_t* name, int n) noexcept nogil:
    cdef uint8_t lname[MAX_NAME]
    lower_copy(lname, name, n)
    return z.find(lname, n)


cdef int32_t closest_existing(NativeZone z, const uint8_t* lname, int n) noexcept nogil:
    """The name itself or its nearest existing ancestor (lname is in the zone)."""
    cdef int32_t idx = z.find(lname, n)
    cdef int off = 0
    while idx < 0 and lname[off]:
        off += lname[off] + 1
        idx = z.find(lname + off, n - off)
    return idx


cdef int32_t find_cut(NativeZone z, const uint8_t* lname, int n) noexcept nogil:
    """IndexedZone.find_cut: a missing name is below the cut of its nearest ancestor."""
    cdef int32_t idx = closest_existing(z, lname, n)
    return z.names[idx].cut if idx >= 0 else -1


cdef bint is_occluded(NativeZone z, const uint8_t* lname, int n) noexcept nogil:
    cdef int32_t idx = z.find(lname, n)
    cdef int32_t cut = find_cut(z, lname, n)
    return cut >= 0 and cut != idx


cdef int32_t wildcard_source(NativeZone z, const uint8_t* lname, int n) noexcept nogil:
    """RFC 4592 3.3.1: '*' below the closest encloser, when it has data."""
    cdef uint8_t source[MAX_NAME + 2]
    cdef int off = lname[0] + 1
    cdef int32_t idx = z.find(lname + off, n - off)
    cdef int32_t wild
    while idx < 0:
        off += lname[off] + 1
        idx = z.find(lname + off, n - off)
    if n - off + 2 > MAX_NAME:
        return -1
    source[0] = 1
    source[1] = 42
    memcpy(source + 2, lname + off, n - off)
    wild = z.find(source, n - off + 2)
    if wild < 0 or not (z.names[wild].flags & N_OWNER):
        return -1
    return wild


cdef int lookup_in(NativeZone z, const uint8_t* qname, int qlen, uint16_t qtype, response_t* r,
                   name_ref_t* seen, int* n_seen, int32_t known=-2) except -1 nogil:
    """lookup._lookup_in: qname (any case) is at or below the zone's apex; known is its
    index in z when the caller has it (-2: look it up)."""
    cdef uint8_t lq[MAX_NAME]
    cdef int32_t idx, cut, source, k
    cdef const uint8_t* target
    cdef int tlen, i
    lower_copy(lq, qname, qlen)
    seen[n_seen[0]].name = qname
    seen[n_seen[0]].len = qlen
    n_seen[0] += 1
    idx = known if known != -2 else z.find(lq, qlen)
    cut = z.names[idx].cut if idx >= 0 else find_cut(z, lq, qlen)
    if cut >= 0 and not (cut == idx and qtype == T_DS):
        return referral(z, <uint32_t>cut, r)
    source = idx
    if idx < 0 or not (z.names[idx].flags & N_OWNER):
        if idx >= 0:
            return nodata(z, <uint32_t>idx, r)  # an empty non-terminal
        source = wildcard_source(z, lq, qlen)
        if source < 0:
            r.rcode = RCODE_NXDOMAIN
            return add_negative_soa(z, r)
    consult(r, <uint32_t>source)
    if qtype == T_ANY:
        # RFC 8482 4.1: one RRset, the lowest type (records are sorted by type)
        qtype = z.rrs[z.names[source].rr_first].rtype
    if add_rrset(z, r, S_ANSWER, source, qtype, qname, qlen):
        return add_additional(z, r)
    k = z.rrset_of(<uint32_t>source, T_CNAME)
    if k >= 0:
        add_ref(r, S_ANSWER, qname, qlen, <uint32_t>k, z.rrs[k].ttl, T_CNAME)
        target = z.data + z.rrs[k].rdata
        tlen = z.rrs[k].rdlen
        if is_subdomain(target, tlen, z.origin_p, z.origin_len) \
                and not in_seen(target, tlen, seen, n_seen[0]) and n_seen[0] < MAX_CNAME_CHAIN:
            return lookup_in(z, target, tlen, qtype, r, seen, n_seen)
        return 0
    return nodata(z, <uint32_t>source, r)


cdef bint in_seen(const uint8_t* name, int n, const name_ref_t* seen, int n_seen) noexcept nogil:
    cdef uint8_t lname[MAX_NAME]
    cdef int i
    lower_copy(lname, name, n)
    for i in range(n_seen):
        if seen[i].len == n and same_lower(seen[i].name, lname, n):
            return 1
    return 0


cdef int nodata(NativeZone z, uint32_t name, response_t* r) except -1 nogil:
    consult(r, name)
    return add_negative_soa(z, r)


cdef int referral(NativeZone z, uint32_t cut, response_t* r) except -1 nogil:
    """RFC 1034 4.3.2 step 3b: NS of the cut in authority, glue in additional, AA clear."""
    cdef int32_t k = z.rrset_of(cut, T_NS)
    cdef name_ref_t targets[MAX_TARGETS]
    cdef int n_targets = 0
    r.aa = r.n[S_ANSWER] > 0  # AA describes the first name in the answer: a CNAME we own
    consult(r, cut)
    add_ref(r, S_AUTHORITY, z.case_name(cut), z.names[cut].len, <uint32_t>k, z.rrs[k].ttl, T_NS)
    n_targets = rdata_names(z, <uint32_t>k, 0, targets, n_targets)
    addresses(z, targets, n_targets, 1, r)
    r.glue_required = r.n[S_ADDITIONAL] > 0
    return 0


cdef int rdata_names(NativeZone z, uint32_t first, int skip, name_ref_t* out, int n) except -1 nogil:
    """The names in a run's rdata (each record's, after skip bytes), in RRset order."""
    cdef uint32_t k = first
    cdef const rr_t* rr
    while k < z.rr_count:
        rr = &z.rrs[k]
        if k != first and rr.first:
            break
        if rr.name != z.rrs[first].name or rr.rtype != z.rrs[first].rtype:
            break
        if not rr.dup:
            if n == MAX_TARGETS:
                with gil:
                    raise NativeUnsupported("too many names in one RRset")
            out[n].name = z.data + rr.rdata + skip
            out[n].len = <uint8_t>name_length(z.data + rr.rdata + skip, rr.rdlen - skip)
            n += 1
        k += 1
    return n


cdef int add_additional(NativeZone z, response_t* r) except -1 nogil:
    """RFC 1034 3.7 / RFC 2782: addresses of in-zone NS, MX and SRV targets."""
    cdef name_ref_t targets[MAX_TARGETS]
    cdef int n_targets = 0
    cdef int i
    cdef rrref_t* ref
    for i in range(r.n[S_ANSWER]):
        ref = &r.sec[S_ANSWER][i]
        if ref.rtype == T_NS:
            n_targets = rdata_names(z, ref.first, 0, targets, n_targets)
        elif ref.rtype == T_MX:
            n_targets = rdata_names(z, ref.first, 2, targets, n_targets)
        elif ref.rtype == T_SRV:
            n_targets = rdata_names(z, ref.first, 6, targets, n_targets)
    return addresses(z, targets, n_targets, 0, r)


cdef int addresses(NativeZone z, const name_ref_t* targets, int n_targets, bint allow_glue,
                   response_t* r) except -1 nogil:
    """lookup._addresses: A then AAAA of each distinct in-zone target, into additional."""
    cdef uint8_t lname[MAX_NAME]
    cdef int i, j
    cdef bint done
    cdef int32_t idx
    for i in range(n_targets):
        if not is_subdomain(targets[i].name, targets[i].len, z.origin_p, z.origin_len):
            continue
        lower_copy(lname, targets[i].name, targets[i].len)
        done = 0
        for j in range(i):
            if targets[j].len == targets[i].len and same_lower(targets[j].name, lname, targets[i].len):
                done = 1
                break
        if done:
            continue
        if not allow_glue and is_occluded(z, lname, targets[i].len):
            continue
        idx = z.find(lname, targets[i].len)
        add_rrset(z, r, S_ADDITIONAL, idx, T_A, targets[i].name, targets[i].len)
        add_rrset(z, r, S_ADDITIONAL, idx, T_AAAA, targets[i].name, targets[i].len)
    return 0


cdef int add_authority_ns(NativeZone z, response_t* r) except -1 nogil:
    """lookup._add_authority_ns: the apex NS in authority of a positive answer."""
    cdef int i, j, before, n_targets = 0
    cdef int32_t k
    cdef name_ref_t targets[MAX_TARGETS]
    cdef response_t* extra
    cdef const uint8_t* o = z.origin_p
    cdef int olen = z.origin_len
    cdef rrref_t* ref
    cdef bint present
    if r.rcode != RCODE_NOERROR or not r.n[S_ANSWER] or r.n[S_AUTHORITY]:
        return 0
    if not r.aa:
        return 0
    for i in range(r.n[S_ANSWER]):
        ref = &r.sec[S_ANSWER][i]
        if ref.rtype == T_NS and ref.owner_len == olen and same_lower(ref.owner, o, olen):
            return 0
    k = z.rrset_of(<uint32_t>z.apex, T_NS)
    add_ref(r, S_AUTHORITY, z.origin_case_p, olen, <uint32_t>k, z.rrs[k].ttl, T_NS)
    n_targets = rdata_names(z, <uint32_t>k, 0, targets, 0)
    before = r.n[S_ADDITIONAL]
    addresses(z, targets, n_targets, 0, r)
    # keep only the new ones not already present as (name, type)
    j = before
    for i in range(before, r.n[S_ADDITIONAL]):
        present = 0
        for k in range(before):
            if (r.sec[S_ADDITIONAL][k].rtype == r.sec[S_ADDITIONAL][i].rtype
                    and same_name_any_case(r.sec[S_ADDITIONAL][k].owner, r.sec[S_ADDITIONAL][k].owner_len,
                                           r.sec[S_ADDITIONAL][i].owner, r.sec[S_ADDITIONAL][i].owner_len)):
                present = 1
                break
        if not present:
            r.sec[S_ADDITIONAL][j] = r.sec[S_ADDITIONAL][i]
            j += 1
    r.n[S_ADDITIONAL] = j
    return 0


cdef bint same_name_any_case(const uint8_t* a, int alen, const uint8_t* b, int blen) noexcept nogil:
    cdef int i
    if alen != blen:
        return 0
    for i in range(alen):
        if lower(a[i]) != lower(b[i]):
            return 0
    return 1


cdef int lookup(NativeZone z, NativeZone parent, int32_t name, uint16_t qtype,
                bint minimal_responses, response_t* r) except -1 nogil:
    """ZoneSet.lookup for a name the image holds (its zone is z); returns 1 when it was
    looked up in the parent (DS at the apex), 0 when in z."""
    cdef name_ref_t seen[MAX_CNAME_CHAIN + 1]
    cdef int n_seen = 0
    cdef const uint8_t* qname = z.case_name(<uint32_t>name)
    cdef int qlen = z.names[name].len
    response_reset(r)
    if qtype == T_DS and name == z.apex and parent is not None:
        # the DS RRset lives on the parent side of the cut (RFC 4035 3.1.4.1)
        lookup_in(parent, qname, qlen, qtype, r, seen, &n_seen, -2)
        if not minimal_responses:
            add_authority_ns(parent, r)
        return 1
    lookup_in(z, qname, qlen, qtype, r, seen, &n_seen, name)
    if not minimal_responses:
        add_authority_ns(z, r)
    return 0
