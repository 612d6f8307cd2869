# SPDX-License-Identifier: MIT
# The compile driver and the image writer: fastdns.compiler._compile_zone/_compile_node and
# fastdns.image.ImageWriter.build, blob for blob in the same order, so the two compilers
# write the same bytes.

cdef enum:
    HEADER_SIZE = 64        # fastdns.image.HEADER.size
    BUCKET_SIZE = 8
    NODE_SIZE = 32
    ZONE_SIZE = 16
    ENTRY_SIZE = 8
    CHAIN_SIZE = 8          # fastdns.image.CHAIN, NSEC_ENTRY, NSEC3_ENTRY, RRS
    NSEC_ENTRY_SIZE = 8
    NSEC3_ENTRY_SIZE = 24
    RRS_SIZE = 8
    IMG_APEX = 0x01         # fastdns.image.NODE_*
    IMG_CUT = 0x02
    IMG_ENT = 0x04
    IMG_WILDCARD = 0x08


cdef inline uint64_t align4(uint64_t n) noexcept nogil:
    return (n + 3) & ~(<uint64_t>3)


cdef class ImageBuilder:
    """Lays out one image; holds the data area and the table of blobs already in it."""

    cdef buf_t data
    cdef blob_table_t blobs
    cdef uint64_t data_off
    cdef readonly uint64_t records      # distinct records written
    cdef buf_t blob                     # a record rendered apart (the zone's NXDOMAIN)
    cdef planner_t pl                   # plans the nodes compiled on this thread
    cdef buf_t plan
    cdef dict soa_owner                 # offset of a blob holding an SOA -> its zone
    cdef uint64_t soa_seen_off          # the last blob found there, and its zone: a zone's
    cdef NativeZone soa_seen_zone       # NODATA replies are one blob, put for most names

    def __cinit__(self):
        self.data.data = NULL
        self.blob.data = NULL
        self.plan.data = NULL
        self.blobs.slots = NULL
        self.pl.w = NULL
        self.pl.r_default = NULL
        self.pl.r_query = NULL

    def __init__(self, uint64_t data_off, uint64_t expected_blobs):
        self.data_off = data_off
        self.soa_owner = {}
        buf_init(&self.data, 1 << 20)
        buf_init(&self.blob, 4096)
        buf_init(&self.plan, 1 << 16)
        blobs_init(&self.blobs, expected_blobs)
        planner_init(&self.pl)

    def __dealloc__(self):
        buf_free(&self.data)
        buf_free(&self.blob)
        buf_free(&self.plan)
        blobs_free(&self.blobs)
        planner_free(&self.pl)

    cdef uint64_t put(self, const uint8_t* blob, uint32_t n) except? 0:
        """ImageWriter._put: the image offset of an equal blob, or of this one appended."""
        return self.put_hashed(blob, n, <uint32_t>blob_hash(blob, n))

    cdef uint64_t put_hashed(self, const uint8_t* blob, uint32_t n, uint32_t h) except? 0:
        """put() of a blob whose blob_hash is h."""
        cdef int64_t found = blobs_find_or_add(&self.blobs, &self.data, blob, n, h, self.data.len)
        cdef uint64_t off
        cdef uint8_t zeros[8]
        if found >= 0:
            return self.data_off + <uint64_t>found
        off = self.data.len
        buf_append(&self.data, blob, n)
        memset(zeros, 0, 8)
        buf_append(&self.data, zeros, align4(n) - n)
        return self.data_off + off

    cdef uint64_t put_unshared(self, const uint8_t* blob, uint32_t n) except? 0:
        """ImageWriter._put(dedup=False): appended, and not offered to later puts."""
        cdef uint64_t off = self.data.len
        cdef uint8_t zeros[8]
        buf_append(&self.data, blob, n)
        memset(zeros, 0, 8)
        buf_append(&self.data, zeros, align4(n) - n)
        return self.data_off + off

    cdef uint64_t put_record(self, NativeZone rz, const item_t* it, const uint8_t* blob) except? 0:
        """Put a record rendered from rz's data (a reply, or the zone's NXDOMAIN reply,
        which is not counted: ImageWriter puts it apart); note where it holds rz's SOA
        serial, so that a change of the serial alone can be patched in place."""
        cdef uint64_t before = self.data.len
        cdef uint64_t off
        cdef const uint32_t* soa_at = <const uint32_t*>(blob + align8(it.len))
        cdef uint32_t i
        if it.flags & ITEM_HASHED:
            off = self.put_hashed(blob, it.len, it.hash)
        else:
            off = self.put(blob, it.len)
        if self.data.len != before:
            if it.kind == ITEM_RECORD:
                self.records += 1
            if it.n_soa:
                if it.n_soa > MAX_SOA:
                    rz.soa_patchable = 0
                for i in range(min(it.n_soa, MAX_SOA)):
                    rz.add_soa_position(off + soa_at[i])
                self.soa_owner[off] = rz
        elif it.n_soa and not (off == self.soa_seen_off and rz is self.soa_seen_zone):
            owner = self.soa_owner.get(off)
            if owner is not None and owner is not rz:
                # one blob for two zones' SOAs: patching one zone's would change the other's
                rz.soa_patchable = 0
                (<NativeZone>owner).soa_patchable = 0
            self.soa_seen_off, self.soa_seen_zone = off, rz
        return off

    cdef void prefetch_plan(self, const uint8_t* plan) noexcept:
        """Bring into cache the table slots the puts of this plan probe first: a probe of a
        table of millions of slots is a cache miss, and the node before leaves it time."""
        cdef const node_plan_t* np = <const node_plan_t*>plan
        cdef const uint8_t* p = plan + sizeof(node_plan_t)
        cdef const item_t* it
        cdef int i
        for i in range(np.n_items):
            it = <const item_t*>p
            if it.flags & ITEM_HASHED:
                fastdns_prefetch(&self.blobs.slots[it.hash & self.blobs.mask])
            p += item_size(it)

    def put_fixed(self, bytes blob) -> int:
        """A record rendered by the Python compiler (REFUSED, CH TXT), as ImageWriter puts it."""
        cdef uint64_t before = self.data.len
        cdef uint64_t off = self.put(<const uint8_t*>blob, len(blob))
        if self.data.len != before:
            self.records += 1
        return off

    cdef uint64_t put_name(self, const uint8_t* lname, int n) except? 0:
        """ImageWriter._put_name: zero-padded to a multiple of 8 bytes."""
        cdef uint8_t padded[MAX_NAME + 8]
        cdef int size = (n + 7) & ~7
        memset(padded, 0, size)
        memcpy(padded, lname, n)
        return self.put(padded, size)

    cdef int write_node(self, NativeZone z, NativeZone parent, uint32_t name, uint16_t zone_index,
                        uint16_t other, bint minimal, uint8_t* node) except -1:
        """compiler._compile_node and the node's part of ImageWriter.build, here and now."""
        self.plan.len = 0
        plan_node(&self.pl, &self.plan, z, parent, 0, name, other, minimal)
        return self.replay_node(z, parent, zone_index, self.plan.data, node)

    cdef int replay_node(self, NativeZone z, NativeZone parent, uint16_t zone_index,
                         uint8_t* plan, uint8_t* node) except -1:
        """The puts of a node's plan (plan_node), in its order; the node written to node."""
        cdef const node_plan_t* np = <const node_plan_t*>plan
        cdef const name_t* nm = &z.names[np.name]
        cdef uint64_t offs[MAX_ITEMS]
        cdef uint8_t entries[MAX_QTYPES * ENTRY_SIZE]
        cdef uint8_t* p = plan + sizeof(node_plan_t)
        cdef uint8_t* body
        cdef item_t* it
        cdef int i, k, n_qtypes = 0
        cdef uint8_t flags = 0
        cdef int32_t w
        for i in range(np.n_items):
            it = <item_t*>p
            body = p + sizeof(item_t)
            if it.kind == ITEM_RECORD or it.kind == ITEM_NXDOMAIN:
                if it.smaller != NO_ITEM:
                    put_u32le(body + 16, <uint32_t>offs[it.smaller])
                if it.base != NO_ITEM:  # PROOFS.base_off
                    put_u32le(body + RECORD_SIZE, <uint32_t>offs[it.base])
                if it.signed != NO_ITEM:
                    k = RECORD_SIZE + 2 * get_u16le(body + 10)
                    put_u32le(body + k, <uint32_t>offs[it.signed])
                    put_u32le(body + k + 4, <uint32_t>offs[it.own] if it.own != NO_ITEM else 0)
                offs[i] = self.put_record(parent if it.flags & ITEM_IN_PARENT else z, it, body)
            elif it.kind == ITEM_ENTRIES:
                n_qtypes = it.len // 4
                for k in range(n_qtypes):
                    _entry(entries + k * ENTRY_SIZE, (<uint16_t*>body)[2 * k], offs[(<uint16_t*>body)[2 * k + 1]])
                offs[i] = self.put(entries, n_qtypes * ENTRY_SIZE)
            else:
                offs[i] = self.put_hashed(body, it.len, it.hash)
            p += item_size(it)
        if nm.flags & N_APEX:
            flags |= IMG_APEX
        if nm.flags & N_CUT:
            flags |= IMG_CUT
        if not (nm.flags & N_OWNER):
            flags |= IMG_ENT
        if nm.flags & N_WILDCARD:
            flags |= IMG_WILDCARD
        w = nm.wildcard
        put_u32le(node, nm.hash)
        put_u32le(node + 4, <uint32_t>offs[np.name_item])
        node[8] = nm.len
        node[9] = flags
        put_u16le(node + 10, zone_index)
        put_u32le(node + 12, <uint32_t>offs[np.entries_item] if np.entries_item != NO_ITEM else 0)
        put_u16le(node + 16, n_qtypes)
        put_u16le(node + 18, 0)
        put_u32le(node + 20, <uint32_t>offs[np.other_item])
        put_u32le(node + 24, <uint32_t>offs[np.below_item])
        put_u32le(node + 28, <uint32_t>(z.names[w].node + 1) if w >= 0 and z.names[w].node >= 0 else 0)
        return 0


