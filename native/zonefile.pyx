# SPDX-License-Identifier: MIT
# cython: language_level=3
"""Master files (RFC 1035 section 5) read by NLnet Labs' ldns into one buffer of wire-format
records: fastdns._zonefile.  The choice of ldns and its figures: docs/zone-parser.md.

ldns reads one RR at a time; each is copied into a growing C buffer and freed, so a zone
of millions of records makes no Python object per record, and the bytes are built once."""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdio cimport FILE, fclose, feof, ferror, fopen, fputs, ftell


cdef extern from "<stdio.h>" nogil:
    FILE *fmemopen(void *buf, size_t size, const char *mode)
cdef extern from "<stdio_ext.h>" nogil:
    int __fsetlocking(FILE *fp, int type)
    int FSETLOCKING_BYCALLER
cdef extern from "<malloc.h>" nogil:
    int mallopt(int param, int value)
    int malloc_trim(size_t pad)
    int M_TOP_PAD
from libc.stdlib cimport free, realloc
from libc.string cimport memchr, memcmp, memcpy
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize

from ldns cimport (
    LDNS_RDF_TYPE_DNAME, LDNS_RR_CLASS_IN, LDNS_RR_TYPE_SOA, LDNS_STATUS_OK,
    LDNS_STATUS_SYNTAX_EMPTY, LDNS_STATUS_SYNTAX_INCLUDE, LDNS_STATUS_SYNTAX_ORIGIN,
    LDNS_STATUS_SYNTAX_TTL, ldns_get_errorstr_by_id, ldns_rdf, ldns_rdf_data,
    ldns_rdf_deep_free, ldns_rdf_new_frm_data, ldns_rdf_size, ldns_rr, ldns_rr_free,
    ldns_rr_get_class, ldns_rr_get_type, ldns_rr_new_frm_fp_l, ldns_rr_owner, ldns_rr_rd_count,
    ldns_rr_rdf, ldns_rr_ttl, ldns_status, ldns_pkt, ldns_wire2pkt, ldns_pkt_free, ldns_pkt_get_rcode,
    ldns_pkt_answer, ldns_pkt_tsig, ldns_rr_list, ldns_rr_list_rr_count, ldns_rr_list_rr, ldns_rr2str,
    ldns_pkt_tsig_verify_next, ldns_rdf_clone, ldns_dname_compare, LDNS_RDF_TYPE_INT16_DATA,
)

# ldns writes the TTL it was handed into a record that states none: handing it this value
# tells an implicit TTL from an explicit one (only an explicit TTL of exactly this is lost).
cdef uint32_t IMPLICIT_TTL = 0xFFFFFFFB
cdef size_t RR_FIXED = 10  # type, class, ttl, rdlength (RFC 1035 4.1.3)


# A master file that could not be read: fastdns's own error, str() 'file:line: reason'.
from fastdns.errors import ZoneError as ZoneSyntaxError

include "lines.pxi"
include "records.pxi"
include "axfr.pxi"

# ldns mallocs and frees buffers of tens of kB for every record it reads.  With glibc's
# default padding each free at the top of the heap gives it back to the kernel (brk), and the
# next malloc takes it again: a system call per record, and a TLB shootdown on every CPU
# while another thread runs (a 1 M-name file read 5 times slower).  A 16 MB pad keeps the
# top of the heap in place; memory the process no longer uses above it is still returned.
mallopt(M_TOP_PAD, 16 << 20)


def trim_heap() -> None:
    """Give the kernel back the heap's free pages, the pad above included: after a load
    (the parse's and the compile's buffers freed), what the process keeps while serving."""
    malloc_trim(0)

try:  # the opt-in build's faster reader of a file's records (GPL-3+: docs/zone-parser.md)
    from fastdns import _zscanner
except ImportError:
    _zscanner = None


