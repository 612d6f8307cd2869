# SPDX-License-Identifier: MIT
# cython: language_level=3
"""fastdns._zscanner: the records of a master file's body read by Knot DNS's libzscanner,
for fastdns._zonefile.parse_text.  An opt-in build (FASTDNS_ZSCANNER=1 at build time):
libzscanner is GPL-3.0-or-later, so a build that links it is GPL-3+ as a whole
(docs/zone-parser.md).  fastdns works the same without it, with ldns alone.

Only the plain case is read here, the one parse_text already reads without the GIL: the
lines after a header that set $TTL, with no directive among them.  Anything else a record
could need the library's judgement on (an error, another class, an owner outside the zone, a
blank owner on the first line) returns None, and ldns reads the file and reports it, so
records and errors are what ldns gives either way (tests/unit/test_zonefile.py holds the
two to the same records)."""

from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memcpy
from cpython.bytes cimport PyBytes_FromStringAndSize

from zscanner cimport (ZS_STATE_DATA, ZS_STATE_EOF, zs_current, zs_deinit, zs_init, zs_parse_record,
                       zs_scanner_t, zs_set_input_string)

cdef enum:
    RR_FIXED = 10           # type, class, TTL, rdlength
    CLASS_IN = 1


ctypedef struct out_t:
    uint8_t *p
    size_t len, cap


cdef int grow(out_t *o, size_t more) noexcept nogil:
    cdef size_t cap = o.cap if o.cap else 1 << 16
    cdef uint8_t *p
    if o.len + more <= o.cap:
        return 0
    while cap < o.len + more:
        cap *= 2
    p = <uint8_t *>realloc(o.p, cap)
    if p == NULL:
        return -1
    o.p, o.cap = p, cap
    return 0


cdef inline uint8_t lower(uint8_t c) noexcept nogil:
    return c + 32 if 65 <= c <= 90 else c


cdef bint in_zone(const uint8_t *name, size_t size, const uint8_t *o, size_t olen) noexcept nogil:
    cdef size_t at = 0, i
    while at < size and size - at > olen:
        at += 1 + name[at]
    if size - at != olen:
        return False
    for i in range(olen):
        if lower(name[at + i]) != lower(o[i]):
            return False
    return True


include "lines.pxi"


cdef int read_all(zs_scanner_t *s, const char *text, size_t size, const uint8_t *origin, size_t olen,
                  uint32_t first_line, out_t *data, out_t *lines, size_t *count) noexcept nogil:
    """Every record into data (wire, uncompressed) and lines (u32 LE): 0, or -1 where ldns
    must read the file."""
    cdef const char *end = text + size
    cdef const char *before = text
    cdef const char *start
    cdef uint8_t *p
    cdef uint32_t line, at_line = first_line  # the line `before` is on
    start = record_start(text, end)
    if start < end and (start[0] == 32 or start[0] == 9):
        return -1  # a blank owner: the header's state decides it
    while True:
        before = zs_current(s)
        if zs_parse_record(s) != 0 or s.state != ZS_STATE_DATA:
            return 0 if s.state == ZS_STATE_EOF else -1
        if s.r_class != CLASS_IN or not in_zone(s.r_owner, s.r_owner_length, origin, olen):
            return -1
        if zs_current(s) < before or zs_current(s) > end:
            return -1  # not reading our text (the caller ends it with a newline, so it is)
        # the line the record starts on (the scanner counts the one it ends on), by the text
        start = record_start(before, zs_current(s))
        line = at_line + <uint32_t>newlines(before, start)
        at_line = line + <uint32_t>newlines(start, zs_current(s))
        if grow(data, s.r_owner_length + RR_FIXED + s.r_data_length) < 0 or grow(lines, 4) < 0:
            return -1
        p = data.p + data.len
        memcpy(p, s.r_owner, s.r_owner_length)
        p += s.r_owner_length
        p[0], p[1] = s.r_type >> 8, s.r_type & 0xFF
        p[2], p[3] = s.r_class >> 8, s.r_class & 0xFF
        p[4], p[5], p[6], p[7] = s.r_ttl >> 24, (s.r_ttl >> 16) & 0xFF, (s.r_ttl >> 8) & 0xFF, s.r_ttl & 0xFF
        p[8], p[9] = s.r_data_length >> 8, s.r_data_length & 0xFF
        memcpy(p + RR_FIXED, s.r_data, s.r_data_length)
        data.len += s.r_owner_length + RR_FIXED + s.r_data_length
        (<uint32_t *>(lines.p + lines.len))[0] = line  # little-endian hosts
        lines.len += 4
        count[0] += 1


def read_records(bytes origin, bytes text, size_t start, uint32_t first_line, uint32_t default_ttl):
    """The records of text[start:], whose first line is first_line, relative owners under
    origin (wire) and implicit TTLs default_ttl: (count, data, lines) as in
    fastdns._zonefile.Records, or None when ldns must read the file.  Without the GIL.
    A text that does not end with a newline is read with one added (libzscanner reads the
    last line from a copy of its own, where our line count cannot follow it)."""
    if not text.endswith(b"\n"):
        text += b"\n"
    cdef zs_scanner_t *s = <zs_scanner_t *>malloc(sizeof(zs_scanner_t))
    cdef out_t data, lines
    cdef size_t count = 0, olen = len(origin)
    cdef const uint8_t *o = origin
    cdef const char *body = <const char *>text + start
    cdef size_t size = len(text) - start
    cdef int status = -1
    if s == NULL:
        raise MemoryError()
    data.p = lines.p = NULL
    data.len = lines.len = data.cap = lines.cap = 0
    try:
        if zs_init(s, ".", CLASS_IN, default_ttl) != 0:
            return None
        if olen > 255:
            return None
        memcpy(s.zone_origin, o, olen)
        s.zone_origin_length = <uint32_t>olen
        if zs_set_input_string(s, body, size) == 0 and grow(&data, size + size // 4) == 0:
            with nogil:
                status = read_all(s, body, size, o, olen, first_line, &data, &lines, &count)
        if status < 0:
            return None
        return (count, PyBytes_FromStringAndSize(<char *>data.p, data.len),
                PyBytes_FromStringAndSize(<char *>lines.p, lines.len))
    finally:
        zs_deinit(s)
        free(s)
        free(data.p)
        free(lines.p)
