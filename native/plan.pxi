# SPDX-License-Identifier: MIT
# A node's plan: everything compiler._compile_node computes for one name (the lookups, the
# replies rendered), written down without the GIL as the puts ImageWriter makes for it, in
# its order.  ImageBuilder.replay_node then makes those puts.  Planning reads the zones
# only, so the plans of the next names are made on another thread while the puts of these
# are made (pipeline.pxi); the puts stay in one order, so the image is the same bytes.
#
# A plan: a node_plan_t, then its items, each an item_t and its bytes (padded to 8).  A put
# whose bytes hold another put's image offset (a record's RECORD.smaller, the type entries)
# names that put by its item number; the offset is filled in when it is known.

cdef enum:
    MAX_QTYPES = 128

cdef enum:
    ITEM_RECORD = 1         # a reply: fastdns.image.RECORD, relocations, tail
    ITEM_ENTRIES = 2        # the type table: (qtype, item number) pairs, u16 each
    ITEM_NAME = 3           # the owner, zero-padded to 8 bytes
    ITEM_NXDOMAIN = 4       # the zone's NXDOMAIN reply, its SOA serial's place after it
    NO_ITEM = 0xFFFF
    MAX_ITEMS = 8 * MAX_QTYPES + 32     # a signed zone's: per qtype, up to three variants
                                        # each for DO=0, DO=1 and a wildcard's own name
    ITEM_IN_PARENT = 0x01   # a record rendered from the parent zone (DS at the apex)
    ITEM_HASHED = 0x02      # hash holds blob_hash of the bytes


ctypedef struct item_t:
    uint32_t len            # the bytes that follow; for a record, its SOA serials' places
    uint32_t n_soa          # after them (u32 each, at most MAX_SOA: more, not patchable)
    uint32_t hash
    uint16_t smaller        # a record's RECORD.smaller: that item's offset, or NO_ITEM
    uint16_t signed         # a record's SIGNED.signed_off and own_off: those items'
    uint16_t own            # offsets, or NO_ITEM (no SIGNED; own_off 0)
    uint8_t kind
    uint8_t flags
    uint16_t base           # a record's PROOFS.base_off: that item's offset, or NO_ITEM
    uint16_t pad            # the bytes start 8-aligned


ctypedef struct node_plan_t:
    uint32_t name           # its name index in the zone
    uint32_t zone           # the zone's number among those compiled together
    uint32_t size           # bytes of the plan, this header included
    uint16_t n_items
    uint16_t entries_item
    uint16_t name_item
    uint16_t other_item
    uint16_t below_item
    uint16_t pad


ctypedef struct planner_t:
    render_t* w
    response_t* r_default   # the lookup of the qtype no record has
    response_t* r_query
    response_t* r_signed    # a DO=1 lookup's
    int n_items             # of the node being planned
    size_t item_at[MAX_ITEMS]   # where each of its items is in the plan
    uint8_t synthesis[MAX_NAME]  # compiler._absent_child of a wildcard's parent, and its length
    int synthesis_len       # (0: none)
    uint8_t absent[MAX_NAME]     # of the node's name
    const void* nx_zone     # the zone whose NXDOMAIN reply nx holds (planner_forget: none)
    buf_t nx
    uint32_t nx_serial_at   # where in it the SOA serial sits


cdef int planner_init(planner_t* pl) except -1:
    pl.w = <render_t*>malloc(sizeof(render_t))
    pl.r_default = <response_t*>malloc(sizeof(response_t))
    pl.r_query = <response_t*>malloc(sizeof(response_t))
    pl.r_signed = <response_t*>malloc(sizeof(response_t))
    if pl.w == NULL or pl.r_default == NULL or pl.r_query == NULL or pl.r_signed == NULL:
        planner_free(pl)
        raise MemoryError()
    pl.w.out.data = NULL
    pl.nx.data = NULL
    pl.nx_zone = NULL
    buf_init(&pl.w.out, 4096)
    buf_init(&pl.nx, 512)
    return 0


cdef inline void planner_forget(planner_t* pl) noexcept nogil:
    """Zones of an earlier compile may be gone: the NXDOMAIN reply is rendered again."""
    pl.nx_zone = NULL