cdef int buf_reserve(Buf *b, size_t n) except -1:
    if buf_grow(b, n) < 0:
        raise MemoryError()
    return 0


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
    cdef const uint8_t *origin_p        # origin's bytes, for the reading done without the GIL
    cdef size_t origin_len
    cdef bint failed                    # read_fast met what only read_span reports
    cdef const char *span               # the text read_span or read_fast reads, for lines
    cdef size_t span_len

    def __cinit__(self, str filename, bytes origin, long long fallback_ttl):
        self.filename, self.origin, self.fallback_ttl = filename, origin, fallback_ttl
        self.origin_p, self.origin_len = origin, len(origin)
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
        try:
            with open(self.filename, "rb") as f:
                text = f.read()
        except OSError as e:
            raise self.error(0, f"cannot read zone file: {e.strerror}") from None
        return self.read_span(text, 0, len(text), 1)

    cdef int open_span(self, bytes text, Py_ssize_t start, Py_ssize_t end, int first_line) except -1:
        """ldns's cursor on text[start:end] (which the caller keeps alive), at first_line."""
        cdef char *p = text
        self.fp = fmemopen(p + start, end - start, "r")
        if self.fp == NULL:
            raise MemoryError()
        # One thread reads this stream: ldns takes each character with getc, which would
        # otherwise lock the stream for every one of them.
        __fsetlocking(self.fp, FSETLOCKING_BYCALLER)
        self.span, self.span_len = p + start, end - start
        self.line_nr = first_line - 1
        return 0

    cdef Records read_span(self, bytes text, Py_ssize_t start, Py_ssize_t end, int first_line):
        """The records of text[start:end], whose first line is line first_line of the file,
        in the state (origin, $TTL) the reader is in."""
        self.read_into(text, start, end, first_line)
        return self.take()

    cdef int read_into(self, bytes text, Py_ssize_t start, Py_ssize_t end, int first_line) except -1:
        """read_span, the records left in the reader's buffers."""
        if end <= start:
            return 0
        self.open_span(text, start, end, first_line)
        try:
            while not feof(self.fp):
                self.next_entry()
        finally:
            fclose(self.fp)
            self.fp, self.span = NULL, NULL
        return 0

    def read_fast(self, bytes text, Py_ssize_t start, Py_ssize_t end, int first_line) -> None:
        """read_span of text[start:end] without the GIL, on a thread of its own, for a
        reader whose header set a $TTL (so every implicit TTL is that one) over lines with
        no directive.  Anything read_span would report sets `failed` instead: the caller
        then reads the file the ordinary way, which names the line and the reason."""
        self.failed = True  # until read through
        self.open_span(text, start, end, first_line)
        try:
            with nogil:
                self.failed = self.read_all_fast() < 0
        finally:
            fclose(self.fp)
            self.fp, self.span = NULL, NULL

    cdef int next_line(self) noexcept nogil:
        """The line the next record starts on: ldns reads the comment lines above a record
        with it, counting them, so its count before the call is theirs."""
        cdef long at
        at = ftell(self.fp)
        if at < 0 or <size_t>at > self.span_len:
            return self.line_nr + 1
        return self.line_nr + 1 + <int>newlines(self.span + at, record_start(self.span + at, self.span + self.span_len))

    def read_whole_fast(self, bytes text) -> None:
        """read_fast of a whole file, its directives too: $ORIGIN, and $TTL, which must come
        before the first record whose TTL it gives (else `failed`: the ordinary reading
        applies dnspython's other rules, or reports the error)."""
        self.failed = True
        self.open_span(text, 0, len(text), 1)
        try:
            with nogil:
                self.failed = self.read_all_fast(1) < 0
        finally:
            fclose(self.fp)
            self.fp, self.span = NULL, NULL

    cdef int read_all_fast(self, bint directives=0) noexcept nogil:
        cdef ldns_rr *rr
        cdef uint32_t ttl
        cdef ldns_status status
        cdef int line, added
        while not feof(self.fp):
            rr = NULL
            ttl = IMPLICIT_TTL
            line = self.next_line()
            status = ldns_rr_new_frm_fp_l(&rr, self.fp, &ttl, &self.current_origin, &self.prev_owner,
                                          &self.line_nr)
            if status == LDNS_STATUS_OK:
                added = self.add_fast(rr, line)
                ldns_rr_free(rr)
                if added < 0:
                    return -1
            elif directives and status == LDNS_STATUS_SYNTAX_TTL:
                self.default_ttl, self.default_known, self.default_from_soa = ttl, True, False
            elif not (status == LDNS_STATUS_SYNTAX_EMPTY or (directives and status == LDNS_STATUS_SYNTAX_ORIGIN)):
                return -1
        return 0

    cdef int add_fast(self, ldns_rr *rr, int line) noexcept nogil:
        """add() for read_fast: -1 where add() raises."""
        cdef ldns_rdf *owner = ldns_rr_owner(rr)
        cdef size_t i, n = ldns_rr_rd_count(rr), rdlength = 0
        cdef uint32_t ttl = ldns_rr_ttl(rr)
        cdef uint8_t *p
        if ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN:
            return -1
        if ttl == IMPLICIT_TTL and not (self.default_known and not self.default_from_soa):
            return -1  # no $TTL yet: dnspython's other rules, in the ordinary reading
        if not name_in_zone(ldns_rdf_data(owner), ldns_rdf_size(owner), self.origin_p, self.origin_len):
            return -1
        for i in range(n):
            rdlength += ldns_rdf_size(ldns_rr_rdf(rr, i))
        if rdlength > 0xFFFF:
            return -1
        if buf_grow(&self.data, ldns_rdf_size(owner) + RR_FIXED + rdlength) < 0 or buf_grow(&self.lines, 4) < 0:
            return -1
        p = self.data.p + self.data.len
        memcpy(p, ldns_rdf_data(owner), ldns_rdf_size(owner))
        p += ldns_rdf_size(owner)
        put_u16(p, ldns_rr_get_type(rr))
        put_u16(p + 2, ldns_rr_get_class(rr))
        put_u32(p + 4, ttl if ttl != IMPLICIT_TTL else self.default_ttl)  # $TTL: effective_ttl's rule here
        put_u16(p + 8, rdlength)
        p += RR_FIXED
        for i in range(n):
            memcpy(p, ldns_rdf_data(ldns_rr_rdf(rr, i)), ldns_rdf_size(ldns_rr_rdf(rr, i)))
            p += ldns_rdf_size(ldns_rr_rdf(rr, i))
        self.data.len = p - self.data.p
        (<uint32_t *>(self.lines.p + self.lines.len))[0] = line  # little-endian hosts
        self.lines.len += 4
        self.count += 1
        return 0

    cdef Records take(self):
        """The records read so far; the reader starts a new batch."""
        return self.take_with(None)

    cdef Records take_with(self, _Reader after):
        """take(), followed by the records of the reader after (None: no more), in one
        copy: a big file's halves, tens of MB, are not copied twice."""
        cdef Buf empty
        empty.p, empty.len, empty.cap = NULL, 0, 0
        records = Records()
        records.count = self.count + (after.count if after is not None else 0)
        records.data = _joined(&self.data, &after.data if after is not None else &empty)
        records.lines = _joined(&self.lines, &after.lines if after is not None else &empty)
        self.data.len = self.lines.len = 0
        self.count = 0
        if after is not None:
            after.data.len = after.lines.len = 0
            after.count = 0
        return records

    cdef int next_entry(self) except -1:
        """One logical line (a record may span lines in parentheses): a record, a
        directive, or nothing."""
        cdef ldns_rr *rr = NULL
        cdef uint32_t ttl = IMPLICIT_TTL
        cdef int line = self.next_line()
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