cdef inline void _entry(uint8_t* p, uint16_t qtype, uint64_t off) noexcept:
    put_u16le(p, qtype)
    put_u16le(p + 2, 0)
    put_u32le(p + 4, <uint32_t>off)


def image_nodes(NativeZone z, list child_origins) -> int:
    """Mark the names the image holds for z (compiler._table_names): not below a cut, not
    in a more specific served zone (child_origins: their lower-cased apexes).  Returns
    how many; node numbers are given by number_nodes."""
    cdef uint32_t i, count = 0
    cdef int32_t idx, p
    cdef name_t* nm
    cdef bytearray apex_of_child = bytearray(z.name_count) if child_origins else None
    for origin in child_origins:
        idx = z.find(<const uint8_t*>origin, len(origin))
        if idx >= 0:
            apex_of_child[idx] = 1
    if child_origins:  # a name at or below a child's apex belongs to the child
        for i in range(z.name_count):
            p = <int32_t>i
            while p >= 0:
                if apex_of_child[p]:
                    z.names[i].flags |= N_ELSEWHERE
                    break
                p = z.names[p].parent
    for i in range(z.name_count):
        nm = &z.names[i]
        if (nm.cut < 0 or nm.cut == <int32_t>i) and not (nm.flags & (N_ELSEWHERE | N_HIDDEN)):
            count += 1
    return count