cdef void planner_free(planner_t* pl) noexcept:
    if pl.w != NULL:
        buf_free(&pl.w.out)
        buf_free(&pl.nx)
    free(pl.w)
    free(pl.r_default)
    free(pl.r_query)
    free(pl.r_signed)
    pl.w = NULL
    pl.r_default = pl.r_query = pl.r_signed = NULL


cdef inline size_t align8(size_t n) noexcept nogil:
    return (n + 7) & ~(<size_t>7)


cdef inline size_t item_size(const item_t* it) noexcept nogil:
    """The item with its bytes (and a record's SOA places)."""
    cdef size_t n = sizeof(item_t) + align8(it.len)
    if it.kind == ITEM_RECORD or it.kind == ITEM_NXDOMAIN:
        n += align8(4 * <size_t>min(it.n_soa, MAX_SOA))
    return n


cdef int pad8(buf_t* out) except -1 nogil:
    cdef size_t n = align8(out.len) - out.len
    buf_reserve(out, n)
    memset(out.data + out.len, 0, n)
    out.len += n
    return 0


cdef size_t item_begin(planner_t* pl, buf_t* out) except 0 nogil:
    """Room for an item's header; returns where it is (the bytes follow)."""
    cdef size_t at = out.len
    if pl.n_items == MAX_ITEMS:
        with gil:
            raise NativeUnsupported("too many replies at one name")
    buf_reserve(out, sizeof(item_t))
    memset(out.data + at, 0, sizeof(item_t))
    out.len += sizeof(item_t)
    pl.item_at[pl.n_items] = at
    return at + 1  # never 0: 0 is the error value


cdef int item_end(planner_t* pl, buf_t* out, size_t head, uint8_t kind, uint8_t flags, uint16_t smaller) except -1 nogil:
    """Close the item whose header is at head - 1 (see item_begin); returns its number."""
    cdef item_t* it = <item_t*>(out.data + head - 1)
    it.len = <uint32_t>(out.len - (head - 1) - sizeof(item_t))
    it.kind = kind
    it.flags = flags
    it.smaller = smaller
    it.signed = NO_ITEM
    it.own = NO_ITEM
    it.base = NO_ITEM
    if smaller == NO_ITEM and kind != ITEM_ENTRIES:
        it.hash = <uint32_t>blob_hash(out.data + head - 1 + sizeof(item_t), it.len)
        it.flags |= ITEM_HASHED
    pad8(out)
    pl.n_items += 1
    return pl.n_items - 1


cdef int plan_record(planner_t* pl, buf_t* out, NativeZone z, NativeZone parent, bint in_parent, const response_t* r,
                     const uint8_t* qname, int qlen, bint synthesised, int additional,
                     uint16_t smaller) except -1 nogil:
    """A reply rendered from z (from parent when in_parent), its SOA serials' places noted
    (ImageBuilder.put_record)."""
    cdef size_t head = item_begin(pl, out)
    cdef int item, i, n
    if in_parent:
        render_record(pl.w, parent, r, qname, qlen, synthesised, additional, 0, out)
    else:
        render_record(pl.w, z, r, qname, qlen, synthesised, additional, 0, out)
    item = item_end(pl, out, head, ITEM_RECORD, ITEM_IN_PARENT if in_parent else 0, smaller)
    (<item_t*>(out.data + head - 1)).n_soa = pl.w.n_soa
    n = min(pl.w.n_soa, MAX_SOA)
    buf_reserve(out, 4 * n + 8)
    for i in range(n):
        (<uint32_t*>(out.data + out.len))[0] = RECORD_SIZE + 2 * pl.w.n_sites + pl.w.ext_len + pl.w.soa_at[i]
        out.len += 4
    pad8(out)
    return item


