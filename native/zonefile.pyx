# SPDX-License-Identifier: MIT
# cython: language_level=3
"""Master files (RFC 1035 section 5) read by NLnet Labs' ldns into one buffer of wire-format
records: fastdns._zonefile.  The choice of ldns and its figures: docs/zone-parser.md.

ldns reads one RR at a time; each is copied into a growing C buffer and freed, so a zone
of millions of records makes no Python object per record, and the bytes are built once."""

from libc.errno cimport errno
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdio cimport FILE, fclose, feof, fopen
from libc.stdlib cimport free, realloc
from libc.string cimport memcpy, strerror
from cpython.bytes cimport PyBytes_FromStringAndSize

from ldns cimport (
    LDNS_RDF_TYPE_DNAME, LDNS_RR_CLASS_IN, LDNS_RR_TYPE_SOA, LDNS_STATUS_OK,
    LDNS_STATUS_SYNTAX_EMPTY, LDNS_STATUS_SYNTAX_INCLUDE, LDNS_STATUS_SYNTAX_ORIGIN,
    LDNS_STATUS_SYNTAX_TTL, ldns_get_errorstr_by_id, ldns_rdf, ldns_rdf_data,
    ldns_rdf_deep_free, ldns_rdf_new_frm_data, ldns_rdf_size, ldns_rr, ldns_rr_free,
    ldns_rr_get_class, ldns_rr_get_type, ldns_rr_new_frm_fp_l, ldns_rr_owner, ldns_rr_rd_count,
    ldns_rr_rdf, ldns_rr_ttl, ldns_status,
)

# ldns writes the TTL it was handed into a record that states none: handing it this value
# tells an implicit TTL from an explicit one (only an explicit TTL of exactly this is lost).
cdef uint32_t IMPLICIT_TTL = 0xFFFFFFFB
cdef size_t RR_FIXED = 10  # type, class, ttl, rdlength (RFC 1035 4.1.3)


# A master file that could not be read: fastdns's own error, str() 'file:line: reason'.
from fastdns.errors import ZoneError as ZoneSyntaxError


cdef struct Buf:
    uint8_t *p
    size_t len
    size_t cap


cdef int buf_reserve(Buf *b, size_t n) except -1:
    cdef size_t cap = b.cap or 1 << 16
    cdef uint8_t *p
    if b.len + n <= b.cap:
        return 0
    while cap < b.len + n:
        cap *= 2
    p = <uint8_t *>realloc(b.p, cap)
    if p == NULL:
        raise MemoryError()
    b.p, b.cap = p, cap
    return 0


cdef inline void put_u16(uint8_t *p, uint16_t v) noexcept nogil:
    p[0] = v >> 8
    p[1] = v & 0xFF


cdef inline void put_u32(uint8_t *p, uint32_t v) noexcept nogil:
    put_u16(p, v >> 16)
    put_u16(p + 2, v & 0xFFFF)


cdef class Records:
    """What parse_zone returns: `count` records back to back in `data`, each an RR in wire
    form without compression (owner, type, class, TTL, rdlength, rdata; RFC 1035 4.1.3), and
    in `lines` the file line each starts on (little-endian u32)."""

    cdef readonly Py_ssize_t count
    cdef readonly bytes data
    cdef readonly bytes lines
    cdef bytes _offsets

    @property
    def offsets(self) -> bytes:
        """count + 1 little-endian u64: where each record starts in data, then len(data)."""
        if self._offsets is None:
            self._offsets = record_offsets(self.data, self.count)
        return self._offsets


cdef bytes record_offsets(bytes data, Py_ssize_t count):
    cdef const uint8_t *p = data
    cdef bytearray out = bytearray(8 * (count + 1))
    cdef uint64_t *o = <uint64_t *><char *>out  # x86-64 and arm64: little-endian
    cdef size_t at = 0
    cdef Py_ssize_t i
    for i in range(count):
        o[i] = at
        while p[at]:  # the owner's labels, up to the root
            at += 1 + p[at]
        at += 1 + RR_FIXED + (p[at + 9] << 8 | p[at + 10])
    o[count] = at
    return bytes(out)