def number_nodes(NativeZone z, uint32_t first) -> int:
    """Give z's image names their node numbers, in wire-bytes order from first."""
    cdef uint32_t i, idx, node = first
    cdef name_t* nm
    for i in range(z.name_count):
        idx = z.sorted_names[i]
        nm = &z.names[idx]
        if (nm.cut < 0 or nm.cut == <int32_t>idx) and not (nm.flags & (N_ELSEWHERE | N_HIDDEN)):
            nm.node = <int32_t>node
            node += 1
    return node


def put_chain(ImageBuilder b, NativeZone z) -> None:
    """ImageWriter._put_chain for a signed zone with a chain (compiler._chain): each
    entry's records, then the chain; z.chain_off is where it is (0: no chain)."""
    cdef buf_t rrs, blob
    cdef uint64_t* rrs_offs
    cdef uint32_t i, owner
    cdef uint8_t entry[NSEC3_ENTRY_SIZE]
    cdef uint8_t head[CHAIN_SIZE]
    cdef uint8_t zeros[4]
    z.chain_off = 0
    if z.chain_type == 0 or z.expired:
        return
    rrs_offs = <uint64_t*>malloc(z.chain_count * sizeof(uint64_t))
    if rrs_offs == NULL:
        raise MemoryError()
    buf_init(&rrs, 1024)
    buf_init(&blob, CHAIN_SIZE + 256 + z.chain_count * NSEC3_ENTRY_SIZE)
    try:
        for i in range(z.chain_count):
            rrs.len = 0
            chain_records(z, z.chain[i], &rrs)
            rrs_offs[i] = b.put(rrs.data, <uint32_t>rrs.len)
        head[0] = CHAIN_NSEC if z.chain_type == T_NSEC else CHAIN_NSEC3
        head[1] = z.salt_len if z.chain_type == T_NSEC3 else 0
        put_u16le(head + 2, z.iterations if z.chain_type == T_NSEC3 else 0)
        put_u32le(head + 4, z.chain_count)
        buf_append(&blob, head, CHAIN_SIZE)
        if z.chain_type == T_NSEC3:
            memset(zeros, 0, 4)
            buf_append(&blob, z.salt, z.salt_len)
            buf_append(&blob, zeros, align4(z.salt_len) - z.salt_len)
        for i in range(z.chain_count):
            owner = z.chain[i]
            if z.chain_type == T_NSEC:
                put_u32le(entry, <uint32_t>b.put_name(z.lname(owner), z.names[owner].len))
                put_u32le(entry + 4, <uint32_t>rrs_offs[i])
                buf_append(&blob, entry, NSEC_ENTRY_SIZE)
            else:
                memcpy(entry, z.hashes + i * NSEC3_HASH_SIZE, NSEC3_HASH_SIZE)
                put_u32le(entry + NSEC3_HASH_SIZE, <uint32_t>rrs_offs[i])
                buf_append(&blob, entry, NSEC3_ENTRY_SIZE)
        z.chain_off = b.put_unshared(blob.data, <uint32_t>blob.len)
    finally:
        free(rrs_offs)
        buf_free(&rrs)
        buf_free(&blob)