cdef int plan_smaller(planner_t* pl, buf_t* out, NativeZone z, NativeZone parent, bint in_parent, const response_t* r,
                      const uint8_t* qname, int qlen, bint synthesised) except -1 nogil:
    """compiler._render's smaller variants of a reply, the smallest first (ImageWriter puts
    a record's smaller before it); returns the item the reply's RECORD.smaller names."""
    cdef int smaller = NO_ITEM, i
    cdef bint signatures = 0, optional = 0
    for i in range(r.n[S_ADDITIONAL]):
        signatures |= r.sec[S_ADDITIONAL][i].rtype == T_RRSIG
        optional |= r.sec[S_ADDITIONAL][i].rtype != T_RRSIG and not r.sec[S_ADDITIONAL][i].glue
    if r.n[S_ADDITIONAL] and not r.glue_required:
        # additional data is optional (RFC 2181 9): a reply that does not fit drops it
        smaller = plan_record(pl, out, z, parent, in_parent, r, qname, qlen, synthesised, ADD_NONE, NO_ITEM)
    elif r.glue_required and optional:  # all but the in-domain glue (RFC 9471 2.2: sibling glue)
        smaller = plan_record(pl, out, z, parent, in_parent, r, qname, qlen, synthesised, ADD_GLUE, NO_ITEM)
    if signatures:  # so can its signatures (RFC 4035 3.1.1), before the addresses
        smaller = plan_record(pl, out, z, parent, in_parent, r, qname, qlen, synthesised, ADD_UNSIGNED,
                              <uint16_t>smaller)
    return smaller


cdef int plan_reply(planner_t* pl, buf_t* out, NativeZone z, NativeZone parent, bint in_parent, const response_t* r,
                    const uint8_t* qname, int qlen, bint synthesised) except -1 nogil:
    """compiler._render: the reply and its smaller variants (or compiler._proved's record);
    returns the reply's item."""
    cdef int smaller
    if not in_parent and is_proved(z, r):
        return plan_proved(pl, out, z, <response_t*>r)
    smaller = plan_smaller(pl, out, z, parent, in_parent, r, qname, qlen, synthesised)
    return plan_record(pl, out, z, parent, in_parent, r, qname, qlen, synthesised, ADD_ALL, <uint16_t>smaller)


cdef int rr_count_of(NativeZone z, uint32_t first) noexcept nogil:
    """The records of the RRset starting at first, duplicates left out."""
    cdef uint32_t k = first
    cdef int n = 0
    while k < z.rr_count and (k == first or not z.rrs[k].first) and z.rrs[k].name == z.rrs[first].name:
        if not z.rrs[k].dup:
            n += 1
        k += 1
    return n


cdef bint is_proved(NativeZone z, const response_t* r) noexcept nogil:
    """compiler._proved's test: a DO=1 negative answer whose authority section is z's
    negative SOA, its signature and the records of at most two of z's chain entries, in
    the order proved (and maybe the one covering the query name)."""
    cdef int i, at = 2
    cdef uint32_t owner
    cdef int32_t k
    if (not r.dnssec_ok or z.chain_type == 0 or r.n[S_ANSWER] or r.n[S_ADDITIONAL]
            or r.n[S_AUTHORITY] < 2 or r.sec[S_AUTHORITY][0].rtype != T_SOA
            or r.sec[S_AUTHORITY][1].rtype != T_RRSIG):
        return 0
    if r.n_proofs > 2 or not (r.n_proofs or r.has_cover):
        return 0
    for i in range(r.n_proofs):
        owner = z.chain[r.proofs[i]]
        k = z.rrset_of(owner, z.chain_type)
        if at >= r.n[S_AUTHORITY] or r.sec[S_AUTHORITY][at].first != <uint32_t>k:
            return 0
        at += 1
        k = z.signature_of(owner, z.chain_type)
        if k >= 0:
            if at >= r.n[S_AUTHORITY] or r.sec[S_AUTHORITY][at].first != <uint32_t>k:
                return 0
            at += 1
    return at == r.n[S_AUTHORITY]


