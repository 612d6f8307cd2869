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
    MAX_ITEMS = 2 * MAX_QTYPES + 8
    ITEM_IN_PARENT = 0x01   # a record rendered from the parent zone (DS at the apex)
    ITEM_HASHED = 0x02      # hash holds blob_hash of the bytes


ctypedef struct item_t:
    uint32_t len            # the bytes that follow; for a record, its SOA serials' places
    uint32_t n_soa          # after them (u32 each, at most MAX_SOA: more, not patchable)
    uint32_t hash
    uint16_t smaller        # a record's RECORD.smaller: that item's offset, or NO_ITEM
    uint8_t kind
    uint8_t flags


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
    int n_items             # of the node being planned
    const void* nx_zone     # the zone whose NXDOMAIN reply nx holds (planner_forget: none)
    buf_t nx
    uint32_t nx_serial_at   # where in it the SOA serial sits


cdef int planner_init(planner_t* pl) except -1:
    pl.w = <render_t*>malloc(sizeof(render_t))
    pl.r_default = <response_t*>malloc(sizeof(response_t))
    pl.r_query = <response_t*>malloc(sizeof(response_t))
    if pl.w == NULL or pl.r_default == NULL or pl.r_query == NULL:
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
    pl.w = NULL
    pl.r_default = pl.r_query = NULL


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
    return at + 1  # never 0: 0 is the error value


cdef int item_end(planner_t* pl, buf_t* out, size_t head, uint8_t kind, uint8_t flags, uint16_t smaller) except -1 nogil:
    """Close the item whose header is at head - 1 (see item_begin); returns its number."""
    cdef item_t* it = <item_t*>(out.data + head - 1)
    it.len = <uint32_t>(out.len - (head - 1) - sizeof(item_t))
    it.kind = kind
    it.flags = flags
    it.smaller = smaller
    if smaller == NO_ITEM and kind != ITEM_ENTRIES:
        it.hash = <uint32_t>blob_hash(out.data + head - 1 + sizeof(item_t), it.len)
        it.flags |= ITEM_HASHED
    pad8(out)
    pl.n_items += 1
    return pl.n_items - 1


cdef int plan_record(planner_t* pl, buf_t* out, NativeZone rz, bint in_parent, const response_t* r,
                     const uint8_t* qname, int qlen, bint synthesised, bint with_additional,
                     uint16_t smaller) except -1 nogil:
    """A reply rendered from rz, its SOA serials' places noted (ImageBuilder.put_record)."""
    cdef size_t head = item_begin(pl, out)
    cdef int item, i, n
    render_record(pl.w, rz, r, qname, qlen, synthesised, with_additional, 0, out)
    item = item_end(pl, out, head, ITEM_RECORD, ITEM_IN_PARENT if in_parent else 0, smaller)
    (<item_t*>(out.data + head - 1)).n_soa = pl.w.n_soa
    n = min(pl.w.n_soa, MAX_SOA)
    buf_reserve(out, 4 * n + 8)
    for i in range(n):
        (<uint32_t*>(out.data + out.len))[0] = RECORD_SIZE + 2 * pl.w.n_sites + pl.w.soa_at[i]
        out.len += 4
    pad8(out)
    return item


cdef int plan_response(planner_t* pl, buf_t* out, NativeZone z, NativeZone parent, bint in_parent,
                       const response_t* r, int32_t name) except -1 nogil:
    """compiler._compile_node's render(): a negative answer with only the apex SOA is
    compiled against the apex (one record serves the zone); the rest against the name.
    in_parent: the response was looked up in parent, not z.  Returns its item."""
    cdef const uint8_t* qname
    cdef int qlen, i, smaller = NO_ITEM
    cdef bint synthesised = 0
    cdef bint negative = r.n[S_ANSWER] == 0 and r.n[S_ADDITIONAL] == 0
    for i in range(r.n[S_AUTHORITY]):
        if not (r.sec[S_AUTHORITY][i].owner_len == z.origin_len
                and same_lower(r.sec[S_AUTHORITY][i].owner, z.origin_p, z.origin_len)):
            negative = 0
    if negative:
        qname = z.origin_case_p
        qlen = z.origin_len
    else:
        qname = z.case_name(<uint32_t>name)
        qlen = z.names[name].len
        synthesised = (z.names[name].flags & N_WILDCARD) != 0
    if in_parent:
        if r.n[S_ADDITIONAL] and not r.glue_required:
            # additional data is optional (RFC 2181 9): a reply that does not fit drops it
            smaller = plan_record(pl, out, parent, 1, r, qname, qlen, synthesised, 0, NO_ITEM)
        return plan_record(pl, out, parent, 1, r, qname, qlen, synthesised, 1, <uint16_t>smaller)
    if r.n[S_ADDITIONAL] and not r.glue_required:
        smaller = plan_record(pl, out, z, 0, r, qname, qlen, synthesised, 0, NO_ITEM)
    return plan_record(pl, out, z, 0, r, qname, qlen, synthesised, 1, <uint16_t>smaller)


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
        render_record(pl.w, z, pl.r_query, z.origin_case_p, z.origin_len, 0, 1, 0, &pl.nx)
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
    if nm.flags & N_CUT:
        # below a cut nothing exists for us but the referral; DS belongs to the parent
        in_parent = lookup(z, parent, <int32_t>name, T_DS, minimal, pl.r_query)
        items[0] = plan_response(pl, out, z, parent, in_parent, pl.r_query, <int32_t>name)
        qtypes[0] = T_DS
        entries_item = plan_entries(pl, out, qtypes, items, 1)
        name_item = plan_name(pl, out, z.lname(name), nm.len)
        in_parent = lookup(z, parent, <int32_t>name, other, minimal, pl.r_default)
        other_item = plan_response(pl, out, z, parent, in_parent, pl.r_default, <int32_t>name)
        below_item = other_item
    else:
        in_parent = lookup(z, parent, <int32_t>name, other, minimal, pl.r_default)
        n_qtypes = _add_qtype(qtypes, 0, T_ANY)
        for i in range(pl.r_default.n_consulted):
            n_qtypes = add_types_of(z, parent, in_parent, pl.r_default.consulted[i], qtypes, n_qtypes)
        n_qtypes = _add_types_of(z, name, qtypes, n_qtypes)
        if (nm.flags & N_APEX) and parent is not None:
            n_qtypes = _add_qtype(qtypes, n_qtypes, T_DS)  # answered from the parent zone
        _sort_qtypes(qtypes, n_qtypes)
        for i in range(n_qtypes):
            in_parent = lookup(z, parent, <int32_t>name, qtypes[i], minimal, pl.r_query)
            items[i] = plan_response(pl, out, z, parent, in_parent, pl.r_query, <int32_t>name)
        entries_item = plan_entries(pl, out, qtypes, items, n_qtypes)
        name_item = plan_name(pl, out, z.lname(name), nm.len)
        other_item = plan_response(pl, out, z, parent, 0, pl.r_default, <int32_t>name)  # never DS: z's
        below_item = plan_nxdomain(pl, out, z)
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
