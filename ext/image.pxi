# SPDX-License-Identifier: MIT
# The compiled image as the data plane sees it: structs mirroring fastdns/image.py
# (docs/image-format.md), the suffix hashes of a query name, and the lookup.
#
# The image was checked by the control process before it was published (checksum and
# structure), so offsets read from it are trusted here; only the header is re-checked
# when a worker maps it.

cdef enum:
    IMAGE_VERSION = 4
    NODE_APEX = 0x01               # img_node.flags: a zone apex
    NODE_CUT = 0x02                # a delegation point
    NODE_ENT = 0x04                # an empty non-terminal
    NODE_WILDCARD = 0x08           # the first label is "*"
    EXT_SIGNED = 0x01              # img_record.ext: an img_signed follows the relocations
    EXT_COVER = 0x02               # an img_cover follows the relocations
    EXT_PROOFS = 0x04              # an img_proofs follows the relocations (no tail)
    CHAIN_NSEC = 1                 # img_chain.kind: NSEC, by owner in canonical order
    CHAIN_NSEC3 = 2                # NSEC3, by hash
    NSEC3_HASH_SIZE = 20           # SHA-1

cdef extern from *:
    """
    #define FASTDNS_IMAGE_MAGIC "FDNSIMG\\0"
    """
    const char* IMAGE_MAGIC "FASTDNS_IMAGE_MAGIC"   # 8 bytes, the last one zero

cdef packed struct img_header:
    char magic[8]
    uint32_t version
    uint32_t header_size
    uint32_t total_size            # bytes, the whole image
    uint32_t checksum              # CRC-32 of everything after the header
    uint32_t bucket_count          # a power of two
    uint32_t buckets_off
    uint32_t node_count
    uint32_t nodes_off
    uint32_t zone_count
    uint32_t zones_off
    uint32_t refused_off           # the record for names outside every zone
    uint32_t flags
    uint32_t chaos_version_off     # CH TXT version.bind / version.server, 0 = refused
    uint32_t chaos_identity_off    # CH TXT id.server / hostname.bind, 0 = refused

cdef packed struct img_bucket:
    uint32_t hash                  # name_hash of the node's name
    uint32_t node                  # node index + 1; 0 marks an empty bucket

cdef packed struct img_node:
    uint32_t hash
    uint32_t name_off              # lower-cased wire name
    uint8_t name_len
    uint8_t flags                  # NODE_*
    uint16_t zone
    uint32_t entries_off           # img_entry[n_entries], sorted by qtype
    uint16_t n_entries
    uint16_t reserved
    uint32_t other_off             # record for every qtype not in entries
    uint32_t below_off             # record for missing names below, when no wildcard
    uint32_t wildcard              # node index + 1 of "*.<name>", 0 = none

cdef packed struct img_entry:
    uint16_t qtype
    uint16_t reserved
    uint32_t record_off

cdef packed struct img_zone:
    uint32_t name_off
    uint8_t name_len
    uint8_t reserved1
    uint16_t reserved2
    uint32_t serial
    uint32_t apex                  # node index

cdef packed struct img_record:
    uint16_t flags                 # AA and RCODE bits ORed into the reply header
    uint16_t ancount
    uint16_t nscount
    uint16_t arcount
    uint16_t tail_len              # bytes of sections after the relocation table
    uint16_t n_reloc               # uint16 offsets in the tail of pointers to shift
    uint8_t qname_len              # QNAME length the tail was compiled against
    uint8_t ext                    # EXT_*: what follows the relocations
    uint16_t reserved
    uint32_t smaller_off           # next smaller variant of this reply, 0 = none

cdef packed struct img_signed:
    uint32_t signed_off            # the record for the same question with DO=1
    uint32_t own_off               # at a wildcard: DO=1 for its own name, not synthesis; 0 = same

cdef packed struct img_cover:
    uint16_t at                    # where in the tail the covering records go
    uint8_t kind                   # CHAIN_*: what they cover (the query name, its next closer)
    uint8_t reserved
    uint32_t chain_off             # the zone's img_chain
    uint32_t have0                 # chain entries (index + 1) the tail holds already, 0 = none
    uint32_t have1

cdef packed struct img_proofs:
    uint32_t base_off              # the record whose tail starts the reply (the apex SOA, its RRSIG)
    uint32_t chain_off             # the zone's img_chain
    uint32_t proof0                # chain entries (index + 1) whose records follow, 0 = none
    uint32_t proof1
    uint8_t kind                   # CHAIN_*
    uint8_t cover                  # 1: then the entry covering the query name (as img_cover's)
    uint16_t reserved