cdef bytes _joined(const Buf* a, const Buf* b):
    cdef bytes out = PyBytes_FromStringAndSize(NULL, a.len + b.len)
    cdef char* p = PyBytes_AS_STRING(out)
    if a.len:
        memcpy(p, a.p, a.len)
    if b.len:
        memcpy(p + a.len, b.p, b.len)
    return out


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


cdef bint in_zone(const uint8_t *name, size_t size, bytes origin) noexcept:
    """The wire name is the origin or below it (RFC 4343: letters compare without case)."""
    return name_in_zone(name, size, origin, len(origin))


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


#: below this, records are read by ldns even where libzscanner is built: its scanner (some
#: 200 kB, cleared for each file) costs more than a small zone's records
ZSCANNER_MIN_BYTES = 1 << 16
#: below this, a file is read on one thread: a second one would not pay for its start
PARALLEL_MIN_BYTES = 1 << 20
#: lines searched after the middle of a file for one to split it at
SPLIT_SEARCH_LINES = 1000


def parse_text(str filename, bytes origin, bytes text, long long default_ttl=3600) -> Records:
    """parse_zone over the file's text, read already, without the GIL where it can be
    (zones load on several threads at once).  A small file is read in one pass, its
    directives too, when a $TTL gives every implicit TTL.  A bigger one whose header (the
    lines before the first record) sets $TTL, with no directive after it, has the records
    after the header read so, a big file in two halves at once, the second, from a line
    that names its owner, on a thread of its own.  Whatever that reading meets that is not
    a plain record sends the file to the ordinary reading, which reports it; the records
    are the same either way.

    :raises ZoneSyntaxError: as parse_zone.
    """
    if not origin or len(origin) > 255:
        raise ZoneSyntaxError(filename, None, "bad zone origin")
    cdef Records records = None
    cdef _Reader reader
    cdef size_t header_end = 0, split
    if len(text) < ZSCANNER_MIN_BYTES:  # a small zone (a hoster's): one pass, header and all
        reader = _Reader(filename, origin, default_ttl)
        reader.read_whole_fast(text)
        if not reader.failed:
            records = reader.take()
    else:
        header_end = _header_end(text)
    if records is None and header_end and header_end < <size_t>len(text) \
            and not _directive_after(text, header_end - 1):
        split = _split_point(text, header_end) if len(text) >= PARALLEL_MIN_BYTES else 0
        records = _parse_fast(filename, origin, text, header_end, split, default_ttl)
    if records is None:
        records = _Reader(filename, origin, default_ttl).read_span(text, 0, len(text), 1)
    return records