cdef class _Reader:
    """One pass over one file: ldns's cursor state, the TTL rules, the output buffers."""

    cdef str filename
    cdef bytes origin
    cdef long long fallback_ttl
    cdef FILE *fp
    cdef ldns_rdf *current_origin
    cdef ldns_rdf *prev_owner
    cdef int line_nr
    cdef Buf data
    cdef Buf lines
    cdef Py_ssize_t count
    # RFC 2308 section 4 as dnspython applies it: $TTL, else the last explicit TTL, else
    # the SOA MINIMUM once the SOA is read.
    cdef uint32_t default_ttl, last_ttl
    cdef bint default_known, default_from_soa, last_known

    def __cinit__(self, str filename, bytes origin, long long fallback_ttl):
        self.filename, self.origin, self.fallback_ttl = filename, origin, fallback_ttl
        self.current_origin = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, len(origin), <char *>origin)
        # A first record with a blank owner belongs to the origin, as in dnspython.
        self.prev_owner = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, len(origin), <char *>origin)
        if self.current_origin == NULL or self.prev_owner == NULL:
            raise MemoryError()

    def __dealloc__(self):
        if self.fp != NULL:
            fclose(self.fp)
        ldns_rdf_deep_free(self.current_origin)
        ldns_rdf_deep_free(self.prev_owner)
        free(self.data.p)
        free(self.lines.p)

    cdef error(self, int line, str reason):
        return ZoneSyntaxError(self.filename, line or None, reason)

    cdef Records read(self):
        cdef bytes path = self.filename.encode()
        self.fp = fopen(path, "r")
        if self.fp == NULL:
            raise self.error(0, f"cannot read zone file: {strerror(errno).decode()}")
        while not feof(self.fp):
            self.next_entry()
        records = Records()
        records.count = self.count
        records.data = PyBytes_FromStringAndSize(<char *>self.data.p, self.data.len)
        records.lines = PyBytes_FromStringAndSize(<char *>self.lines.p, self.lines.len)
        return records

    cdef int next_entry(self) except -1:
        """One logical line (a record may span lines in parentheses): a record, a
        directive, or nothing."""
        cdef ldns_rr *rr = NULL
        cdef uint32_t ttl = IMPLICIT_TTL
        cdef int line = self.line_nr + 1
        cdef ldns_status status
        with nogil:
            status = ldns_rr_new_frm_fp_l(&rr, self.fp, &ttl, &self.current_origin,
                                          &self.prev_owner, &self.line_nr)
        if status == LDNS_STATUS_OK:
            try:
                self.add(rr, line)
            finally:
                ldns_rr_free(rr)
        elif status == LDNS_STATUS_SYNTAX_TTL:
            self.default_ttl, self.default_known, self.default_from_soa = ttl, True, False
        elif status == LDNS_STATUS_SYNTAX_INCLUDE:
            raise self.error(line, "zone file directive '$INCLUDE' is not allowed")
        elif status != LDNS_STATUS_SYNTAX_EMPTY and status != LDNS_STATUS_SYNTAX_ORIGIN:
            reason = ldns_get_errorstr_by_id(status).decode()
            raise self.error(line, f"{reason} in '{line_text(self.filename, line)}'")
        return 0

    cdef int add(self, ldns_rr *rr, int line) except -1:
        cdef ldns_rdf *owner = ldns_rr_owner(rr)
        cdef ldns_rdf *rdf
        cdef size_t i, n = ldns_rr_rd_count(rr), rdlength = 0
        cdef uint8_t *p
        if ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN:
            raise self.error(line, "RR class is not zone's class")
        if not in_zone(ldns_rdf_data(owner), ldns_rdf_size(owner), self.origin):
            raise self.error(line, outside_zone(owner, self.origin))
        for i in range(n):
            rdlength += ldns_rdf_size(ldns_rr_rdf(rr, i))
        if rdlength > 0xFFFF:
            raise self.error(line, f"rdata of {rdlength} octets is too long")
        buf_reserve(&self.data, ldns_rdf_size(owner) + RR_FIXED + rdlength)
        buf_reserve(&self.lines, 4)
        p = self.data.p + self.data.len
        memcpy(p, ldns_rdf_data(owner), ldns_rdf_size(owner))
        p += ldns_rdf_size(owner)
        put_u16(p, ldns_rr_get_type(rr))
        put_u16(p + 2, ldns_rr_get_class(rr))
        put_u32(p + 4, self.effective_ttl(rr, line))
        put_u16(p + 8, rdlength)
        p += RR_FIXED
        for i in range(n):
            rdf = ldns_rr_rdf(rr, i)
            memcpy(p, ldns_rdf_data(rdf), ldns_rdf_size(rdf))
            p += ldns_rdf_size(rdf)
        self.data.len = p - self.data.p
        (<uint32_t *>(self.lines.p + self.lines.len))[0] = line  # little-endian hosts
        self.lines.len += 4
        self.count += 1
        return 0

    cdef uint32_t effective_ttl(self, ldns_rr *rr, int line) except? 0xFFFFFFFF:
        """dnspython's Reader: explicit TTL; else $TTL, or the last explicit TTL (which wins
        over a default taken from the SOA); the SOA sets that default when no $TTL did."""
        cdef uint32_t ttl = ldns_rr_ttl(rr)
        cdef bint known = True
        if ttl != IMPLICIT_TTL:
            self.last_ttl, self.last_known = ttl, True
        elif self.last_known and (not self.default_known or self.default_from_soa):
            ttl = self.last_ttl
        elif self.default_known:
            ttl = self.default_ttl
        else:
            known = False
        if not self.default_known and ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA:
            self.default_ttl, self.default_known, self.default_from_soa = soa_minimum(rr), True, True
            if not known:
                ttl, known = self.default_ttl, True
        if known:
            return ttl
        if self.fallback_ttl < 0:
            raise self.error(line, "Missing default TTL value")
        return <uint32_t>self.fallback_ttl


