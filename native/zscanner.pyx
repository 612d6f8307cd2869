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

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc, realloc
from libc.string cimport memchr, memcpy
from cpython.bytes cimport PyBytes_FromStringAndSize

from zscanner cimport (ZS_STATE_DATA, ZS_STATE_EOF, zs_current, zs_deinit, zs_init, zs_parse_record,
                       zs_scanner_t, zs_set_input_string)

cdef enum:
    RR_FIXED = 10           # type, class, TTL, rdlength
    CLASS_IN = 1
    T_TXT = 16
    T_SPF = 99


include "records.pxi"
include "lines.pxi"


cdef bint closes_group(const char *p, const char *end) noexcept nogil:
    """Only blanks, line ends and comments before a ')'."""
    while p < end:
        if p[0] == 59:
            while p < end and p[0] != 10:
                p += 1
        elif p[0] == 41:
            return True
        elif p[0] != 32 and p[0] != 9 and p[0] != 10 and p[0] != 13:
            return False
        else:
            p += 1
    return False


cdef bint has_full_string(const uint8_t *rdata, uint32_t n) noexcept nogil:
    """A character-string of 255 bytes among rdata's."""
    cdef uint32_t at = 0
    while at < n:
        if rdata[at] == 255:
            return True
        at += 1 + rdata[at]
    return False


cdef int read_all(zs_scanner_t *s, const char *text, size_t size, const uint8_t *origin, size_t olen,
                  uint32_t first_line, Buf *data, Buf *lines, size_t *count) noexcept nogil:
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
    if memchr(text, 92, size) != NULL:
        return -1  # escapes and RFC 3597 rdata: libzscanner reads some unlike dnspython
    while True:
        before = zs_current(s)
        if zs_parse_record(s) != 0 or s.state != ZS_STATE_DATA:
            return 0 if s.state == ZS_STATE_EOF else -1
        if s.r_class != CLASS_IN or not name_in_zone(s.r_owner, s.r_owner_length, origin, olen):
            return -1
        if zs_current(s) < before or zs_current(s) > end:
            return -1  # not reading our text (the caller ends it with a newline, so it is)
        if s.multiline and not closes_group(zs_current(s), end):
            return -1  # more after the record within its parentheses: an error for dnspython
        if (s.r_type == T_TXT or s.r_type == T_SPF) and has_full_string(s.r_data, s.r_data_length):
            return -1  # maybe a longer string libzscanner split, where dnspython refuses it
        # the line the record starts on (the scanner counts the one it ends on), by the text
        start = record_start(before, zs_current(s))
        line = at_line + <uint32_t>newlines(before, start)
        at_line = line + <uint32_t>newlines(start, zs_current(s))
        if buf_grow(data, s.r_owner_length + RR_FIXED + s.r_data_length) < 0 or buf_grow(lines, 4) < 0:
            return -1
        p = data.p + data.len
        memcpy(p, s.r_owner, s.r_owner_length)
        p += s.r_owner_length
        put_u16(p, s.r_type)
        put_u16(p + 2, s.r_class)
        put_u32(p + 4, s.r_ttl)
        put_u16(p + 8, <uint16_t>s.r_data_length)
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
    cdef Buf data, lines
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
        if zs_set_input_string(s, body, size) == 0 and buf_grow(&data, size + size // 4) == 0:
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
