# SPDX-License-Identifier: MIT
# fastdns/lookup.py over native zones: RFC 1034 4.3.2 in terms of RRsets, each RRset a
# reference to a run of records.  Every function mirrors the one of the same name there.

cdef enum:
    MAX_RRSETS = 512             # per section; more and the zone goes to the Python compiler
    MAX_CONSULTED = 64
    MAX_CNAME_CHAIN = 16         # lookup.MAX_CNAME_CHAIN
    MAX_TARGETS = 4096
    MAX_PROOFS = 64
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
    bint glue               # in-domain glue of a referral: never dropped to fit (RFC 9471)


ctypedef struct response_t:
    int rcode
    bint aa
    bint glue_required
    int n[3]
    rrref_t sec[3][MAX_RRSETS]
    int n_consulted
    uint32_t consulted[MAX_CONSULTED]   # name indices in the zone looked in
    bint dnssec_ok                      # the query had DO=1 (RFC 3225)
    bint has_cover                      # Response.cover: a denial record found per query
    int n_proofs
    int32_t proofs[MAX_PROOFS]          # Response.proofs, as chain entries of the zone's chain


ctypedef struct name_ref_t:
    const uint8_t* name          # any case
    uint8_t len


cdef inline void response_reset(response_t* r) noexcept nogil:
    r.rcode = RCODE_NOERROR
    r.aa = 1
    r.glue_required = 0
    r.n[0] = r.n[1] = r.n[2] = 0
    r.n_consulted = 0
    r.dnssec_ok = 0
    r.has_cover = 0
    r.n_proofs = 0


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
    ref.glue = 0
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
    """lookup._negative_soa: the apex SOA, TTL min(SOA TTL, MINIMUM), and its signature
    with the TTL capped alike."""
    add_ref(r, S_AUTHORITY, z.origin_case_p, z.origin_len, z.soa_rr, z.negative_ttl, T_SOA)
    return put_signature(z, r, S_AUTHORITY, <uint32_t>z.apex, T_SOA, z.origin_case_p, z.origin_len,
                         z.negative_ttl)


cdef inline bint signing(NativeZone z, const response_t* r) noexcept nogil:
    """lookup._signed: answers from z carry signatures."""
    return r.dnssec_ok and z.signed


cdef inline bint proving(NativeZone z, const response_t* r) noexcept nogil:
    """lookup._proving: answers from z carry denial proofs from its chain."""
    return r.dnssec_ok and z.signed and z.chain_type != 0


cdef int put_signature(NativeZone z, response_t* r, int section, uint32_t source, uint16_t covered,
                       const uint8_t* owner, int owner_len, uint32_t ttl_cap) except -1 nogil:
    """The RRSIG RRset at source over covered, owned by owner, TTL capped at ttl_cap."""
    cdef int32_t k
    if not signing(z, r):
        return 0
    k = z.signature_of(source, covered)
    if k >= 0:
        add_ref(r, section, owner, owner_len, <uint32_t>k, min(z.rrs[k].ttl, ttl_cap), T_RRSIG)
    return 0


cdef int put_rrset(NativeZone z, response_t* r, int section, int32_t name, uint16_t rtype,
                   const uint8_t* owner, int owner_len) except -1 nogil:
    """lookup._put: add_rrset, followed by its signature; 1 if there is one."""
    if not add_rrset(z, r, section, name, rtype, owner, owner_len):
        return 0
    put_signature(z, r, section, <uint32_t>name, rtype, owner, owner_len, 0xFFFFFFFF)
    return 1


cdef int prove(NativeZone z, response_t* r, int32_t entry) except -1 nogil:
    """lookup._prove: the chain's record at entry, and its signature, in authority (once)."""
    cdef int i
    cdef uint32_t owner
    cdef int32_t k
    if entry < 0:
        return 0
    for i in range(r.n_proofs):
        if r.proofs[i] == entry:
            return 0
    add_proof(r, entry)
    owner = z.chain[entry]
    k = z.rrset_of(owner, z.chain_type)
    add_ref(r, S_AUTHORITY, z.case_name(owner), z.names[owner].len, <uint32_t>k, z.rrs[k].ttl, z.chain_type)
    k = z.signature_of(owner, z.chain_type)
    if k >= 0:
        add_ref(r, S_AUTHORITY, z.case_name(owner), z.names[owner].len, <uint32_t>k, z.rrs[k].ttl, T_RRSIG)
    return 0