cdef Records _parse_fast(str filename, bytes origin, bytes text, size_t header_end, size_t split,
                         long long default_ttl):
    """The records of text read after its header without the GIL, from split on a thread
    of its own when split is not 0; None: read it the ordinary way."""
    import os
    import threading

    cdef _Reader first
    cdef _Reader second = _Reader(filename, origin, -1)
    cdef Records records
    try:
        header = second.read_span(text, 0, header_end, 1)
    except ZoneSyntaxError:
        return None  # the ordinary reading reports it
    if header.count or not second.default_known or second.default_from_soa:
        return None  # implicit TTLs would depend on the records before
    body_line = text.count(b"\n", 0, header_end) + 1  # the line the records start on
    if _zscanner is not None and len(text) - header_end >= ZSCANNER_MIN_BYTES \
            and os.environ.get("FASTDNS_PARSER") != "ldns":
        read = _zscanner.read_records(
            PyBytes_FromStringAndSize(<char *>ldns_rdf_data(second.current_origin),
                                      ldns_rdf_size(second.current_origin)),
            text, header_end, body_line, second.default_ttl)
        if read is None:
            return None  # ldns reads it, and reports what stopped libzscanner
        records = Records()
        records.count, records.data, records.lines = read
        return records
    if not split:
        second.read_fast(text, header_end, len(text), body_line)
        return None if second.failed else second.take()
    nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    def read_second() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)  # a reload's, if lowered
            second.read_fast(text, split, len(text), text.count(b"\n", 0, split) + 1)
        except BaseException:
            pass  # second.failed stays set: the file is read whole

    first = _Reader(filename, origin, default_ttl)
    first.read_span(text, 0, header_end, 1)  # its state: the header's, as second's
    thread = threading.Thread(target=read_second, name="fastdns-parse", daemon=True)
    thread.start()
    try:
        # this half the same way: a reading that holds the GIL is a third slower, and the
        # two halves would not end together.  A failure (perhaps the split's doing: a record
        # cut in two) sends the file to the ordinary reading, which tells.
        first.read_fast(text, header_end, split, body_line)
    finally:
        thread.join()
    if first.failed or second.failed:
        return None
    return first.take_with(second)


cdef size_t _header_end(bytes text):
    """Where the lines before the first record end: blank lines, comments, directives."""
    cdef const char* p = text
    cdef size_t n = len(text), at = 0, k
    cdef const char* nl
    while at < n:
        k = at
        while k < n and (p[k] == 32 or p[k] == 9):
            k += 1
        if k < n and p[k] not in (10, 13, 59) and not (k == at and p[k] == 36):
            return at  # a record (a blank owner too: the origin's)
        nl = <const char*>memchr(p + at, 10, n - at)
        if nl == NULL:
            return n
        at = nl - p + 1
    return n