cdef int chain_records(NativeZone z, uint32_t owner, buf_t* out) except -1:
    """compiler._chain_records as fastdns.image.RRS and its RRs: the NSEC or NSEC3 RRset
    at owner and its signatures, the first owner written as its labels below the apex and
    a pointer, the others as a pointer (the data plane fills the pointers in)."""
    cdef int relative = z.names[owner].len - z.origin_len
    cdef uint16_t count = 0
    cdef int32_t runs[2]
    cdef int32_t k
    cdef int j
    cdef uint32_t ttl
    cdef const rr_t* rr
    cdef uint8_t fixed[12]
    runs[0] = z.rrset_of(owner, z.chain_type)
    runs[1] = z.signature_of(owner, z.chain_type)
    buf_reserve(out, RRS_SIZE)
    out.len = RRS_SIZE
    for j in range(2):
        k = runs[j]
        if k < 0:
            continue
        ttl = z.rrs[k].ttl
        while k < <int32_t>z.rr_count:
            rr = &z.rrs[k]
            if k != runs[j] and (rr.first or rr.name != owner):
                break
            k += 1
            if rr.dup:
                continue
            if count == 0:
                buf_append(out, z.case_name(owner), relative)
            fixed[0] = 0xC0
            fixed[1] = 0
            put_u16be(fixed + 2, rr.rtype)
            put_u16be(fixed + 4, C_IN)
            put_u32be(fixed + 6, ttl)
            put_u16be(fixed + 10, rr.rdlen)
            buf_append(out, fixed, 12)
            buf_append(out, z.data + rr.rdata, rr.rdlen)
            count += 1
    put_u16le(out.data, count)
    put_u16le(out.data + 2, <uint16_t>(out.len - RRS_SIZE))
    out.data[4] = <uint8_t>relative
    out.data[5] = <uint8_t>z.origin_len
    put_u16le(out.data + 6, 0)
    return 0


def zone_entry(ImageBuilder b, NativeZone z) -> bytes:
    """The zone's ZONE struct (name put into the data area now, as ImageWriter does)."""
    cdef uint8_t out[ZONE_SIZE]
    cdef uint64_t off = b.put_name(<const uint8_t*>z.origin, len(z.origin))
    put_u32le(out, <uint32_t>off)
    out[4] = len(z.origin)
    out[5] = 0
    put_u16le(out + 6, 0)
    put_u32le(out + 8, z.serial)
    put_u32le(out + 12, <uint32_t>z.names[z.apex].node)
    return PyBytes_FromStringAndSize(<char*>out, ZONE_SIZE)


def data_area(ImageBuilder b) -> memoryview:
    """The data area written so far, without a copy; valid while b lives and writes nothing."""
    return memoryview(<uint8_t[:b.data.len]>b.data.data) if b.data.len else memoryview(b"")