cdef int add_proof(response_t* r, int32_t entry) except -1 nogil:
    if r.n_proofs == MAX_PROOFS:
        with gil:
            raise NativeUnsupported("a response with too many denial records")
    r.proofs[r.n_proofs] = entry
    r.n_proofs += 1
    return 0


cdef int prove_covered(NativeZone z, response_t* r, const uint8_t* name, int n, bint per_query) except -1 nogil:
    """lookup._prove_covered: the record covering name, found per query when name comes
    from the query name (the image's COVER), else put in now."""
    if per_query:
        r.has_cover = 1
        return 0
    return prove(z, r, chain_covering(z, name, n))


cdef inline int next_closer_at(const uint8_t* qname, int qlen, int encloser_len) noexcept nogil:
    """RFC 5155 1.3: where in qname the name one label longer than its ancestor of
    encloser_len bytes starts."""
    cdef int off = 0, prev = 0
    while qlen - off > encloser_len:
        prev = off
        off += qname[off] + 1
    return prev


cdef int closest_encloser_proof(NativeZone z, response_t* r, const uint8_t* qname, int qlen,
                                int32_t encloser, bint per_query) except -1 nogil:
    """lookup._closest_encloser_proof (RFC 5155 7.2.1), opt-out's closest provable
    encloser included."""
    cdef int32_t provable = encloser
    cdef int off
    while z.chain_pos[provable] < 0 and provable != z.apex:
        provable = z.names[provable].parent
    prove(z, r, z.chain_pos[provable])
    off = next_closer_at(qname, qlen, z.names[provable].len)
    return prove_covered(z, r, qname + off, qlen - off, per_query and provable == encloser)


cdef int prove_synthesis(NativeZone z, const uint8_t* qname, int qlen, int32_t source, bint synthesised,
                         response_t* r, bint from_query) except -1 nogil:
    """lookup._prove_synthesis (RFC 4035 3.1.3.3, RFC 5155 7.2.6)."""
    cdef int off
    if not synthesised or not proving(z, r):
        return 0
    if r.n[S_ANSWER] and r.sec[S_ANSWER][0].rtype == T_NSEC:
        if z.chain_pos[source] < 0:
            with gil:
                raise NativeUnsupported("an NSEC answer outside the zone's chain")
        add_proof(r, z.chain_pos[source])  # in the answer section already
    if z.chain_type == T_NSEC3:
        off = next_closer_at(qname, qlen, z.names[z.names[source].parent].len)
        return prove_covered(z, r, qname + off, qlen - off, from_query)
    return prove_covered(z, r, qname, qlen, from_query)


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
                   name_ref_t* seen, int* n_seen, int32_t known, bint from_query) except -1 nogil:
    """lookup._lookup_in: qname (any case) is at or below the zone's apex; known is its
    index in z when the caller has it (-2: look it up); from_query: qname is the query's
    own name, not a CNAME's target."""
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
            return nxdomain(z, qname, qlen, lq, r, from_query)
    consult(r, <uint32_t>source)
    if qtype == T_ANY:
        # RFC 8482 4.1: one RRset, the lowest type (records are sorted by type) but RRSIG
        k = <int32_t>z.names[source].rr_first
        while z.rrs[k].rtype == T_RRSIG:
            k += 1
            if k == <int32_t>(z.names[source].rr_first + z.names[source].rr_count):
                with gil:
                    raise NativeUnsupported("a name with signatures and nothing they sign")
        qtype = z.rrs[k].rtype
    if qtype == T_RRSIG:
        # like Knot DNS, the signatures over the lowest type signed (the first RRSIG run)
        if add_rrset(z, r, S_ANSWER, source, T_RRSIG, qname, qlen):
            return prove_synthesis(z, qname, qlen, source, source != idx, r, from_query)
    elif put_rrset(z, r, S_ANSWER, source, qtype, qname, qlen):
        prove_synthesis(z, qname, qlen, source, source != idx, r, from_query)
        return add_additional(z, r)
    # like Knot DNS, in a signed zone a question for NSEC records is about this name
    k = z.rrset_of(<uint32_t>source, T_CNAME) if not (qtype == T_NSEC and z.signed) else -1
    if k >= 0:
        add_ref(r, S_ANSWER, qname, qlen, <uint32_t>k, z.rrs[k].ttl, T_CNAME)
        put_signature(z, r, S_ANSWER, <uint32_t>source, T_CNAME, qname, qlen, 0xFFFFFFFF)
        prove_synthesis(z, qname, qlen, source, source != idx, r, from_query)
        target = z.data + z.rrs[k].rdata
        tlen = z.rrs[k].rdlen
        if is_subdomain(target, tlen, z.origin_p, z.origin_len) \
                and not in_seen(target, tlen, seen, n_seen[0]) and n_seen[0] < MAX_CNAME_CHAIN:
            return lookup_in(z, target, tlen, qtype, r, seen, n_seen, -2, 0)
        return 0
    if source != idx:
        return wildcard_nodata(z, qname, qlen, source, r, from_query)
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
    """lookup._nodata (RFC 4035 3.1.3.1, RFC 5155 7.2.3/7.2.4)."""
    consult(r, name)
    add_negative_soa(z, r)
    if not proving(z, r):
        return 0
    if z.chain_pos[name] >= 0:
        return prove(z, r, z.chain_pos[name])
    if z.chain_type == T_NSEC3:
        return closest_encloser_proof(z, r, z.case_name(name), z.names[name].len, z.names[name].parent, 0)
    return prove(z, r, chain_covering(z, z.case_name(name), z.names[name].len))