cdef str line_text(str filename, int line):
    """The start of the line an error is on: ldns's reasons do not quote the offending token."""
    with open(filename, encoding="utf-8", errors="replace") as f:
        for number, text in enumerate(f, 1):
            if number == line:
                text = text.strip()
                return text if len(text) <= 80 else text[:77] + "..."
    return ""


cdef uint32_t soa_minimum(ldns_rr *rr) noexcept:
    cdef const uint8_t *p = ldns_rdf_data(ldns_rr_rdf(rr, 6))
    return p[0] << 24 | p[1] << 16 | p[2] << 8 | p[3]


cdef inline uint8_t lower(uint8_t c) noexcept nogil:
    return c + 32 if 65 <= c <= 90 else c


cdef bint in_zone(const uint8_t *name, size_t size, bytes origin) noexcept:
    """The wire name is the origin or below it (RFC 4343: letters compare without case)."""
    cdef const uint8_t *o = origin
    cdef size_t olen = len(origin), at = 0, i
    while at < size and size - at > olen:
        at += 1 + name[at]
    if size - at != olen:
        return False
    for i in range(olen):
        if lower(name[at + i]) != lower(o[i]):
            return False
    return True


cdef str outside_zone(ldns_rdf *owner, bytes origin):
    """dnspython's message, names in its presentation form (built on this error path only)."""
    import dns.name

    name = dns.name.from_wire(ldns_rdf_data(owner)[:ldns_rdf_size(owner)], 0)[0]
    zone = dns.name.from_wire(origin, 0)[0]
    return f"{name} is outside the zone {zone}"


def parse_zone(str filename, bytes origin, long long default_ttl=3600) -> Records:
    """Read the master file `filename` of the zone whose apex is the wire name `origin`.

    $ORIGIN and $TTL apply; $INCLUDE is refused (as fastdns.zone reads with dnspython);
    owners and rdata names are qualified against the origin, case kept as written.
    `default_ttl` is the TTL of a record that states none before any $TTL, explicit TTL or
    SOA (where dnspython fails with 'Missing default TTL value'; a negative value fails so).
    :raises ZoneSyntaxError: naming file, line and reason.
    """
    if not origin or len(origin) > 255:
        raise ZoneSyntaxError(filename, None, "bad zone origin")
    return _Reader(filename, origin, default_ttl).read()