def node_hashes_into_buckets(bytearray nodes, uint32_t count, uint32_t bucket_count) -> bytearray:
    """ImageWriter.build's hash table: linear probing, in node order."""
    cdef bytearray buckets = bytearray(bucket_count * BUCKET_SIZE)
    cdef uint8_t* b = buckets
    cdef const uint8_t* n = <uint8_t*>nodes
    cdef uint32_t mask = bucket_count - 1
    cdef uint32_t i, h, slot
    for i in range(count):
        h = n[i * NODE_SIZE] | (n[i * NODE_SIZE + 1] << 8) | (n[i * NODE_SIZE + 2] << 16) | (<uint32_t>n[i * NODE_SIZE + 3] << 24)
        slot = h & mask
        while b[slot * BUCKET_SIZE + 4] | b[slot * BUCKET_SIZE + 5] | b[slot * BUCKET_SIZE + 6] | b[slot * BUCKET_SIZE + 7]:
            slot = (slot + 1) & mask
        put_u32le(b + slot * BUCKET_SIZE, h)
        put_u32le(b + slot * BUCKET_SIZE + 4, i + 1)
    return buckets


def copy_nodes(bytearray nodes, uint32_t first, const uint8_t[::1] previous, uint64_t nodes_off,
               uint32_t old_first, uint32_t count) -> None:
    """count nodes of the previous image (its nodes from nodes_off), from node old_first,
    to node number first of nodes; their wildcard node numbers move with them."""
    cdef uint8_t* p = <uint8_t*>nodes
    cdef uint64_t start = nodes_off + <uint64_t>old_first * NODE_SIZE
    cdef uint64_t size = <uint64_t>count * NODE_SIZE
    cdef int64_t delta = <int64_t>first - <int64_t>old_first
    cdef uint32_t i, w
    cdef uint8_t* f
    if start + size > <uint64_t>previous.shape[0] or (<uint64_t>first + count) * NODE_SIZE > <uint64_t>len(nodes):
        raise ValueError("nodes beyond the image")
    if size == 0:
        return
    memcpy(p + <uint64_t>first * NODE_SIZE, &previous[start], size)
    if delta == 0:
        return
    for i in range(first, first + count):
        f = p + <uint64_t>i * NODE_SIZE + 28
        w = f[0] | (f[1] << 8) | (f[2] << 16) | (<uint32_t>f[3] << 24)
        if w:
            put_u32le(f, <uint32_t>(w + delta))


def node_count_of(NativeZone z) -> int:
    cdef uint32_t i, n = 0
    for i in range(z.name_count):
        if z.names[i].node >= 0:
            n += 1
    return n


def data_size(ImageBuilder b) -> int:
    return b.data.len


# -- recompiling what a change can affect ---------------------------------------------------

cdef bint same_name_records(NativeZone a, uint32_t i, NativeZone b, uint32_t j) noexcept:
    """The same records (type, TTL, rdata, order) with the owner written alike."""
    cdef const name_t* x = &a.names[i]
    cdef const name_t* y = &b.names[j]
    cdef uint32_t k
    cdef const rr_t* p
    cdef const rr_t* q
    if x.rr_count != y.rr_count or x.len != y.len:
        return 0
    if x.rr_count and memcmp(a.case_name(i), b.case_name(j), x.len) != 0:
        return 0
    for k in range(x.rr_count):
        p = &a.rrs[x.rr_first + k]
        q = &b.rrs[y.rr_first + k]
        if (p.rtype != q.rtype or p.ttl != q.ttl or p.rdlen != q.rdlen or p.first != q.first
                or p.dup != q.dup or memcmp(a.data + p.rdata, b.data + q.rdata, p.rdlen) != 0):
            return 0
    return 1


