# SPDX-License-Identifier: MIT
# Where a record starts in a master file's text: the line numbers fastdns._zonefile and
# fastdns._zscanner give each record.  The libraries count lines as they read, so a record
# read together with the comment lines above it would be given the first of those lines;
# ours is the record's own first line, as dnspython's (and what the reload's line diff,
# which finds a changed record by its line, must get).


cdef const char *record_start(const char *at, const char *end) noexcept nogil:
    """The first line from at that is not blank, a comment, or the ')' that closes the
    record before (libzscanner hands a record over before reading its closing line): where
    the next record starts."""
    cdef const char *p
    while at < end:
        p = at
        while p < end and (p[0] == 32 or p[0] == 9 or p[0] == 13):
            p += 1
        if p < end and p[0] != 10 and p[0] != 59 and p[0] != 41:
            return at
        while p < end and p[0] != 10:
            p += 1
        at = p + 1
    return end


cdef size_t newlines(const char *p, const char *end) noexcept nogil:
    cdef size_t n = 0
    while p < end:
        n += p[0] == 10
        p += 1
    return n
