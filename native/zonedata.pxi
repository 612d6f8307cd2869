# SPDX-License-Identifier: MIT
# A zone in native form: its records as read (wire form, one buffer), its names interned
# with the empty non-terminals between them, both sorted, and the facts lookups need
# (cuts, the highest cut above every name).  fastdns/lookup.py's IndexedZone, without
# dnspython objects.

cdef enum:
    T_A = 1
    T_NS = 2
    T_CNAME = 5
    T_SOA = 6
    T_PTR = 12
    T_MX = 15
    T_TXT = 16
    T_AAAA = 28
    T_SRV = 33
    T_DNAME = 39
    T_DS = 43
    T_RRSIG = 46
    T_NSEC = 47
    T_NSEC3 = 50
    T_NSEC3PARAM = 51
    T_KEY = 25
    T_ANY = 255
    C_IN = 1

    N_OWNER = 0x01          # has records
    N_APEX = 0x02
    N_CUT = 0x04            # NS below the apex
    N_WILDCARD = 0x08       # first label "*"
    N_ELSEWHERE = 0x10      # at or below the apex of a more specific served zone
    N_HIDDEN = 0x20         # an NSEC3 owner: out of the zone's name space (RFC 5155 7.2.8)


ctypedef struct name_t:
    uint32_t hash           # image_name_hash of the lower-cased name
    uint32_t loff           # lower-cased wire name, in lnames
    uint32_t case_off       # the name as first written: in data (owners) or lnames (ENTs)
    uint32_t rr_first       # its records: rrs[rr_first:rr_first + rr_count]
    uint32_t rr_count
    int32_t parent          # name index, -1 for the apex
    int32_t cut             # the highest cut at or above it, -1 = none
    int32_t node            # global image node index, -1 = not a node
    int32_t wildcard        # name index of "*.<this name>", -1 = none
    uint8_t len
    uint8_t flags
    uint8_t case_in_data


ctypedef struct rr_t:
    uint32_t name
    uint32_t rdata          # offset of the rdata in data
    uint32_t ttl            # in the first record of an RRset: the RRset's (the minimum)
    uint32_t seq            # file order
    uint16_t rtype
    uint16_t rdlen
    uint8_t first           # first record of its RRset
    uint8_t dup             # equal to an earlier record of its RRset: not rendered


cdef inline uint32_t rr_key(const uint8_t* data, const rr_t* rr) noexcept nogil:
    """What orders a name's records and splits them into RRsets: the type, and for RRSIG
    the type covered (dnspython keeps an RRSIG RRset per covered type)."""
    if rr.rtype == T_RRSIG and rr.rdlen >= 2:
        return (<uint32_t>T_RRSIG << 16) | get_u16be(data + rr.rdata)
    return <uint32_t>rr.rtype << 16


cdef enum:
    READ_AHEAD = 16         # records: a DRAM access's time in records read (a power of 2)


ctypedef struct _Lookahead:
    size_t off              # the record _read_records' lookahead reads next
    uint32_t i              # its number
    size_t last_off         # the owner it read last, and its length
    int last_n
    uint32_t hash[READ_AHEAD]  # by record number modulo READ_AHEAD: its owner's hash


class NativeZoneError(ValueError):
    """A zone breaks a rule; line is the file line of the record at fault, or None."""

    def __init__(self, line, reason):
        super().__init__(reason)
        self.line = line
        self.reason = reason


ctypedef struct sort_key_t:
    uint64_t prefix         # the name's first 8 bytes, big-endian (zero-padded)
    uint32_t index
    uint32_t pad


ctypedef struct sort_job_t:
    sort_key_t* keys
    size_t n
    const name_t* names
    const uint8_t* lnames


cdef enum:
    PARALLEL_SORT_MIN = 1 << 16     # names: a zone this big sorts them on two threads


cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t
    int pthread_create(pthread_t* thread, const void* attr, void* (*start)(void*) noexcept nogil,
                       void* arg)
    int pthread_join(pthread_t thread, void** result)


cdef extern from "<stdlib.h>" nogil:
    void qsort_r(void* base, size_t n, size_t size,
                 int (*compar)(const void*, const void*, void*) noexcept nogil, void* arg)


cdef int _cmp_name_key(const void* a, const void* b, void* job) noexcept nogil:
    """Wire-bytes order: the prefixes decide most comparisons without reading the names
    (a sort of a million names reads them at random, a cache miss each)."""
    cdef const sort_key_t* p = <const sort_key_t*>a
    cdef const sort_key_t* q = <const sort_key_t*>b
    cdef const sort_job_t* j = <const sort_job_t*>job
    cdef const name_t* x
    cdef const name_t* y
    if p.prefix != q.prefix:
        return -1 if p.prefix < q.prefix else 1
    x = &j.names[p.index]
    y = &j.names[q.index]
    return compare_wire(j.lnames + x.loff, x.len, j.lnames + y.loff, y.len)


cdef void* _sort_keys(void* job) noexcept nogil:
    cdef sort_job_t* j = <sort_job_t*>job
    qsort_r(j.keys, j.n, sizeof(sort_key_t), _cmp_name_key, job)
    return NULL


cdef int sort_names(sort_job_t* job, uint32_t* out, bint two_threads) noexcept nogil:
    """out: the names' indices in the keys' order.  A big zone's two halves are sorted on
    two threads (the other CPU is idle while a zone is built), then merged; -1: no thread
    could be started (the caller sorts on one)."""
    cdef sort_job_t first, second
    cdef pthread_t thread
    cdef size_t i = 0, k = 0, m, x, y
    if job.n < PARALLEL_SORT_MIN or not two_threads:
        _sort_keys(job)
        for i in range(job.n):
            out[i] = job.keys[i].index
        return 0
    second = job[0]
    m = job.n // 2
    second.keys, second.n = job.keys + m, job.n - m
    if pthread_create(&thread, NULL, _sort_keys, &second) != 0:
        return -1
    first = job[0]
    first.n = m
    _sort_keys(&first)
    pthread_join(thread, NULL)
    x, y = 0, m
    while x < m and y < job.n:  # the merge
        if _cmp_name_key(&job.keys[y], &job.keys[x], job) < 0:
            out[k] = job.keys[y].index
            y += 1
        else:
            out[k] = job.keys[x].index
            x += 1
        k += 1
    while x < m:
        out[k] = job.keys[x].index
        x += 1
        k += 1
    while y < job.n:
        out[k] = job.keys[y].index
        y += 1
        k += 1
    return 0