cdef packed struct img_chain:
    uint8_t kind                   # CHAIN_*
    uint8_t salt_len               # NSEC3: the salt follows, padded to 4 bytes
    uint16_t iterations            # NSEC3: extra hash iterations
    uint32_t count                 # entries, after the salt

cdef packed struct img_nsec_entry:
    uint32_t name_off              # the owner, lower-cased, zero-padded to 8 bytes
    uint32_t rrs_off               # its img_rrs

cdef packed struct img_nsec3_entry:
    uint8_t hash[NSEC3_HASH_SIZE]  # the owner's hash
    uint32_t rrs_off

cdef packed struct img_rrs:
    uint16_t count                 # RRs: the NSEC or NSEC3, then its RRSIGs
    uint16_t len                   # bytes that follow
    uint8_t owner_len              # the first owner's labels below the apex, then a pointer;
    uint8_t apex_len               # the others' owners are a pointer (filled in per query)
    uint16_t reserved

ctypedef struct image_t:
    const uint8_t* base
    size_t size
    const img_bucket* buckets
    uint32_t mask                  # bucket_count - 1
    const img_node* nodes
    const img_record* refused
    const img_record* chaos_version     # NULL when not configured
    const img_record* chaos_identity


cdef inline const img_record* record_at(const image_t* img, uint32_t off) noexcept nogil:
    return <const img_record*>(img.base + off)


cdef enum image_check:          # image_init's verdicts
    IMAGE_OK = 0
    IMAGE_SHORT = 1             # shorter than its header
    IMAGE_NOT_FASTDNS = 2       # another magic
    IMAGE_UNSUPPORTED = 3       # another version or header size
    IMAGE_WRONG_SIZE = 4        # the header's total_size is not the mapping's length
    IMAGE_BAD_SECTIONS = 5      # a section outside the image


cdef inline image_check image_init(image_t* img, const uint8_t* base, size_t length) noexcept nogil:
    """img filled from the image mapped at base (length bytes), once its header and section
    bounds are checked (the body was checked before publication); img is left as it was
    unless IMAGE_OK is returned."""
    cdef const img_header* h = <const img_header*>base
    if length < sizeof(img_header):
        return IMAGE_SHORT
    if memcmp(h.magic, IMAGE_MAGIC, 8) != 0:
        return IMAGE_NOT_FASTDNS
    if h.version != IMAGE_VERSION or h.header_size != sizeof(img_header):
        return IMAGE_UNSUPPORTED
    if h.total_size != length:
        return IMAGE_WRONG_SIZE
    if (h.bucket_count == 0 or h.bucket_count & (h.bucket_count - 1)
            or <uint64_t>h.buckets_off + <uint64_t>h.bucket_count * sizeof(img_bucket) > length
            or <uint64_t>h.nodes_off + <uint64_t>h.node_count * sizeof(img_node) > length
            or <uint64_t>h.refused_off + sizeof(img_record) > length):
        return IMAGE_BAD_SECTIONS
    img.base = base
    img.size = length
    img.buckets = <const img_bucket*>(base + h.buckets_off)
    img.mask = h.bucket_count - 1
    img.nodes = <const img_node*>(base + h.nodes_off)
    img.refused = record_at(img, h.refused_off)
    img.chaos_version = record_at(img, h.chaos_version_off) if h.chaos_version_off else NULL
    img.chaos_identity = record_at(img, h.chaos_identity_off) if h.chaos_identity_off else NULL
    return IMAGE_OK


cdef inline const uint8_t* record_relocs(const img_record* rec) noexcept nogil:
    return <const uint8_t*>rec + sizeof(img_record)


cdef inline const uint8_t* record_extension(const img_record* rec) noexcept nogil:
    return <const uint8_t*>rec + sizeof(img_record) + 2 * rec.n_reloc


cdef inline const uint8_t* record_tail(const img_record* rec) noexcept nogil:
    cdef const uint8_t* p = record_extension(rec)
    if rec.ext & EXT_SIGNED:
        return p + sizeof(img_signed)
    if rec.ext & EXT_COVER:
        return p + sizeof(img_cover)
    if rec.ext & EXT_PROOFS:
        return p + sizeof(img_proofs)
    return p