cdef int plan_proved(planner_t* pl, buf_t* out, NativeZone z, response_t* r) except -1 nogil:
    """compiler._proved: the zone's record of its negative SOA and signature (rendered
    against the apex), then a record with PROOFS naming it and the chain entries."""
    cdef int base, i, nscount = 0
    cdef int n_authority = r.n[S_AUTHORITY]
    cdef int rcode = r.rcode
    cdef bint aa = r.aa, cover = r.has_cover
    cdef size_t head
    cdef uint8_t* p
    cdef uint16_t flags = (rcode & RCODE_MASK) | (FLAG_AA if aa else 0)
    for i in range(n_authority):
        nscount += rr_count_of(z, r.sec[S_AUTHORITY][i].first)
    r.n[S_AUTHORITY] = 2  # Response(authority=authority[:2]): NOERROR, AA, no cover
    r.rcode = RCODE_NOERROR
    r.aa = 1
    r.has_cover = 0
    base = plan_record(pl, out, z, z, 0, r, z.origin_case_p, z.origin_len, 0, ADD_ALL, NO_ITEM)
    r.n[S_AUTHORITY] = n_authority
    r.rcode = rcode
    r.aa = aa
    r.has_cover = cover
    head = item_begin(pl, out)
    buf_reserve(out, RECORD_SIZE + PROOFS_SIZE)
    p = out.data + out.len
    memset(p, 0, RECORD_SIZE + PROOFS_SIZE)
    put_u16le(p, flags)
    put_u16le(p + 4, <uint16_t>nscount)
    p[13] = EXT_PROOFS
    put_u32le(p + RECORD_SIZE + 4, <uint32_t>z.chain_off)
    put_u32le(p + RECORD_SIZE + 8, <uint32_t>(r.proofs[0] + 1) if r.n_proofs > 0 else 0)
    put_u32le(p + RECORD_SIZE + 12, <uint32_t>(r.proofs[1] + 1) if r.n_proofs > 1 else 0)
    p[RECORD_SIZE + 16] = CHAIN_NSEC if z.chain_type == T_NSEC else CHAIN_NSEC3
    p[RECORD_SIZE + 17] = 1 if cover else 0
    out.len += RECORD_SIZE + PROOFS_SIZE
    i = item_end(pl, out, head, ITEM_RECORD, 0, NO_ITEM)
    item_of(pl, out, i).base = <uint16_t>base
    item_of(pl, out, i).flags &= ~ITEM_HASHED
    return i


cdef inline item_t* item_of(planner_t* pl, buf_t* out, int item) noexcept nogil:
    return <item_t*>(out.data + pl.item_at[item])


cdef bint same_items(planner_t* pl, buf_t* out, int a, int b) noexcept nogil:
    """Two replies planned alike (compiler Records equal): the same bytes, smaller
    variants alike."""
    cdef item_t* x
    cdef item_t* y
    if a == NO_ITEM or b == NO_ITEM:
        return a == b
    x = item_of(pl, out, a)
    y = item_of(pl, out, b)
    if x.len != y.len or x.kind != y.kind or x.signed != NO_ITEM or y.signed != NO_ITEM:
        return 0
    if memcmp(<uint8_t*>x + sizeof(item_t), <uint8_t*>y + sizeof(item_t), x.len) != 0:
        return 0
    return same_items(pl, out, x.smaller, y.smaller) and same_items(pl, out, x.base, y.base)


cdef int add_signed(planner_t* pl, buf_t* out, int item, int signed, int own) except -1 nogil:
    """Give the last item planned, a record, its fastdns.image.SIGNED: room for it after
    the relocations, the offsets filled in when the items named are put."""
    cdef size_t at = pl.item_at[item]
    cdef size_t body = at + sizeof(item_t)
    cdef size_t ins = body + RECORD_SIZE + 2 * get_u16le(out.data + body + 10)
    cdef item_t* it
    cdef uint32_t* soa
    cdef uint32_t i
    buf_reserve(out, SIGNED_SIZE)
    memmove(out.data + ins + SIGNED_SIZE, out.data + ins, out.len - ins)
    memset(out.data + ins, 0, SIGNED_SIZE)
    out.len += SIGNED_SIZE
    it = <item_t*>(out.data + at)
    it.len += SIGNED_SIZE  # align8(len) grows by as much: the SOA places moved with the tail
    out.data[body + 13] = EXT_SIGNED
    it.signed = <uint16_t>signed
    it.own = <uint16_t>own
    it.flags &= ~ITEM_HASHED
    soa = <uint32_t*>(out.data + body + align8(it.len))
    for i in range(min(it.n_soa, MAX_SOA)):
        soa[i] += SIGNED_SIZE
    return 0