cdef size_t _split_point(bytes text, size_t header_end):
    """A line start near the middle of the records where a second reader can begin: the
    line names its owner, and neither it nor the line before holds a quote or a
    parenthesis (a record cut in two fails to read and is read whole; these make that
    unlikely).  0 for none."""
    cdef const char* p = text
    cdef size_t n = len(text), at, prev, end, k
    cdef int tries
    cdef const char* nl
    if header_end >= n:
        return 0
    at = header_end + (n - header_end) // 2
    nl = <const char*>memchr(p + at, 10, n - at)
    if nl == NULL:
        return 0
    prev, at = at, nl - p + 1
    for tries in range(SPLIT_SEARCH_LINES):
        nl = <const char*>memchr(p + at, 10, n - at)
        if nl == NULL:
            return 0
        end = nl - p + 1
        if p[at] not in (32, 9, 10, 13, 59, 36) and _plain_line(p, prev, end):
            return at
        prev, at = at, end
    return 0


cdef bint _plain_line(const char* p, size_t start, size_t end) noexcept:
    """No quote and no parenthesis in p[start:end]."""
    cdef size_t k
    for k in range(start, end):
        if p[k] == 34 or p[k] == 40 or p[k] == 41:
            return False
    return True


def parse_spans(str filename, bytes origin, bytes text, Py_ssize_t header_end, list spans) -> list:
    """The records of some spans of a master file's text, for a reload that re-reads only
    the lines that changed.  text[:header_end] (the lines before the first record) sets
    the state every span starts in; each span, (start, end, first line), starts with a
    line that names its owner.

    :raises ZoneSyntaxError: as parse_zone, naming the file's line.
    :raises ValueError: the header leaves no $TTL in force (a span's implicit TTLs would
        depend on the records before it): read the whole file.
    """
    cdef _Reader reader = _Reader(filename, origin, -1)
    cdef Records header = reader.read_span(text, 0, header_end, 1)
    if header.count or not reader.default_known or reader.default_from_soa:
        raise ValueError("no $TTL before the first record")
    return [reader.read_span(text, start, end, line) for start, end, line in spans]


# -- what changed between two versions of a file ---------------------------------------------

cdef enum:
    RESYNC_WINDOW = 48      # lines searched, on either side, to find the two texts agreeing again


cdef size_t* line_starts(const char* p, size_t n, size_t* count) except NULL:
    """Offsets where each line begins, then n.  An empty text has no lines (not one empty
    line: a span of it would take in the line after it)."""
    cdef size_t cap = 1024, k = 1, at = 0
    cdef size_t* out = <size_t*>realloc(NULL, cap * sizeof(size_t))
    cdef size_t* grown
    cdef const char* nl
    if out == NULL:
        raise MemoryError()
    out[0] = 0
    if n == 0:
        count[0] = 0
        return out
    while at < n:
        nl = <const char*>memchr(p + at, 10, n - at)
        if nl == NULL or <size_t>(nl - p) + 1 >= n:
            break
        at = <size_t>(nl - p) + 1
        if k + 2 > cap:
            cap *= 2
            grown = <size_t*>realloc(out, cap * sizeof(size_t))
            if grown == NULL:
                free(out)
                raise MemoryError()
            out = grown
        out[k] = at
        k += 1
    out[k] = n
    count[0] = k
    return out


cdef inline bint same_line(const char* a, const size_t* la, size_t i, const char* b, const size_t* lb,
                           size_t j) noexcept nogil:
    cdef size_t n = la[i + 1] - la[i]
    return n == lb[j + 1] - lb[j] and memcmp(a + la[i], b + lb[j], n) == 0


cdef inline bint continues(const char* p, const size_t* l, size_t i, size_t count) noexcept nogil:
    """Line i has no owner of its own (it starts with a blank): the owner above it is its."""
    if i >= count or l[i + 1] == l[i]:
        return False
    return p[l[i]] == 32 or p[l[i]] == 9