cdef inline const img_record* signed_variant(const image_t* img, const img_record* rec,
                                             bint exact) noexcept nogil:
    """The record for a query with DO=1 (RFC 3225): a signed zone's has its signatures.
    exact: the query name is the node's own (a wildcard's proofs are for synthesis)."""
    cdef const img_signed* s
    if rec.ext & EXT_SIGNED:
        s = <const img_signed*>record_extension(rec)
        return record_at(img, s.own_off if exact and s.own_off else s.signed_off)
    return rec


cdef inline uint32_t name_hash(const uint8_t* name, int length) noexcept nogil:
    """fastdns.image.name_hash: little-endian 64-bit words of the zero-padded name, each
    xored in, multiplied, and folded.  name must be followed by zero bytes up to a word
    boundary (query_t.lname is)."""
    cdef uint64_t h = NAME_HASH_SEED ^ <uint64_t>length
    cdef int i = 0
    while i < length:
        h = (h ^ fastdns_load64le(name + i)) * NAME_HASH_MULTIPLIER
        h ^= h >> 32
        i += 8
    return <uint32_t>h


cdef inline bint same_name(const uint8_t* a, const uint8_t* b, int length) noexcept nogil:
    """Equal wire names of this length; both are zero-padded to a word (image names are
    stored so, query_t.lname is), so whole words compare."""
    cdef int i = 0
    while i < length:
        if fastdns_load64le(a + i) != fastdns_load64le(b + i):
            return 0
        i += 8
    return 1


cdef inline const img_node* find_node(const image_t* img, const uint8_t* name, int length,
                                      uint32_t h) noexcept nogil:
    cdef uint32_t slot = h & img.mask
    cdef const img_bucket* b
    cdef const img_node* n
    while True:
        b = &img.buckets[slot]
        if b.node == 0:
            return NULL
        if b.hash == h:
            n = &img.nodes[b.node - 1]
            if n.name_len == length and same_name(img.base + n.name_off, name, length):
                return n
        slot = (slot + 1) & img.mask


cdef inline const img_record* node_record(const image_t* img, const img_node* n,
                                          uint16_t qtype) noexcept nogil:
    cdef const img_entry* e = <const img_entry*>(img.base + n.entries_off)
    cdef int i
    for i in range(n.n_entries):
        if e[i].qtype == qtype:
            return record_at(img, e[i].record_off)
    return record_at(img, n.other_off)


cdef inline const img_record* image_find(const image_t* img, query_t* q) noexcept nogil:
    """The record answering q: exact node, else the closest encloser's wildcard child or
    its 'below' record (NXDOMAIN, or the referral of a cut), else REFUSED.  Suffixes are
    hashed only on a miss: most queries name a node.  q.encloser is where the closest
    encloser starts in q.lname (-1: the name itself is a node), q.next_closer where the
    name one label longer does (RFC 5155 1.3): a signed zone's denials depend on them."""
    cdef const img_node* n
    cdef int off = 0
    q.encloser = -1
    n = find_node(img, q.lname, q.qname_len, name_hash(q.lname, q.qname_len))
    if n != NULL:
        return node_record(img, n, q.qtype)
    while q.lname[off] != 0:        # each parent in turn, the root last
        q.next_closer = off
        off += q.lname[off] + 1
        q.encloser = off
        n = find_node(img, q.lname + off, q.qname_len - off,
                      name_hash(q.lname + off, q.qname_len - off))
        if n != NULL:
            if n.wildcard:
                return node_record(img, &img.nodes[n.wildcard - 1], q.qtype)
            return record_at(img, n.below_off)
    return img.refused


cdef inline bint name_is(const query_t* q, const char* wire, int length) noexcept nogil:
    return q.qname_len == length and memcmp(q.lname, wire, length) == 0


cdef inline const img_record* chaos_find(const image_t* img, const query_t* q) noexcept nogil:
    """CH TXT for the server's version and identity (answered only when configured)."""
    if q.qtype != DNS_TYPE_TXT:
        return NULL
    if name_is(q, b"\x07version\x04bind\x00", 14) or name_is(q, b"\x07version\x06server\x00", 16):
        return img.chaos_version
    if name_is(q, b"\x02id\x06server\x00", 11) or name_is(q, b"\x08hostname\x04bind\x00", 15):
        return img.chaos_identity
    return NULL