cdef int choose_qname(NativeZone z, bint in_parent, const response_t* r, int32_t name,
                      const uint8_t** qname, int* qlen) except -1 nogil:
    """compiler._compile_node's render(): a negative answer with only the apex SOA is
    compiled against the apex (one record serves the zone); the rest against the name.
    Returns whether owners equal to the name are the question's (a wildcard)."""
    cdef int i
    cdef bint negative = not in_parent and r.n[S_ANSWER] == 0 and r.n[S_ADDITIONAL] == 0
    for i in range(r.n[S_AUTHORITY]):
        if not (r.sec[S_AUTHORITY][i].owner_len == z.origin_len
                and same_lower(r.sec[S_AUTHORITY][i].owner, z.origin_p, z.origin_len)):
            negative = 0
    if negative:
        qname[0] = z.origin_case_p
        qlen[0] = z.origin_len
        return 0
    qname[0] = z.case_name(<uint32_t>name)
    qlen[0] = z.names[name].len
    return (z.names[name].flags & N_WILDCARD) != 0


cdef int plan_answer(planner_t* pl, buf_t* out, NativeZone z, NativeZone parent, uint32_t name,
                     uint16_t qtype, bint minimal, const response_t* r, int in_parent) except -1 nogil:
    """compiler._compile_node's answer(): r, the lookup of (name, qtype) with DO=0 (in the
    parent when in_parent), rendered, and in a signed zone its DO=1 variants, in the order
    ImageWriter puts them (smaller, signed, own, the record).  Returns the record's item."""
    cdef const uint8_t* q0
    cdef int q0len, smaller, top, signed, own, in1
    cdef bint synthesised = choose_qname(z, in_parent, r, <int32_t>name, &q0, &q0len)
    cdef const uint8_t* qname = z.case_name(name)
    cdef int qlen = z.names[name].len
    cdef bint wildcard = (z.names[name].flags & N_WILDCARD) != 0
    smaller = plan_smaller(pl, out, z, parent, in_parent, r, q0, q0len, synthesised)
    if not (z.signed or (in_parent and parent.signed)):  # DS at the apex: the parent answers
        return plan_record(pl, out, z, parent, in_parent, r, q0, q0len, synthesised, ADD_ALL, <uint16_t>smaller)
    if wildcard and pl.synthesis_len:
        # a DO=1 question to a wildcard is asked as one it answers: the proofs are those
        lookup_absent(z, pl.synthesis, pl.synthesis_len, qtype, minimal, pl.r_signed)
        signed = plan_reply(pl, out, z, parent, 0, pl.r_signed, pl.synthesis, pl.synthesis_len, 1)
        in1 = lookup(z, parent, <int32_t>name, qtype, minimal, pl.r_signed, 1)
        own = plan_reply(pl, out, z, parent, in1, pl.r_signed, qname, qlen, 1)
        if same_items(pl, out, own, signed):
            own = NO_ITEM
        top = plan_record(pl, out, z, parent, in_parent, r, q0, q0len, synthesised, ADD_ALL, <uint16_t>smaller)
        add_signed(pl, out, top, signed, own)
        return top
    in1 = lookup(z, parent, <int32_t>name, qtype, minimal, pl.r_signed, 1)
    signed = plan_reply(pl, out, z, parent, in1, pl.r_signed, qname, qlen, wildcard)
    top = plan_record(pl, out, z, parent, in_parent, r, q0, q0len, synthesised, ADD_ALL, <uint16_t>smaller)
    if not same_items(pl, out, top, signed):
        add_signed(pl, out, top, signed, NO_ITEM)
    return top


cdef int absent_child(NativeZone z, const uint8_t* name, int n, uint8_t* out) noexcept nogil:
    """compiler._absent_child: a name just below name (any case) that z does not have,
    written to out; its length, or 0 when no name fits below name (255 bytes)."""
    cdef uint8_t lname[MAX_NAME]
    cdef int size
    for size in range(1, 4):
        if n + size + 1 > MAX_NAME:
            return 0
        out[0] = <uint8_t>size
        memset(out + 1, 0, size)
        memcpy(out + 1 + size, name, n)
        lower_copy(lname, out, n + size + 1)
        if z.find(lname, n + size + 1) < 0:
            return n + size + 1
    return 0


cdef int plan_below(planner_t* pl, buf_t* out, NativeZone z, uint32_t name, uint16_t other,
                    bint minimal) except -1 nogil:
    """compiler._below: the zone's NXDOMAIN; with DO=1 in a signed zone, name's own (the
    proofs depend on the closest encloser, name), unless a wildcard answers below it."""
    cdef int n = absent_child(z, z.case_name(name), z.names[name].len, pl.absent) if z.signed else 0
    cdef int32_t w = z.names[name].wildcard
    cdef int signed, nx
    if n == 0 or (w >= 0 and z.names[w].flags & N_OWNER):
        return plan_nxdomain(pl, out, z)
    lookup_absent(z, pl.absent, n, other, minimal, pl.r_signed)
    signed = plan_reply(pl, out, z, z, 0, pl.r_signed, z.case_name(name), z.names[name].len, 0)
    nx = plan_nxdomain(pl, out, z)
    add_signed(pl, out, nx, signed, NO_ITEM)
    return nx