cdef bint only_serial_differs(NativeZone a, NativeZone b) noexcept:
    """The apexes differ in nothing but the SOA serial (RFC 1035 3.3.13)."""
    cdef const name_t* x = &a.names[a.apex]
    cdef const name_t* y = &b.names[b.apex]
    cdef uint32_t k
    cdef const rr_t* p
    cdef const rr_t* q
    cdef uint32_t serial_at
    if x.rr_count != y.rr_count:
        return 0
    for k in range(x.rr_count):
        p = &a.rrs[x.rr_first + k]
        q = &b.rrs[y.rr_first + k]
        if p.rtype != q.rtype or p.ttl != q.ttl or p.rdlen != q.rdlen or p.first != q.first or p.dup != q.dup:
            return 0
        if p.rtype == T_SOA:
            if p.dup or p.rdlen < 20:
                return 0
            serial_at = p.rdlen - 20
            if (memcmp(a.data + p.rdata, b.data + q.rdata, serial_at) != 0
                    or memcmp(a.data + p.rdata + serial_at + 4, b.data + q.rdata + serial_at + 4, 16) != 0):
                return 0
        elif memcmp(a.data + p.rdata, b.data + q.rdata, p.rdlen) != 0:
            return 0
    return 1


def plan_patch(NativeZone a, NativeZone b, bint minimal):
    """The names of b whose image nodes must be compiled again when b replaces a, the
    rest of a's compiled image standing; None when the change is not of that kind (names
    added or removed, cuts or wildcards changed, anything at the apex but the SOA serial,
    full responses): then the zone is compiled whole.

    A name's nodes depend on its own records and, through CNAME chains, referrals and
    additional-section addresses, on the records of the names its answers lead to; the
    apex SOA's serial is patched where it was written (soa_positions)."""
    cdef uint32_t i, k, n
    cdef const name_t* x
    cdef const name_t* y
    cdef bytearray dirty
    cdef uint8_t* d
    if not minimal or not a.soa_patchable or a.name_count != b.name_count or a.apex < 0 or a.signed or b.signed:
        return None  # a signed zone's proofs span names: it is compiled whole
    dirty = bytearray(b.name_count)
    d = <uint8_t*><char*>dirty
    if b.patched_from == id(a):  # b is a patched in place: it knows the names it changed
        if not _dirty_names(a, b, b.patched_names, d):
            return None
        return _spread(b, d)
    for k in range(b.name_count):
        i = a.sorted_names[k]
        n = b.sorted_names[k]
        x = &a.names[i]
        y = &b.names[n]
        if x.len != y.len or memcmp(a.lname(i), b.lname(n), x.len) != 0:
            return None
        if (x.flags & ~N_ELSEWHERE) != (y.flags & ~N_ELSEWHERE) or (x.node < 0) != (y.node < 0):
            return None
    if not _dirty_names(a, b, None, d):
        return None
    return _spread(b, d)


cdef bint _dirty_names(NativeZone a, NativeZone b, list names, uint8_t* d) except -1:
    """Mark the names (all, when None) whose records differ; False when a difference is
    not of the kind a patch handles (the apex beyond its serial, a wildcard).  The names
    are the same, in the same order, in a and b."""
    cdef uint32_t i, n, k
    cdef uint32_t count = b.name_count if names is None else len(names)
    for k in range(count):
        if names is None:  # zones built apart: the same names at the same places in order
            i = a.sorted_names[k]
            n = b.sorted_names[k]
        else:  # b patched from a: the same name indices
            n = names[k]
            i = n
        if <int32_t>n == b.apex:
            if not same_name_records(a, i, b, n) and not only_serial_differs(a, b):
                return False
            continue
        if (a.names[i].flags & ~N_ELSEWHERE) != (b.names[n].flags & ~N_ELSEWHERE):
            return False
        if not same_name_records(a, i, b, n):
            if b.names[n].flags & N_WILDCARD:
                return False
            d[n] = 1
    return True


cdef enum:
    FEW_DIRTY = 64          # up to this many dirty names, targets are matched by hash first