cdef inline bint starts_entry(const char* p, const size_t* l, size_t i) noexcept nogil:
    """Line i starts with something other than a blank, a comment or nothing."""
    if l[i + 1] == l[i]:
        return False
    return p[l[i]] not in (32, 9, 59, 10, 13)


cdef list _spans_in(bytes old, bytes new, size_t start, size_t old_end, size_t new_end):
    """changed_spans' alignment, within old[start:old_end] and new[start:new_end], which
    differ: (old first line, old end line, new first line, new end line), lines counted
    from 0 at start, ends exclusive, then the old start, old stop, new start and new stop
    offsets of those lines; each span starts at a line naming its owner (or at start) and
    takes in the lines after it that have none of their own."""
    cdef const char* a = <const char*>old + start
    cdef const char* b = <const char*>new + start
    cdef size_t na, nb, i = 0, j = 0, ea, eb, da, db, s, i0, j0
    cdef size_t* la = line_starts(a, old_end - start, &na)
    cdef size_t* lb = NULL
    cdef bint found
    cdef list spans = []
    try:
        lb = line_starts(b, new_end - start, &nb)
        while i < na and j < nb:
            if not same_line(a, la, i, b, lb, j):
                break
            i += 1
            j += 1
        ea, eb = na, nb
        while ea > i and eb > j:
            if not same_line(a, la, ea - 1, b, lb, eb - 1):
                break
            ea -= 1
            eb -= 1
        while i < ea or j < eb:
            if i < ea and j < eb:
                if same_line(a, la, i, b, lb, j):
                    i += 1
                    j += 1
                    continue
            found = False
            for s in range(1, 2 * RESYNC_WINDOW):
                for da in range(0, s + 1):
                    db = s - da
                    if i + da > ea or j + db > eb:
                        continue
                    if i + da == ea and j + db == eb:
                        found = True
                    elif i + da < ea and j + db < eb:
                        found = same_line(a, la, i + da, b, lb, j + db)
                    if found:
                        break
                if found:
                    break
            if not found:
                da, db = ea - i, eb - j
            i0, j0 = i, j
            while j0 > 0 and i0 > 0:  # back to a line naming its owner
                if j0 < nb and starts_entry(b, lb, j0):
                    break
                i0 -= 1
                j0 -= 1
            i += da
            j += db
            while i < na and continues(b, lb, j, nb):  # lines that take their owner from the span
                i += 1
                j += 1
            if spans and spans[len(spans) - 1][1] >= i0:  # overlaps the one before: merge
                i0 = spans[len(spans) - 1][0]  # (no negative indices: wraparound is off)
                j0 = spans[len(spans) - 1][2]
                spans.pop()
            spans.append((i0, i, j0, j))
        return [(i0, i, j0, j, start + la[i0], start + la[i], start + lb[j0], start + lb[j])
                for i0, i, j0, j in spans]
    finally:
        free(la)
        free(lb)


def changed_spans(bytes old, bytes new, int first_record_line):
    """The regions where new differs from old, line-aligned: a list of (old first line,
    old end line, new start offset, new end offset, new first line), lines counted from 1,
    ends exclusive; each region starts at a line naming its owner, and ends before a line
    that names its own.  None when the change is not of that kind: it reaches the lines
    before the first record, adds or removes a directive, or lies within parentheses (a
    record on several lines); then the file is read whole.

    The texts are compared whole first (their common start and end), so a file of
    millions of lines with two lines changed is aligned line by line only around them."""
    cdef size_t start, old_end, new_end, line0, header
    if old == new:
        return []
    start = _common_prefix(old, new)
    start = old.rfind(b"\n", 0, start) + 1
    while start > 0 and old[start:start + 1] in (b" ", b"\t", b";", b"\n", b"\r", b""):
        start = old.rfind(b"\n", 0, start - 1) + 1  # back to a line naming its owner
    old_end, new_end = _common_suffix_starts(old, new, start)
    line0 = old.count(b"\n", 0, start)
    spans = []
    for i0, i, j0, j, old_start, old_stop, span_start, span_stop in _spans_in(old, new, start, old_end, new_end):
        if line0 + i0 + 1 < first_record_line or not _plain(old, old_start, old_stop) \
                or not _plain(new, span_start, span_stop):
            return None
        if any(_blank_owner_at(text, at) for text, at in
               ((old, old_start), (old, old_stop), (new, span_start), (new, span_stop))):
            return None  # a record whose owner is that of a line the change may move: read whole
        spans.append((line0 + i0 + 1, line0 + i + 1, span_start, span_stop, line0 + j0 + 1))
    header = 0
    for _ in range(first_record_line - 1):
        header = new.index(b"\n", header) + 1
    if spans and (_directive_after(new, header - 1 if header else 0)
                  or _directive_after(old, header - 1 if header else 0)):
        return None  # a directive among the records: the state a span starts in is not the header's
    if spans and (new.find(b"(", header) >= 0 or new.find(b")", header) >= 0) \
            and not _outside_parentheses(new, [span_start for _, _, span_start, _, _ in spans]):
        return None
    return spans