cdef int wildcard_nodata(NativeZone z, const uint8_t* qname, int qlen, int32_t source, response_t* r,
                         bint from_query) except -1 nogil:
    """lookup._wildcard_nodata (RFC 4035 3.1.3.4, RFC 5155 7.2.5)."""
    consult(r, <uint32_t>source)
    add_negative_soa(z, r)
    if not proving(z, r):
        return 0
    if z.chain_type == T_NSEC3:
        closest_encloser_proof(z, r, qname, qlen, z.names[source].parent, from_query)
    else:
        prove_covered(z, r, qname, qlen, from_query)
    return prove(z, r, z.chain_pos[source])


cdef int nxdomain(NativeZone z, const uint8_t* qname, int qlen, const uint8_t* lq, response_t* r,
                  bint from_query) except -1 nogil:
    """lookup._nxdomain (RFC 4035 3.1.3.2, RFC 5155 7.2.2): the name is covered, and so
    is the wildcard that could have matched it."""
    cdef int32_t encloser
    cdef uint8_t wildcard[MAX_NAME + 2]
    cdef int n
    r.rcode = RCODE_NXDOMAIN
    add_negative_soa(z, r)
    if not proving(z, r):
        return 0
    encloser = closest_existing(z, lq, qlen)
    if z.chain_type == T_NSEC3:
        closest_encloser_proof(z, r, qname, qlen, encloser, from_query)
    else:
        prove_covered(z, r, qname, qlen, from_query)
    n = z.names[encloser].len
    if n + 2 > MAX_NAME:
        with gil:
            raise NativeUnsupported("a wildcard name longer than 255 bytes")
    wildcard[0] = 1
    wildcard[1] = 42
    memcpy(wildcard + 2, z.lname(<uint32_t>encloser), n)
    return prove(z, r, chain_covering(z, wildcard, n + 2))


cdef int referral(NativeZone z, uint32_t cut, response_t* r) except -1 nogil:
    """RFC 1034 4.3.2 step 3b: NS of the cut in authority, glue in additional, AA clear."""
    cdef int i
    cdef rrref_t* ref
    cdef int32_t k = z.rrset_of(cut, T_NS)
    cdef name_ref_t targets[MAX_TARGETS]
    cdef int n_targets = 0
    r.aa = r.n[S_ANSWER] > 0  # AA describes the first name in the answer: a CNAME we own
    consult(r, cut)
    add_ref(r, S_AUTHORITY, z.case_name(cut), z.names[cut].len, <uint32_t>k, z.rrs[k].ttl, T_NS)
    if signing(z, r):  # RFC 4035 3.1.4, RFC 5155 7.2.7: the DS, or the proof there is none
        if not put_rrset(z, r, S_AUTHORITY, <int32_t>cut, T_DS, z.case_name(cut), z.names[cut].len) \
                and z.chain_type != 0:
            if z.chain_pos[cut] >= 0:
                prove(z, r, z.chain_pos[cut])
            elif z.chain_type == T_NSEC3:
                closest_encloser_proof(z, r, z.case_name(cut), z.names[cut].len, z.names[cut].parent, 0)
    n_targets = rdata_names(z, <uint32_t>k, 0, targets, n_targets)
    addresses(z, targets, n_targets, 1, r, -1)
    for i in range(r.n[S_ADDITIONAL]):  # at or below the cut: in-domain glue (RFC 9471 2.1)
        ref = &r.sec[S_ADDITIONAL][i]
        if ref.rtype in (T_A, T_AAAA) and is_subdomain(ref.owner, ref.owner_len, z.lname(cut), z.names[cut].len):
            ref.glue = 1
            r.glue_required = 1
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
    return addresses(z, targets, n_targets, 0, r, -1)