cdef int plan_entries(planner_t* pl, buf_t* out, const uint16_t* qtypes, const int* items, int n) except -1 nogil:
    cdef size_t head = item_begin(pl, out)
    cdef int i
    buf_reserve(out, 4 * n)
    for i in range(n):
        (<uint16_t*>(out.data + out.len))[0] = qtypes[i]
        (<uint16_t*>(out.data + out.len))[1] = <uint16_t>items[i]
        out.len += 4
    return item_end(pl, out, head, ITEM_ENTRIES, 0, NO_ITEM)


cdef int plan_name(planner_t* pl, buf_t* out, const uint8_t* lname, int n) except -1 nogil:
    """ImageWriter._put_name: zero-padded to a multiple of 8 bytes."""
    cdef size_t head = item_begin(pl, out)
    cdef int size = (n + 7) & ~7
    buf_reserve(out, size)
    memset(out.data + out.len, 0, size)
    memcpy(out.data + out.len, lname, n)
    out.len += size
    return item_end(pl, out, head, ITEM_NAME, 0, NO_ITEM)


cdef int plan_nxdomain(planner_t* pl, buf_t* out, NativeZone z) except -1 nogil:
    """negative_response(zone, NXDOMAIN) compiled against the apex: one record for the
    zone, put where a node first uses it, as ImageWriter does (rendered once per zone)."""
    cdef size_t head
    cdef int item
    if pl.nx_zone != <void*>z:
        response_reset(pl.r_query)
        pl.r_query.rcode = RCODE_NXDOMAIN
        add_negative_soa(z, pl.r_query)
        pl.nx.len = 0
        render_record(pl.w, z, pl.r_query, z.origin_case_p, z.origin_len, 0, ADD_ALL, 0, &pl.nx)
        pl.nx_serial_at = RECORD_SIZE + 2 * pl.w.n_sites + pl.w.soa_at[0]
        pl.nx_zone = <void*>z
    head = item_begin(pl, out)
    buf_append(out, pl.nx.data, pl.nx.len)
    item = item_end(pl, out, head, ITEM_NXDOMAIN, 0, NO_ITEM)
    (<item_t*>(out.data + head - 1)).n_soa = 1
    buf_append(out, &pl.nx_serial_at, 4)
    pad8(out)
    return item


cdef int add_types_of(NativeZone z, NativeZone parent, bint in_parent, uint32_t name, uint16_t* qtypes,
                      int n) except -1 nogil:
    if in_parent:
        return _add_types_of(parent, name, qtypes, n)
    return _add_types_of(z, name, qtypes, n)