cdef list _spread(NativeZone b, uint8_t* d):
    """What leads to a dirty name is dirty too: CNAME chains, NS/MX/SRV targets, and CNAME
    targets below a dirty cut; returns the dirty names the image holds.  A change touches
    a few names: a target is hashed and compared with theirs before it is looked up."""
    cdef uint32_t k, n, few = 0
    cdef int32_t t
    cdef bint grew = 1, cut_changed = 0, maybe
    cdef const rr_t* rr
    cdef int skip, tlen, off
    cdef uint32_t h
    cdef const uint8_t* target
    cdef uint8_t ltarget[MAX_NAME]
    cdef uint32_t dirty_hash[FEW_DIRTY]
    cdef uint8_t dirty_len[FEW_DIRTY]
    for n in range(b.name_count):
        if d[n]:
            if few < FEW_DIRTY:
                dirty_hash[few] = b.names[n].hash
                dirty_len[few] = b.names[n].len
            few += 1
            if b.names[n].flags & N_CUT:
                cut_changed = 1
    while grew:
        grew = 0
        for k in range(b.rr_count):
            rr = &b.rrs[k]
            if rr.rtype in (T_CNAME, T_NS):
                skip = 0
            elif rr.rtype == T_MX:
                skip = 2
            elif rr.rtype == T_SRV:
                skip = 6
            else:
                continue
            if rr.dup or d[rr.name]:
                continue
            if few <= FEW_DIRTY and not (cut_changed and rr.rtype == T_CNAME) \
                    and not _length_among(rr.rdlen - skip, dirty_len, few):
                continue  # the target (the rest of the rdata) is none of theirs: not hashed
            target = b.data + rr.rdata + skip
            tlen = name_length(target, rr.rdlen - skip)
            if tlen < 0:
                continue
            lower_copy(ltarget, target, tlen)
            if few <= FEW_DIRTY and not (cut_changed and rr.rtype == T_CNAME):
                h = image_name_hash(ltarget, tlen)
                maybe = False
                for n in range(few):
                    if dirty_hash[n] == h:
                        maybe = True
                        break
                if not maybe:
                    continue
            if not is_subdomain(target, tlen, <const uint8_t*>b.origin, len(b.origin)):
                continue
            t = b.find(ltarget, tlen)
            if t >= 0 and d[t]:
                _dirty(b, d, rr.name, dirty_hash, dirty_len, &few)
                grew = 1
                cut_changed = cut_changed or (b.names[rr.name].flags & N_CUT) != 0
            elif cut_changed and rr.rtype == T_CNAME:
                off = 0  # a target below a changed cut is answered by its referral
                while ltarget[off] and not d[rr.name]:
                    t = b.find(ltarget + off, tlen - off)
                    if t >= 0 and d[t] and b.names[t].flags & N_CUT:
                        _dirty(b, d, rr.name, dirty_hash, dirty_len, &few)
                        grew = 1
                        cut_changed = cut_changed or (b.names[rr.name].flags & N_CUT) != 0
                    off += ltarget[off] + 1
    return [n for n in range(b.name_count) if d[n] and b.names[n].node >= 0]


cdef inline void _dirty(NativeZone b, uint8_t* d, uint32_t name, uint32_t* dirty_hash, uint8_t* dirty_len,
                        uint32_t* few) noexcept:
    d[name] = 1
    if few[0] < FEW_DIRTY:
        dirty_hash[few[0]] = b.names[name].hash
        dirty_len[few[0]] = b.names[name].len
    few[0] += 1


cdef inline bint _length_among(int n, const uint8_t* lengths, uint32_t count) noexcept:
    cdef uint32_t i
    for i in range(count):
        if lengths[i] == n:
            return 1
    return 0


def write_some_nodes(ImageBuilder builder, NativeZone z, NativeZone parent, list names, uint16_t zone_index,
                     uint16_t other, bint minimal, bytearray nodes) -> None:
    """Compile the named nodes of z again, over their place in nodes."""
    cdef uint8_t* out = <uint8_t*>nodes
    cdef uint32_t idx
    planner_forget(&builder.pl)
    for name in names:
        idx = name
        builder.write_node(z, parent, idx, zone_index, other, minimal,
                           out + <uint64_t>z.names[idx].node * NODE_SIZE)


def check_serials(const uint8_t[::1] image, bytes positions, uint32_t serial) -> bool:
    """Every position (u64 image offsets) holds serial."""
    cdef const uint64_t* at = <const uint64_t*>PyBytes_AS_STRING(positions)
    cdef size_t i, n = len(positions) // 8
    cdef size_t size = image.shape[0]
    for i in range(n):
        if at[i] + 4 > size or get_u32be(&image[0] + at[i]) != serial:
            return False
    return True


def patch_serials(uint8_t[::1] image, bytes positions, uint32_t old_serial, uint32_t new_serial) -> bool:
    """Write new_serial over old_serial at every position (u64 image offsets); False, and
    nothing written, when a position does not hold old_serial."""
    cdef uint8_t* p = &image[0]
    cdef const uint64_t* at = <const uint64_t*>PyBytes_AS_STRING(positions)
    cdef size_t i, n = len(positions) // 8
    if not check_serials(image, positions, old_serial):
        return False
    for i in range(n):
        put_u32be(p + at[i], new_serial)
    return True