cdef bint _blank_owner_at(bytes text, size_t at):
    """The first record from offset at (past blank and comment lines) starts with a blank:
    its owner is that of the record above it."""
    cdef const char* p = text
    cdef size_t n = len(text)
    cdef const char* first
    if at >= n:
        return False
    first = record_start(p + at, p + n)
    return first < p + n and (first[0] == 32 or first[0] == 9)


cdef bint _directive_after(bytes text, size_t start):
    """text has a line starting with '$' after offset start: text.find(b"\\n$", start) >= 0,
    by looking for the rare '$' (a search for the two bytes stops at every newline)."""
    cdef const char* p = text
    cdef size_t n = len(text), at = start
    cdef const char* hit
    while at < n:
        hit = <const char*>memchr(p + at, 36, n - at)
        if hit == NULL:
            return False
        at = hit - p
        if at > start and p[at - 1] == 10:
            return True
        at += 1
    return False


cdef size_t _common_prefix(bytes old, bytes new):
    cdef const char* a = old
    cdef const char* b = new
    cdef size_t n = min(len(old), len(new)), k = 0
    while k + 8 <= n and memcmp(a + k, b + k, 8) == 0:
        k += 8
    while k < n and a[k] == b[k]:
        k += 1
    return k


cdef tuple _common_suffix_starts(bytes old, bytes new, size_t start):
    """Where the texts' common end begins in each (after start), moved to a line start and
    past the lines there that have no owner of their own."""
    cdef const char* a = old
    cdef const char* b = new
    cdef size_t na = len(old), nb = len(new), k = 0
    cdef size_t limit = min(na, nb) - start
    cdef Py_ssize_t nl
    while k + 8 <= limit and memcmp(a + na - k - 8, b + nb - k - 8, 8) == 0:
        k += 8
    while k < limit and a[na - 1 - k] == b[nb - 1 - k]:
        k += 1
    cdef size_t oe = na - k, ne = nb - k
    if oe > start and a[oe - 1] != 10:  # mid-line: on to the next line start
        nl = old.find(b"\n", oe)
        k = (nl + 1 if nl >= 0 else na) - oe
        oe += k
        ne += k
    while oe < na and a[oe] in (32, 9):  # a line without its own owner goes with the span
        nl = old.find(b"\n", oe)
        k = (nl + 1 if nl >= 0 else na) - oe
        oe += k
        ne += k
    return oe, ne


cdef bint _plain(bytes text, size_t start, size_t end):
    """No directive and no parenthesis in text[start:end]."""
    cdef const char* p = text
    cdef size_t k
    for k in range(start, end):
        if p[k] == 40 or p[k] == 41:
            return False
        if p[k] == 36 and (k == 0 or p[k - 1] == 10):
            return False
    return True


cdef bint _outside_parentheses(bytes text, list starts):
    """Every start is outside parentheses (counting over the whole text, which must balance)."""
    cdef const char* p = text
    cdef size_t k, n = len(text)
    cdef long depth = 0
    cdef size_t next_i = 0
    cdef list marks = sorted(starts)
    for k in range(n):
        while next_i < len(marks) and <size_t>marks[next_i] == k:
            if depth:
                return False
            next_i += 1
        if p[k] == 40:
            depth += 1
        elif p[k] == 41:
            depth -= 1
            if depth < 0:
                return False
    return depth == 0