cdef inline uint64_t _name_prefix(const uint8_t* lname, int n) noexcept nogil:
    cdef uint64_t v = 0
    cdef int i
    for i in range(8):
        v = (v << 8) | (lname[i] if i < n else 0)
    return v


cdef class _NameArrays:
    """The arrays of a zone's names that a patch leaves as they are (the names, their
    order and their table stay when only records change): zones patched one from another
    share them instead of each copying a million names' worth."""

    cdef buf_t lnames
    cdef uint32_t* sorted_names
    cdef name_table_t table

    def __dealloc__(self):
        buf_free(&self.lnames)
        free(self.sorted_names)
        table_free(&self.table)


cdef class NativeZone:
    """One zone's data in native form (see the module docstring)."""

    cdef readonly bytes origin          # lower-cased wire name of the apex
    cdef readonly bytes origin_case     # the apex as configured
    cdef const uint8_t* origin_p        # origin's and origin_case's bytes, for the code
    cdef const uint8_t* origin_case_p   # that runs without the GIL (they live as long)
    cdef int origin_len
    cdef bytes _data_obj                # keeps data alive
    cdef const uint8_t* data
    cdef bytes _lines
    cdef buf_t lnames
    cdef name_t* names
    cdef readonly uint32_t name_count
    cdef uint32_t name_cap
    cdef rr_t* rrs
    cdef readonly uint32_t rr_count
    cdef uint32_t* sorted_names         # name indices in lower-cased wire order
    cdef name_table_t table
    cdef readonly int32_t apex
    cdef readonly uint32_t serial
    cdef uint32_t soa_rr                # the apex SOA record
    cdef uint32_t negative_ttl          # min(SOA TTL, SOA MINIMUM), RFC 2308 3
    cdef readonly set rdtypes           # every type present (for the "other" qtype)
    cdef buf_t soa_serials              # u64 image offsets where the apex SOA's serial was written
    cdef public bint soa_patchable      # those are all of them, and no other zone shares them
    cdef public str label               # the zone's name as text, for reports
    cdef readonly object patched_from   # id() of the zone this one was patched from, or None
    cdef _NameArrays _names_owner       # holds lnames, sorted_names and table when shared
    cdef bint _names_borrowed           # they are _names_owner's: not freed here (a C flag,
                                        # which a cycle-clearing GC leaves as it is)
    cdef readonly list patched_names    # the names whose records the patch changed
    # DNSSEC (denial.pxi): lookup.IndexedZone.signed and .chain
    cdef readonly bint signed           # the apex has signatures
    cdef readonly uint16_t chain_type   # T_NSEC or T_NSEC3; 0: no chain
    cdef uint32_t* chain                # its owners (name indices), in the chain's order
    cdef readonly uint32_t chain_count
    cdef int32_t* chain_pos             # per name: the chain entry at that name, or -1
    cdef uint8_t* hashes                # NSEC3: the entries' hashes, 20 bytes each, sorted
    cdef uint8_t salt[255]
    cdef int salt_len
    cdef uint16_t iterations
    cdef public uint64_t chain_off      # where the image holds the chain (ImageBuilder.put_chain)
    cdef readonly str unsupported       # why the native compiler cannot compile it, or None
    cdef public bint expired            # a secondary past its SOA EXPIRE: every name SERVFAIL

    def __cinit__(self):
        self.names = NULL
        self.rrs = NULL
        self.sorted_names = NULL
        self.table.slots = NULL
        self.lnames.data = NULL
        self.soa_serials.data = NULL
        self.chain = NULL
        self.chain_pos = NULL
        self.hashes = NULL

    def __init__(self, bytes origin not None, bytes data not None, uint32_t count,
                 bytes lines not None):
        """:param origin: the apex, wire form; data: count records (fastdns._zonefile's
        Records.data), all owned by names at or below origin; lines: their file lines.
        :raises NativeZoneError: the zone breaks a rule (line and reason)."""
        self._set_origin(origin, origin.lower())
        self.label = ""
        self._data_obj = data
        self.data = <const uint8_t*>PyBytes_AS_STRING(data)
        self._lines = lines
        self.rr_count = count
        buf_init(&self.lnames, 64 + 32 * count)
        self.name_cap = max(16, count + count // 4)  # owners, and room for the ENTs
        self.names = <name_t*>malloc(self.name_cap * sizeof(name_t))
        self.rrs = <rr_t*>malloc((count if count else 1) * sizeof(rr_t))
        if self.names == NULL or self.rrs == NULL:
            raise MemoryError()
        advise_huge(self.names, self.name_cap * sizeof(name_t))  # both read at random: by
        advise_huge(self.rrs, count * sizeof(rr_t))               # name lookups, by the compile
        advise_huge(self.lnames.data, self.lnames.cap)
        table_init(&self.table, count)
        self._read_records(PyBytes_GET_SIZE(data))
        self._add_parents()
        self._sort()
        self._trim_names()
        self._find_rrsets()
        self._find_cuts()
        self._validate()
        self.rdtypes = self._types_present()
        read_denial(self)
        buf_init(&self.soa_serials, 64)
        self.soa_patchable = 1

    def __dealloc__(self):
        free(self.names)
        free(self.rrs)
        if not self._names_borrowed:
            free(self.sorted_names)
            table_free(&self.table)
            buf_free(&self.lnames)
        buf_free(&self.soa_serials)
        free(self.chain)
        free(self.chain_pos)
        free(self.hashes)

    cdef int _set_origin(self, bytes origin_case, bytes origin) except -1:
        self.origin_case, self.origin = origin_case, origin
        self.origin_case_p, self.origin_p = origin_case, origin
        self.origin_len = len(origin)
        return 0

    cdef set _types_present(self):
        cdef uint32_t i
        cdef uint16_t last = 0
        types = set()
        for i in range(self.rr_count):
            if self.rrs[i].rtype != last:  # records of a name come together, often of one type
                last = self.rrs[i].rtype
                types.add(last)
        return types

    cdef int line_of(self, uint32_t seq):
        if 4 * seq + 4 > <uint32_t>len(self._lines):
            return 0
        return int.from_bytes(self._lines[4 * seq:4 * seq + 4], "little")

    # -- building ----------------------------------------------------------------------

    cdef int _read_records(self, size_t size) except -1:
        cdef size_t off = 0, last_off = 0
        cdef uint32_t i
        cdef int n, last_n = -1
        cdef uint32_t last_name = 0
        cdef uint8_t lname[MAX_NAME]
        cdef _Lookahead ahead
        ahead.off = ahead.last_off = 0
        ahead.i = 0
        ahead.last_n = -1
        for i in range(self.rr_count):
            self._look_ahead(&ahead, i + READ_AHEAD, size)
            n = name_length(self.data + off, size - off)
            if n < 0 or off + n + 10 > size:
                raise NativeZoneError(self.line_of(i), "malformed record from the parser")
            if n == last_n and memcmp(self.data + off, self.data + last_off, n) == 0:
                self.rrs[i].name = last_name  # the owner of the record before: the usual case
            else:
                lower_copy(lname, self.data + off, n)
                last_name = self.intern(lname, n, ahead.hash[i & (READ_AHEAD - 1)],
                                        <uint32_t>off, 1)
                self.rrs[i].name = last_name
                last_n = n
                last_off = off
            self.rrs[i].rtype = get_u16be(self.data + off + n)
            if get_u16be(self.data + off + n + 2) != C_IN:
                raise NativeZoneError(self.line_of(i), "only class IN is served")
            self.rrs[i].ttl = get_u32be(self.data + off + n + 4)
            self.rrs[i].rdlen = get_u16be(self.data + off + n + 8)
            self.rrs[i].rdata = <uint32_t>(off + n + 10)
            self.rrs[i].seq = i
            self.rrs[i].first = 0
            self.rrs[i].dup = 0
            off += n + 10 + self.rrs[i].rdlen
            if off > size:
                raise NativeZoneError(self.line_of(i), "malformed record from the parser")
        return 0

    cdef inline void _look_ahead(self, _Lookahead* a, uint32_t upto, size_t size) noexcept:
        """Prefetch the table slots of the owners up to record upto: a million new names
        each probe a slot at random, and the probe's cache miss was half of the reading.
        Malformed records stop it (the reading reports them)."""
        cdef int n
        cdef uint32_t h
        cdef uint8_t lname[MAX_NAME]
        while a.i < upto and a.i < self.rr_count:
            if a.off >= size:
                a.i = self.rr_count
                return
            n = name_length(self.data + a.off, size - a.off)
            if n < 0 or a.off + n + 10 > size:
                a.i = self.rr_count
                return
            if n == a.last_n and memcmp(self.data + a.off, self.data + a.last_off, n) == 0:
                a.hash[a.i & (READ_AHEAD - 1)] = a.hash[(a.i - 1) & (READ_AHEAD - 1)]
            else:
                lower_copy(lname, self.data + a.off, n)
                h = image_name_hash(lname, n)
                a.hash[a.i & (READ_AHEAD - 1)] = h
                fastdns_prefetch(&self.table.slots[h & self.table.mask])
                a.last_off, a.last_n = a.off, n
            a.off += n + 10 + get_u16be(self.data + a.off + n + 8)
            a.i += 1

    cdef int32_t find(self, const uint8_t* lname, int n) noexcept nogil:
        """Index of the name (lower-cased wire form), or -1; NSEC3 owners are not in the
        name space (RFC 5155 7.2.8)."""
        cdef int32_t idx = self.find_hashed(lname, n, image_name_hash(lname, n))
        if idx >= 0 and self.names[idx].flags & N_HIDDEN:
            return -1
        return idx

    cdef int32_t find_hashed(self, const uint8_t* lname, int n, uint32_t h) noexcept nogil:
        """find, with the name's image_name_hash known."""
        cdef size_t j = h & self.table.mask
        cdef uint32_t idx
        cdef uint64_t slot = self.table.slots[j]
        while slot:
            if <uint32_t>(slot >> 32) == h:
                idx = <uint32_t>slot - 1  # the low half
                if (self.names[idx].len == n
                        and memcmp(self.lnames.data + self.names[idx].loff, lname, n) == 0):
                    return <int32_t>idx
            j = (j + 1) & self.table.mask
            slot = self.table.slots[j]
        return -1

    cdef uint32_t intern(self, const uint8_t* lname, int n, uint32_t h, uint32_t case_off,
                         bint case_in_data) except? 0xFFFFFFFF:
        """The index of a name, added when new (h: its image_name_hash; case_off: where
        its case-preserving form is, in data or, for names first met as parents, in
        lnames)."""
        cdef int32_t found = self.find_hashed(lname, n, h)
        cdef uint32_t idx
        cdef name_t* nm
        if found >= 0:
            return <uint32_t>found
        if self.name_count == self.name_cap:
            self.name_cap *= 2
            nm = <name_t*>realloc(self.names, self.name_cap * sizeof(name_t))
            if nm == NULL:
                raise MemoryError()
            self.names = nm
        idx = self.name_count
        self.name_count += 1
        nm = &self.names[idx]
        nm.hash = h
        nm.loff = <uint32_t>self.lnames.len
        buf_append(&self.lnames, lname, n)
        nm.case_off = case_off if case_in_data else nm.loff
        nm.case_in_data = case_in_data
        nm.len = n
        nm.flags = 0
        nm.rr_first = 0
        nm.rr_count = 0
        nm.parent = -1
        nm.cut = -1
        nm.node = -1
        nm.wildcard = -1
        self._table_put(idx)
        return idx

    cdef int _table_put(self, uint32_t idx) except -1:
        cdef size_t j
        cdef uint32_t i
        if 2 * (self.table.used + 1) > self.table.mask:
            table_free(&self.table)
            table_init(&self.table, 2 * self.name_count)
            for i in range(idx):
                self._slot_in(i)
        self._slot_in(idx)
        return 0

    cdef inline void _slot_in(self, uint32_t idx) noexcept:
        cdef size_t j = self.names[idx].hash & self.table.mask
        while self.table.slots[j]:
            j = (j + 1) & self.table.mask
        self.table.slots[j] = (<uint64_t>self.names[idx].hash << 32) | (idx + 1)
        self.table.used += 1

    cdef int _add_parents(self) except -1:
        """Every name's parent, adding the empty non-terminals up to the apex."""
        cdef uint32_t i = 0
        cdef int olen = len(self.origin)
        cdef const uint8_t* o = self.origin
        cdef uint8_t lname[MAX_NAME]
        cdef uint8_t skip
        cdef int n
        cdef uint32_t parent
        self.apex = self.find(o, olen)
        if self.apex < 0:
            raise NativeZoneError(None, f"no SOA record at the zone apex {_text(self.origin_case)}")
        while i < self.name_count:
            n = self.names[i].len
            if <int32_t>i != self.apex:
                if n <= olen:
                    raise NativeZoneError(None, "a name outside the zone")
                memcpy(lname, self.lnames.data + self.names[i].loff, n)
                skip = lname[0] + 1
                parent = self.intern(lname + skip, n - skip,
                                     image_name_hash(lname + skip, n - skip),
                                     self.names[i].case_off + skip,
                                     self.names[i].case_in_data)
                self.names[i].parent = <int32_t>parent  # after intern: names may have moved
            i += 1
        return 0

    cdef int _trim_names(self) except -1:
        """The room left for names no longer held (a big zone: megabytes)."""
        cdef name_t* nm
        if self.name_cap > self.name_count + 16:
            nm = <name_t*>realloc(self.names, (self.name_count + 16) * sizeof(name_t))
            if nm != NULL:
                self.names, self.name_cap = nm, self.name_count + 16
        return 0

    cdef int _sort(self) except -1:
        """Names in wire-bytes order (the image's node order); records by (name, type,
        file order), so that an RRset is a run and in file order: a counting sort by name
        (stable, so file order holds), then each name's few records by type."""
        cdef uint32_t i, j, k, start, end
        cdef rr_t tmp
        cdef uint32_t* rank = <uint32_t*>malloc(self.name_count * sizeof(uint32_t))
        cdef uint32_t* first = <uint32_t*>malloc((self.name_count + 1) * sizeof(uint32_t))
        cdef rr_t* sorted_rrs = <rr_t*>malloc((self.rr_count if self.rr_count else 1) * sizeof(rr_t))
        self.sorted_names = <uint32_t*>malloc(self.name_count * sizeof(uint32_t))
        if rank == NULL or first == NULL or sorted_rrs == NULL or self.sorted_names == NULL:
            free(rank)
            free(first)
            free(sorted_rrs)
            raise MemoryError()
        cdef sort_key_t* keys = <sort_key_t*>malloc((self.name_count if self.name_count else 1) * sizeof(sort_key_t))
        if keys == NULL:
            free(rank)
            free(first)
            raise MemoryError()
        for i in range(self.name_count):
            keys[i].prefix = _name_prefix(self.lnames.data + self.names[i].loff, self.names[i].len)
            keys[i].index = i
        cdef sort_job_t job
        job.keys, job.n, job.names, job.lnames = keys, self.name_count, self.names, self.lnames.data
        with nogil:
            if sort_names(&job, self.sorted_names, 1) < 0:
                sort_names(&job, self.sorted_names, 0)
        free(keys)
        for i in range(self.name_count):
            rank[self.sorted_names[i]] = i
        memset(first, 0, (self.name_count + 1) * sizeof(uint32_t))
        for i in range(self.rr_count):
            first[rank[self.rrs[i].name] + 1] += 1
        for i in range(self.name_count):
            first[i + 1] += first[i]
        for i in range(self.rr_count):
            k = rank[self.rrs[i].name]
            sorted_rrs[first[k]] = self.rrs[i]
            first[k] += 1
        free(self.rrs)
        self.rrs = sorted_rrs
        start = 0
        while start < self.rr_count:  # each name's records by type, file order kept
            end = start + 1
            while end < self.rr_count and self.rrs[end].name == self.rrs[start].name:
                end += 1
            for i in range(start + 1, end):
                tmp = self.rrs[i]
                j = i
                while j > start and rr_key(self.data, &self.rrs[j - 1]) > rr_key(self.data, &tmp):
                    self.rrs[j] = self.rrs[j - 1]
                    j -= 1
                self.rrs[j] = tmp
            start = end
        free(rank)
        free(first)
        return 0

    cdef int _find_rrsets(self) except -1:
        cdef uint32_t i = 0, j, k, start
        cdef uint32_t ttl
        while i < self.rr_count:
            start = i
            self.names[self.rrs[i].name].rr_first = i
            while i < self.rr_count and self.rrs[i].name == self.rrs[start].name:
                j = i
                ttl = self.rrs[i].ttl
                self.rrs[i].first = 1
                while (i < self.rr_count and self.rrs[i].name == self.rrs[j].name
                       and rr_key(self.data, &self.rrs[i]) == rr_key(self.data, &self.rrs[j])):
                    if self.rrs[i].ttl < ttl:
                        ttl = self.rrs[i].ttl
                    for k in range(j, i):
                        if not self.rrs[k].dup and self.same_rdata(&self.rrs[k], &self.rrs[i]):
                            self.rrs[i].dup = 1
                            break
                    i += 1
                self.rrs[j].ttl = ttl
            self.names[self.rrs[start].name].rr_count = i - start
            self.names[self.rrs[start].name].flags |= N_OWNER
        return 0

    cdef bint same_rdata(self, const rr_t* a, const rr_t* b) noexcept:
        """dnspython's rdata equality: the canonical forms (RFC 4034 6.2: the names in NS,
        CNAME, PTR, MX, SOA, SRV rdata lower-cased) are equal."""
        cdef const uint8_t* p = self.data + a.rdata
        cdef const uint8_t* q = self.data + b.rdata
        cdef int start = 0, end = a.rdlen, i
        if a.rdlen != b.rdlen:
            return 0
        if a.rtype == T_MX:
            start = 2
        elif a.rtype == T_SRV:
            start = 6
        elif a.rtype == T_SOA:
            end = a.rdlen - 20
        elif a.rtype not in (T_NS, T_CNAME, T_PTR):
            return memcmp(p, q, a.rdlen) == 0
        if memcmp(p, q, start) != 0 or memcmp(p + end, q + end, a.rdlen - end) != 0:
            return 0
        for i in range(start, end):  # label length bytes are below 64: lower() keeps them
            if lower(p[i]) != lower(q[i]):
                return 0
        return 1

    cdef int _find_cuts(self) except -1:
        """Flags, and the highest cut at or above each name (parents are shorter, so an
        order by length sees every parent first)."""
        cdef uint32_t i, k
        cdef name_t* nm
        cdef int32_t parent_cut
        cdef uint32_t start[MAX_NAME + 2]
        cdef uint32_t* by_length = <uint32_t*>malloc(self.name_count * sizeof(uint32_t))
        if by_length == NULL:
            raise MemoryError()
        memset(start, 0, sizeof(start))
        for i in range(self.name_count):
            nm = &self.names[i]
            if <int32_t>i == self.apex:
                nm.flags |= N_APEX
            elif self.rrset_of(i, T_NS) >= 0:
                nm.flags |= N_CUT
            if nm.len >= 2 and self.lnames.data[nm.loff] == 1 and self.lnames.data[nm.loff + 1] == 42:
                nm.flags |= N_WILDCARD
                self.names[nm.parent].wildcard = <int32_t>i
            start[nm.len + 1] += 1
        for k in range(1, MAX_NAME + 2):  # counting sort by length
            start[k] += start[k - 1]
        for i in range(self.name_count):
            by_length[start[self.names[i].len]] = i
            start[self.names[i].len] += 1
        for k in range(self.name_count):
            i = by_length[k]
            nm = &self.names[i]
            parent_cut = self.names[nm.parent].cut if nm.parent >= 0 else -1
            nm.cut = parent_cut if parent_cut >= 0 else (<int32_t>i if nm.flags & N_CUT else -1)
        free(by_length)
        return 0

    cdef int _validate(self) except -1:
        """What fastdns/zone.py's reading rejects: the apex's SOA and NS, SOA elsewhere,
        CNAME beside other data, DNAME."""
        cdef uint32_t i, k
        cdef int32_t soa = self.rrset_of(<uint32_t>self.apex, T_SOA)
        cdef const rr_t* r
        cdef const uint8_t* p
        cdef int n
        if soa < 0:
            raise NativeZoneError(None, f"no SOA record at the zone apex {_text(self.origin_case)}")
        for k in range(<uint32_t>soa + 1, self.rr_count):
            r = &self.rrs[k]
            if r.first or r.name != self.rrs[soa].name:
                break
            if not r.dup:
                raise NativeZoneError(self.line_of(self.rrs[soa].seq), "more than one SOA record at the apex")
        if self.rrset_of(<uint32_t>self.apex, T_NS) < 0:
            raise NativeZoneError(None, f"no NS records at the zone apex {_text(self.origin_case)}")
        for i in range(self.rr_count):
            r = &self.rrs[i]
            if r.rtype == T_SOA and <int32_t>r.name != self.apex:
                raise NativeZoneError(self.line_of(r.seq), "SOA records are only allowed at the zone apex")
            if r.rtype == T_DNAME:
                raise NativeZoneError(self.line_of(r.seq),
                                      f"DNAME at {self.name_text(r.name)} is not supported yet")
            if r.first and r.rtype == T_CNAME:
                self._check_cname(r.name)
        self.soa_rr = <uint32_t>soa
        p = self.data + self.rrs[soa].rdata
        n = name_length(p, self.rrs[soa].rdlen)
        n += name_length(p + n, self.rrs[soa].rdlen - n)
        self.serial = get_u32be(p + n)
        self.negative_ttl = min(self.rrs[soa].ttl, get_u32be(p + n + 16))
        return 0

    cdef int _check_cname(self, uint32_t name) except -1:
        """RFC 1034 3.6.2 (RFC 2181 10.1): a CNAME owner has no other data, but DNSSEC's."""
        cdef const name_t* nm = &self.names[name]
        cdef uint32_t k
        cdef uint32_t cname_seq = 0xFFFFFFFF, other_seq = 0xFFFFFFFF
        for k in range(nm.rr_first, nm.rr_first + nm.rr_count):
            if self.rrs[k].rtype == T_CNAME:
                cname_seq = min(cname_seq, self.rrs[k].seq)
            elif self.rrs[k].rtype not in (T_RRSIG, T_NSEC, T_NSEC3, T_KEY):
                other_seq = min(other_seq, self.rrs[k].seq)
        if other_seq != 0xFFFFFFFF:
            raise NativeZoneError(self.line_of(max(cname_seq, other_seq)),
                                  f"CNAME and other data at {self.name_text(name)}")
        return 0

    # -- reading -----------------------------------------------------------------------

    cdef int add_soa_position(self, uint64_t at) except -1:
        return buf_append(&self.soa_serials, &at, 8)

    def soa_positions(self) -> bytes:
        """Image offsets of every SOA serial of this zone's compiled records (u64, native order)."""
        return PyBytes_FromStringAndSize(<char*>self.soa_serials.data, self.soa_serials.len)

    def inherit_soa_positions(self, bytes positions) -> None:
        """Positions noted when the zone this one replaces was compiled: in records an
        incremental compile keeps."""
        buf_append(&self.soa_serials, <const uint8_t*>positions, len(positions))

    cdef bint _rrsets_of(self, uint32_t name) except -1:
        """_find_rrsets for one name whose run was rebuilt (records by type, file order,
        each holding its own TTL); False when its flags would change (a cut made or
        unmade, no records left): the caller reads the file whole."""
        cdef name_t* nm = &self.names[name]
        cdef uint32_t i = nm.rr_first, j, k, end = nm.rr_first + nm.rr_count
        cdef uint32_t ttl
        cdef bint cut
        if nm.rr_count == 0:
            return False
        while i < end:
            j = i
            ttl = self.rrs[i].ttl
            self.rrs[i].first = 1
            while i < end and rr_key(self.data, &self.rrs[i]) == rr_key(self.data, &self.rrs[j]):
                if self.rrs[i].ttl < ttl:
                    ttl = self.rrs[i].ttl
                for k in range(j, i):
                    if not self.rrs[k].dup and self.same_rdata(&self.rrs[k], &self.rrs[i]):
                        self.rrs[i].dup = 1
                        break
                i += 1
            self.rrs[j].ttl = ttl
        cut = <int32_t>name != self.apex and self.rrset_of(name, T_NS) >= 0
        if cut != ((nm.flags & N_CUT) != 0):
            return False
        for k in range(nm.rr_first, end):
            if self.rrs[k].first and self.rrs[k].rtype == T_CNAME:
                self._check_cname(name)
            if self.rrs[k].rtype == T_SOA and <int32_t>name != self.apex:
                raise NativeZoneError(self.line_of(self.rrs[k].seq), "SOA records are only allowed at the zone apex")
            if self.rrs[k].rtype == T_DNAME:
                raise NativeZoneError(self.line_of(self.rrs[k].seq),
                                      f"DNAME at {self.name_text(name)} is not supported yet")
        return True

    cdef int32_t rrset_of(self, uint32_t name, uint16_t rtype) noexcept nogil:
        """Index of the first record of name's RRset of rtype, or -1."""
        cdef const name_t* nm = &self.names[name]
        cdef uint32_t k
        for k in range(nm.rr_first, nm.rr_first + nm.rr_count):
            if self.rrs[k].rtype == rtype:
                return <int32_t>k
        return -1

    cdef int32_t signature_of(self, uint32_t name, uint16_t covered) noexcept nogil:
        """Index of the first record of name's RRSIG RRset over covered, or -1 (an
        RRSIG RRset is a run per covered type: rr_key)."""
        cdef const name_t* nm = &self.names[name]
        cdef uint32_t k
        for k in range(nm.rr_first, nm.rr_first + nm.rr_count):
            if self.rrs[k].rtype == T_RRSIG and self.rrs[k].first and get_u16be(self.data + self.rrs[k].rdata) == covered:
                return <int32_t>k
        return -1

    cdef inline const uint8_t* lname(self, uint32_t name) noexcept nogil:
        return self.lnames.data + self.names[name].loff

    cdef inline const uint8_t* case_name(self, uint32_t name) noexcept nogil:
        if self.names[name].case_in_data:
            return self.data + self.names[name].case_off
        return self.lnames.data + self.names[name].case_off

    @property
    def lines(self) -> bytes:
        """The file line each record starts on, by file order (u32, little-endian)."""
        return self._lines

    @property
    def records_data(self) -> bytes:
        """The records as read (fastdns._zonefile's Records.data)."""
        return self._data_obj

    cdef str name_text(self, uint32_t name):
        return _text(bytes(self.case_name(name)[:self.names[name].len]))

    def apex_rdata(self, uint16_t rtype):
        """(rdata, file line) of the apex's first record of rtype, or None."""
        cdef int32_t k = self.rrset_of(<uint32_t>self.apex, rtype)
        if k < 0:
            return None
        return (PyBytes_FromStringAndSize(<char*>self.data + self.rrs[k].rdata, self.rrs[k].rdlen),
                self.line_of(self.rrs[k].seq))

    def earliest_expiration(self, uint32_t now):
        """The RRSIG expiring first, as seconds from now (RFC 4034 3.1.5: 32-bit serial
        arithmetic around now; negative: expired), or None without signatures."""
        cdef uint32_t i
        cdef int64_t left, best = 0
        cdef bint found = 0
        for i in range(self.rr_count):
            if self.rrs[i].rtype == T_RRSIG and self.rrs[i].rdlen >= 18:
                left = <int32_t>(get_u32be(self.data + self.rrs[i].rdata + 8) - now)
                if not found or left < best:
                    best, found = left, 1
        return best if found else None

    def transfer_chunks(self, uint32_t max_bytes) -> list:
        """The zone as an AXFR sends it (RFC 5936 2.2): the SOA, every other record (names
        in image order, an RRset's records together with its TTL, duplicates left out), the
        SOA again; each RR uncompressed (RFC 1035 4.1.3). Returned as (count, bytes) chunks
        of at most max_bytes, each chunk the answer section of one message."""
        cdef list chunks = []
        cdef buf_t out
        cdef uint32_t i, k, name, count = 0
        cdef int32_t run = -1
        buf_init(&out, max_bytes + 1024)
        try:
            self._put_transfer_rr(&out, self.soa_rr, self.rrs[self.soa_rr].ttl)
            count = 1
            for i in range(self.name_count):
                name = self.sorted_names[i]
                for k in range(self.names[name].rr_first, self.names[name].rr_first + self.names[name].rr_count):
                    if self.rrs[k].first:
                        run = <int32_t>k
                    if self.rrs[k].dup or k == self.soa_rr:
                        continue
                    if out.len + MAX_NAME + 10 + self.rrs[k].rdlen > max_bytes:
                        chunks.append((count, PyBytes_FromStringAndSize(<char*>out.data, out.len)))
                        out.len = 0
                        count = 0
                    self._put_transfer_rr(&out, k, self.rrs[run].ttl)
                    count += 1
            if out.len + MAX_NAME + 10 + self.rrs[self.soa_rr].rdlen > max_bytes:
                chunks.append((count, PyBytes_FromStringAndSize(<char*>out.data, out.len)))
                out.len = 0
                count = 0
            self._put_transfer_rr(&out, self.soa_rr, self.rrs[self.soa_rr].ttl)
            chunks.append((count + 1, PyBytes_FromStringAndSize(<char*>out.data, out.len)))
        finally:
            buf_free(&out)
        return chunks

    cdef int _put_transfer_rr(self, buf_t* out, uint32_t k, uint32_t ttl) except -1:
        cdef const rr_t* rr = &self.rrs[k]
        cdef uint8_t fixed[10]
        buf_append(out, self.case_name(rr.name), self.names[rr.name].len)
        put_u16be(fixed, rr.rtype)
        put_u16be(fixed + 2, C_IN)
        put_u32be(fixed + 4, ttl)
        put_u16be(fixed + 8, rr.rdlen)
        buf_append(out, fixed, 10)
        return buf_append(out, self.data + rr.rdata, rr.rdlen)

    def records_of(self, list names) -> list:
        """The records of the names (indices, as patched_names gives them), each an RR in
        wire form without compression, an RRset's records with its TTL, duplicates left out."""
        cdef list found = []
        cdef buf_t out
        cdef uint32_t name, k
        cdef int32_t run = -1
        buf_init(&out, 1024)
        try:
            for index in names:
                name = index
                for k in range(self.names[name].rr_first, self.names[name].rr_first + self.names[name].rr_count):
                    if self.rrs[k].first:
                        run = <int32_t>k
                    if self.rrs[k].dup:
                        continue
                    out.len = 0
                    self._put_transfer_rr(&out, k, self.rrs[run].ttl)
                    found.append(PyBytes_FromStringAndSize(<char*>out.data, out.len))
        finally:
            buf_free(&out)
        return found

    def names_in_order(self) -> list:
        """The lower-cased wire names in image order, with their flags (for tests)."""
        return [(bytes(self.lname(self.sorted_names[i])[:self.names[self.sorted_names[i]].len]),
                 self.names[self.sorted_names[i]].flags) for i in range(self.name_count)]


def _text(wire: bytes) -> str:
    import dns.name

    return dns.name.from_wire(wire, 0)[0].to_text()


# -- a zone changed in a few records ---------------------------------------------------------

cdef int _share_names(NativeZone a, NativeZone b) except -1:
    """b has a's names, in a's order: it borrows a's lower-cased names, order and table
    (a hands them to an owner both hold, the first time)."""
    cdef _NameArrays owner = a._names_owner
    if owner is None:
        owner = _NameArrays.__new__(_NameArrays)
        owner.lnames, owner.sorted_names, owner.table = a.lnames, a.sorted_names, a.table
        a._names_owner, a._names_borrowed = owner, 1
    b._names_owner, b._names_borrowed = owner, 1
    b.lnames, b.sorted_names, b.table = owner.lnames, owner.sorted_names, owner.table
    return 0


_DNSSEC_TYPES = frozenset((T_RRSIG, T_NSEC, T_NSEC3, T_NSEC3PARAM))


def patch_zone(NativeZone a, list removed, list added, list lines_after) -> object:
    """The zone a becomes when, at each change, the records of a with file order (seq) in
    [start, end) give way to those of a Records (fastdns._zonefile) read in their place.

    :param removed: (start, end) seq ranges, ascending.
    :param added: per change, (data, count, lines) of the records read.
    :param lines_after: per change, how many lines later the file's lines after it are.
    :returns: the new NativeZone, or None when the change adds or removes a name, makes or
        unmakes a cut, or touches what the names' order or case depends on: then the
        caller reads the file whole.
    :raises NativeZoneError: the changed records break a rule (file line and reason).
    """
    cdef NativeZone b = NativeZone.__new__(NativeZone)
    cdef uint32_t n_removed = 0, n_added = 0, i, k, seq, h, r, name, pos
    cdef int64_t delta
    cdef bytes data
    cdef const uint8_t* p
    cdef size_t off
    cdef int nlen
    cdef uint8_t lname[MAX_NAME]
    cdef int32_t found
    cdef list new_rrs = []
    if a.rdtypes & _DNSSEC_TYPES:
        return None  # signatures and chains span names: the file is read whole
    for start, end in removed:
        n_removed += end - start
    for chunk, count, _ in added:
        n_added += count
    # the records: a's, then the new ones appended (a's offsets stay good)
    data = a._data_obj + b"".join(chunk for chunk, _, _ in added)
    b._set_origin(a.origin_case, a.origin)
    b.label = a.label
    b._data_obj = data
    b.data = <const uint8_t*>PyBytes_AS_STRING(data)
    b.rr_count = a.rr_count - n_removed + n_added
    b.name_count = a.name_count
    b.name_cap = a.name_count if a.name_count else 1
    b.apex = a.apex
    b.soa_patchable = 1
    buf_init(&b.soa_serials, 64)
    _share_names(a, b)
    b.names = <name_t*>malloc(b.name_cap * sizeof(name_t))
    b.rrs = <rr_t*>malloc((b.rr_count if b.rr_count else 1) * sizeof(rr_t))
    if b.names == NULL or b.rrs == NULL:
        raise MemoryError()
    memcpy(b.names, a.names, a.name_count * sizeof(name_t))
    # where each record is in the new file's order, and on which line
    cdef bytearray new_seq = bytearray(4 * a.rr_count)
    cdef uint32_t* ns = <uint32_t*><char*>new_seq
    cdef bytearray lines = bytearray(4 * b.rr_count)
    cdef uint32_t* ln = <uint32_t*><char*>lines
    cdef const uint32_t* old_lines = <const uint32_t*>PyBytes_AS_STRING(a._lines)
    cdef int64_t shift = 0, line_shift = 0
    cdef uint32_t next_old = 0, out = 0, change
    cdef bytearray removed_marks = bytearray(a.rr_count)
    cdef uint8_t* is_removed = <uint8_t*><char*>removed_marks
    cdef list firsts = []
    for change in range(len(removed)):
        start, end = removed[change]
        chunk, count, chunk_lines = added[change]
        while next_old < <uint32_t>start:
            ns[next_old] = next_old + shift
            ln[next_old + shift] = old_lines[next_old] + line_shift
            next_old += 1
        for k in range(<uint32_t>start, <uint32_t>end):
            is_removed[k] = 1
        next_old = end
        firsts.append(start + shift)
        for k in range(count):
            ln[start + shift + k] = int.from_bytes(chunk_lines[4 * k:4 * k + 4], "little")
        shift += count - (end - start)
        line_shift += lines_after[change]
    while next_old < a.rr_count:
        ns[next_old] = next_old + shift
        ln[next_old + shift] = old_lines[next_old] + line_shift
        next_old += 1
    b._lines = bytes(lines)
    # the new records: their names must be names a had (the order of names stands)
    cdef dict by_name = {}
    off = len(a._data_obj)
    p = b.data
    for change in range(len(added)):
        chunk, count, _ = added[change]
        for k in range(count):
            nlen = name_length(p + off, len(data) - off)
            lower_copy(lname, p + off, nlen)
            found = b.find(lname, nlen)
            if found < 0 or not (b.names[found].flags & N_OWNER) \
                    or memcmp(b.case_name(<uint32_t>found), p + off, nlen) != 0:
                return None  # a new name, a name with records again, or written in another case
            if get_u16be(p + off + nlen) in _DNSSEC_TYPES:
                return None
            by_name.setdefault(found, []).append(
                (get_u16be(p + off + nlen), firsts[change] + k, <uint32_t>(off + nlen + 10),
                 get_u16be(p + off + nlen + 8), get_u32be(p + off + nlen + 4)))
            off += nlen + 10 + get_u16be(p + off + nlen + 8)
    cdef bytearray changed_marks = bytearray(a.name_count)
    cdef uint8_t* is_changed = <uint8_t*><char*>changed_marks
    for name in by_name:
        is_changed[<uint32_t>name] = 1
    for k in range(a.rr_count):
        if is_removed[a.rrs[k].seq]:  # by file order; rrs are by name
            is_changed[a.rrs[k].name] = 1
    cdef list changed = [n for n in range(a.name_count) if is_changed[n]]
    # records by (name, type, file order): a's runs, the changed names' rebuilt
    out = 0
    for r in range(a.name_count):
        name = a.sorted_names[r]
        b.names[name].rr_first = out
        if not is_changed[name]:
            for k in range(a.names[name].rr_first, a.names[name].rr_first + a.names[name].rr_count):
                if out >= b.rr_count:
                    raise AssertionError("more records than counted in a patch")
                b.rrs[out] = a.rrs[k]
                b.rrs[out].seq = ns[a.rrs[k].seq]
                out += 1
            b.names[name].rr_count = out - b.names[name].rr_first
            continue
        run = [(a.rrs[k].rtype, ns[a.rrs[k].seq], a.rrs[k].rdata, a.rrs[k].rdlen,
                get_u32be(a.data + a.rrs[k].rdata - 6))
               for k in range(a.names[name].rr_first, a.names[name].rr_first + a.names[name].rr_count)
               if not is_removed[a.rrs[k].seq]]
        run += by_name.get(name, [])
        run.sort()
        if not run and not (b.names[name].flags & N_APEX):
            return None  # the name lost its records: it becomes empty or goes
        for rtype, seq, rdata, rdlen, ttl in run:
            if out >= b.rr_count:
                raise AssertionError("more records than counted in a patch")
            b.rrs[out].name = name
            b.rrs[out].rtype = rtype
            b.rrs[out].seq = seq
            b.rrs[out].rdata = rdata
            b.rrs[out].rdlen = rdlen
            b.rrs[out].ttl = ttl
            b.rrs[out].first = 0
            b.rrs[out].dup = 0
            out += 1
        b.names[name].rr_count = out - b.names[name].rr_first
    if out != b.rr_count:
        raise AssertionError("records lost in a patch")
    for name in changed:
        if not b._rrsets_of(name):
            return None
    b._validate()  # the apex's SOA and NS, serial and negative TTL; every name's CNAME rule is its own
    b.rdtypes = a.rdtypes | {t for t, _, _, _, _ in sum(by_name.values(), [])}
    b.patched_from = id(a)
    b.patched_names = changed
    return b