cdef bint present_in(const response_t* r, int before, const uint8_t* owner, int owner_len, uint16_t rtype) noexcept nogil:
    """An RRset of rtype owned by owner among the first `before` of additional."""
    cdef int i
    for i in range(before):
        if r.sec[S_ADDITIONAL][i].rtype == rtype and same_name_any_case(
                r.sec[S_ADDITIONAL][i].owner, r.sec[S_ADDITIONAL][i].owner_len, owner, owner_len):
            return 1
    return 0


cdef int addresses(NativeZone z, const name_ref_t* targets, int n_targets, bint allow_glue,
                   response_t* r, int present_before) except -1 nogil:
    """lookup._addresses and _put_all: A then AAAA of each distinct in-zone target, each
    with its signature, into additional; present_before >= 0: but those already among the
    first present_before RRsets there."""
    cdef uint16_t rtype
    cdef int t
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
        for t in range(2):
            rtype = T_A if t == 0 else T_AAAA
            if present_before >= 0 and present_in(r, present_before, targets[i].name, targets[i].len, rtype):
                continue
            put_rrset(z, r, S_ADDITIONAL, idx, rtype, targets[i].name, targets[i].len)
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
    if r.rcode != RCODE_NOERROR or not r.n[S_ANSWER] or r.n[S_AUTHORITY] or r.has_cover:
        return 0
    if not r.aa:
        return 0
    for i in range(r.n[S_ANSWER]):
        ref = &r.sec[S_ANSWER][i]
        if ref.rtype == T_NS and ref.owner_len == olen and same_lower(ref.owner, o, olen):
            return 0
    k = z.rrset_of(<uint32_t>z.apex, T_NS)
    add_ref(r, S_AUTHORITY, z.origin_case_p, olen, <uint32_t>k, z.rrs[k].ttl, T_NS)
    put_signature(z, r, S_AUTHORITY, <uint32_t>z.apex, T_NS, z.origin_case_p, olen, 0xFFFFFFFF)
    n_targets = rdata_names(z, <uint32_t>k, 0, targets, 0)
    # only those not already present as (name, type)
    return addresses(z, targets, n_targets, 0, r, r.n[S_ADDITIONAL])


cdef bint same_name_any_case(const uint8_t* a, int alen, const uint8_t* b, int blen) noexcept nogil:
    cdef int i
    if alen != blen:
        return 0
    for i in range(alen):
        if lower(a[i]) != lower(b[i]):
            return 0
    return 1


cdef int lookup(NativeZone z, NativeZone parent, int32_t name, uint16_t qtype,
                bint minimal_responses, response_t* r, bint dnssec_ok) except -1 nogil:
    """ZoneSet.lookup for a name the image holds (its zone is z); returns 1 when it was
    looked up in the parent (DS at the apex), 0 when in z."""
    cdef name_ref_t seen[MAX_CNAME_CHAIN + 1]
    cdef int n_seen = 0
    cdef const uint8_t* qname = z.case_name(<uint32_t>name)
    cdef int qlen = z.names[name].len
    response_reset(r)
    r.dnssec_ok = dnssec_ok
    if qtype == T_DS and name == z.apex and parent is not None:
        # the DS RRset lives on the parent side of the cut (RFC 4035 3.1.4.1)
        lookup_in(parent, qname, qlen, qtype, r, seen, &n_seen, -2, 1)
        if not minimal_responses:
            add_authority_ns(parent, r)
        return 1
    lookup_in(z, qname, qlen, qtype, r, seen, &n_seen, name, 1)
    if not minimal_responses:
        add_authority_ns(z, r)
    return 0


cdef int lookup_absent(NativeZone z, const uint8_t* qname, int qlen, uint16_t qtype,
                       bint minimal_responses, response_t* r) except -1 nogil:
    """ZoneSet.lookup with DO=1 for a name z does not have (compiler._absent_child's)."""
    cdef name_ref_t seen[MAX_CNAME_CHAIN + 1]
    cdef int n_seen = 0
    response_reset(r)
    r.dnssec_ok = 1
    lookup_in(z, qname, qlen, qtype, r, seen, &n_seen, -2, 1)
    if not minimal_responses:
        add_authority_ns(z, r)
    return 0