cdef int plan_node(planner_t* pl, buf_t* out, NativeZone z, NativeZone parent, uint32_t zone, uint32_t name,
                   uint16_t other, bint minimal) except -1 nogil:
    """compiler._compile_node and the node's part of ImageWriter.build, as a plan appended
    to out."""
    cdef const name_t* nm = &z.names[name]
    cdef uint16_t qtypes[MAX_QTYPES]
    cdef int items[MAX_QTYPES]
    cdef int n_qtypes = 0, i, in_parent
    cdef size_t head = out.len
    cdef node_plan_t* np
    cdef int entries_item, name_item, other_item, below_item
    buf_reserve(out, sizeof(node_plan_t))
    out.len += sizeof(node_plan_t)
    pl.n_items = 0
    pl.synthesis_len = 0
    if (nm.flags & N_WILDCARD) and z.signed:
        pl.synthesis_len = absent_child(z, z.case_name(name) + 2, nm.len - 2, pl.synthesis)
    if z.expired:  # compiler._expired_nodes: SERVFAIL to every question
        entries_item = NO_ITEM
        name_item = plan_name(pl, out, z.lname(name), nm.len)
        other_item = below_item = plan_servfail(pl, out)
    elif nm.flags & N_CUT:
        # below a cut nothing exists for us but the referral; DS belongs to the parent
        in_parent = lookup(z, parent, <int32_t>name, T_DS, minimal, pl.r_query, 0)
        items[0] = plan_answer(pl, out, z, parent, name, T_DS, minimal, pl.r_query, in_parent)
        qtypes[0] = T_DS
        entries_item = plan_entries(pl, out, qtypes, items, 1)
        name_item = plan_name(pl, out, z.lname(name), nm.len)
        in_parent = lookup(z, parent, <int32_t>name, other, minimal, pl.r_default, 0)
        other_item = plan_answer(pl, out, z, parent, name, other, minimal, pl.r_default, in_parent)
        below_item = other_item
    else:
        in_parent = lookup(z, parent, <int32_t>name, other, minimal, pl.r_default, 0)
        n_qtypes = _add_qtype(qtypes, 0, T_ANY)
        for i in range(pl.r_default.n_consulted):
            n_qtypes = add_types_of(z, parent, in_parent, pl.r_default.consulted[i], qtypes, n_qtypes)
        n_qtypes = _add_types_of(z, name, qtypes, n_qtypes)
        if z.signed:  # answered without following a CNAME
            n_qtypes = _add_qtype(qtypes, n_qtypes, T_NSEC)
            n_qtypes = _add_qtype(qtypes, n_qtypes, T_RRSIG)
        if (nm.flags & N_APEX) and parent is not None:
            n_qtypes = _add_qtype(qtypes, n_qtypes, T_DS)  # answered from the parent zone
        _sort_qtypes(qtypes, n_qtypes)
        for i in range(n_qtypes):
            in_parent = lookup(z, parent, <int32_t>name, qtypes[i], minimal, pl.r_query, 0)
            items[i] = plan_answer(pl, out, z, parent, name, qtypes[i], minimal, pl.r_query, in_parent)
        entries_item = plan_entries(pl, out, qtypes, items, n_qtypes)
        name_item = plan_name(pl, out, z.lname(name), nm.len)
        other_item = plan_answer(pl, out, z, parent, name, other, minimal, pl.r_default, 0)  # never DS: z's
        below_item = plan_below(pl, out, z, name, other, minimal)
    np = <node_plan_t*>(out.data + head)
    np.name = name
    np.zone = zone
    np.size = <uint32_t>(out.len - head)
    np.n_items = <uint16_t>pl.n_items
    np.entries_item = <uint16_t>entries_item
    np.name_item = <uint16_t>name_item
    np.other_item = <uint16_t>other_item
    np.below_item = <uint16_t>below_item
    return 0


cdef int plan_servfail(planner_t* pl, buf_t* out) except -1 nogil:
    """Response(rcode=SERVFAIL, aa=False) rendered for no question: a RECORD alone."""
    cdef size_t head = item_begin(pl, out)
    buf_reserve(out, RECORD_SIZE)
    memset(out.data + out.len, 0, RECORD_SIZE)
    put_u16le(out.data + out.len, 2)  # SERVFAIL
    out.len += RECORD_SIZE
    return item_end(pl, out, head, ITEM_RECORD, 0, NO_ITEM)


cdef int _add_qtype(uint16_t* qtypes, int n, uint16_t qtype) except -1 nogil:
    cdef int i
    for i in range(n):
        if qtypes[i] == qtype:
            return n
    if n == MAX_QTYPES:
        with gil:
            raise NativeUnsupported(f"more than {MAX_QTYPES} types at one name")
    qtypes[n] = qtype
    return n + 1


cdef int _add_types_of(NativeZone z, uint32_t name, uint16_t* qtypes, int n) except -1 nogil:
    cdef const name_t* nm = &z.names[name]
    cdef uint32_t k
    for k in range(nm.rr_first, nm.rr_first + nm.rr_count):
        if z.rrs[k].first:
            n = _add_qtype(qtypes, n, z.rrs[k].rtype)
    return n


cdef void _sort_qtypes(uint16_t* qtypes, int n) noexcept nogil:
    cdef int i, j
    cdef uint16_t t
    for i in range(1, n):
        t = qtypes[i]
        j = i - 1
        while j >= 0 and qtypes[j] > t:
            qtypes[j + 1] = qtypes[j]
            j -= 1
        qtypes[j + 1] = t
