# SPDX-License-Identifier: MIT
# DNS header constants and the query parser: header and question read in place.
#
# Nothing upstream has validated a byte of the DNS message (the kernel vouches only for
# the UDP datagram, the AF_XDP filter only for Ethernet/IP/UDP), so every read below is
# bounds-checked against the datagram length.

cdef enum:
    DNS_HEADER_SIZE = 12
    DNS_QR = 0x8000                 # header flags word, RFC 1035 4.1.1
    DNS_OPCODE_MASK = 0x7800
    DNS_AA = 0x0400
    DNS_TC = 0x0200
    DNS_RD = 0x0100
    DNS_CD = 0x0010                 # RFC 4035 3.1.6: copied from query to response
    DNS_RCODE_MASK = 0x000F
    DNS_RCODE_NOERROR = 0
    DNS_RCODE_FORMERR = 1
    DNS_RCODE_SERVFAIL = 2
    DNS_RCODE_NXDOMAIN = 3
    DNS_RCODE_NOTIMP = 4
    DNS_RCODE_REFUSED = 5
    DNS_EXT_RCODE_BADVERS = 1       # upper 8 bits of 16 (BADVERS), RFC 6891 6.1.3
    DNS_TYPE_TXT = 16
    DNS_TYPE_OPT = 41
    DNS_TYPE_IXFR = 251
    DNS_TYPE_AXFR = 252
    DNS_CLASS_IN = 1
    DNS_CLASS_CH = 3
    DNS_CLASS_ANY = 255
    DNS_EDNS_DO = 0x8000            # in the OPT TTL's low 16 bits, RFC 3225
    EDNS_OPTION_COOKIE = 10         # RFC 7873 4
    CLIENT_COOKIE_SIZE = 8          # bytes; a server cookie has 8 to 32 (RFC 7873 4)
    COOKIE_MAX_SIZE = 40
    COOKIE_REPLY_SIZE = 24          # client cookie and an RFC 9018 server cookie

cdef enum parse_result:
    PARSE_OK = 0
    PARSE_DROP = 1                  # not a query we may answer at all (short, or QR=1)
    PARSE_FORMERR = 2
    PARSE_NOTIMP = 3

ctypedef struct query_t:
    uint16_t flags                  # the query's header flags word
    int question_end                # offset just past QCLASS; DNS_HEADER_SIZE if unparsed
    int qname_len                   # wire length of QNAME, root label included
    uint16_t qtype
    uint16_t qclass
    bint edns                       # an OPT RR was present
    bint edns_do                    # its DO bit
    uint8_t edns_version
    uint16_t edns_payload           # requestor's UDP payload size, RFC 6891 6.2.3
    int opt_size                    # bytes of the OPT RR the reply carries
    int cookie_len                  # the COOKIE option's length: 0 (none), 8, or 16 to 40
    int cookie_at                   # and its data's offset in the query
    bint cookie_valid               # its server cookie is ours and fresh (cookies.pxi)
    uint8_t cookie[COOKIE_REPLY_SIZE]   # the reply's COOKIE data: client, server cookie
    int encloser                    # image_find: the closest encloser's offset in lname, -1 =
    int next_closer                 # an exact match; and the next closer name's
    # QNAME lower-cased, wire format, then at least 8 zero bytes: the name hash reads whole
    # words (image.pxi), and the copy below writes them.
    uint8_t lname[LNAME_SIZE]


cdef inline uint64_t lower_word(uint64_t w) noexcept nogil:
    """ASCII A-Z to a-z in eight bytes at once (RFC 4343: DNS names compare case-blind).

    On the low seven bits of each byte, adding 0x3F sets bit 7 from 'A' (65) up and adding
    0x25 from '[' (91) up, with no carry between bytes; bytes with bit 7 set are not
    letters.  Label lengths (0..63) are below 'A', so the whole wire name goes through."""
    cdef uint64_t low7 = w & 0x7F7F7F7F7F7F7F7FULL
    cdef uint64_t upper = ((low7 + 0x3F3F3F3F3F3F3F3FULL) & ~(low7 + 0x2525252525252525ULL)
                           & ~w & 0x8080808080808080ULL)
    return w | (upper >> 2)         # 0x80 >> 2 = 0x20, the case bit


cdef inline void copy_lower(const uint8_t* src, int n, bint whole_words, uint8_t* dst) noexcept nogil:
    """dst = src[:n] lower-cased, followed by 8 zero bytes.

    :param whole_words: src may be read up to the next multiple of 8 bytes past n."""
    cdef int i = 0
    cdef uint8_t c
    if whole_words:
        while i < n:
            fastdns_store64le(dst + i, lower_word(fastdns_load64le(src + i)))
            i += 8
    else:
        while i < n:
            c = src[i]
            dst[i] = c + 32 if 65 <= c <= 90 else c
            i += 1
    fastdns_store64le(dst + n, 0)


cdef inline int parse_question(const uint8_t* pkt, int length, query_t* q) noexcept nogil:
    """Read QNAME/QTYPE/QCLASS at offset 12; 0 on success, -1 when malformed.

    The label lengths are walked first (structure and bounds), then the name is copied
    lower-cased a word at a time.  Label offsets are not kept: only a miss needs them, and
    it walks the copy (image_find)."""
    cdef int pos = DNS_HEADER_SIZE
    cdef int n
    cdef uint8_t l
    while True:
        if pos >= length:
            return -1
        l = pkt[pos]
        if l & 0xC0:
            return -1               # no compression (nothing to point at) or extended labels
        pos += l + 1
        if l == 0:
            break
    n = pos - DNS_HEADER_SIZE
    if n > MAX_NAME or pos + 4 > length:
        return -1                   # RFC 1035 2.3.4: 255 bytes at most
    copy_lower(pkt + DNS_HEADER_SIZE, n, DNS_HEADER_SIZE + ((n + 7) & ~7) <= length, q.lname)
    q.qname_len = n
    q.qtype = fastdns_get16(pkt + pos)
    q.qclass = fastdns_get16(pkt + pos + 2)
    q.question_end = pos + 4
    return 0


cdef inline int skip_name(const uint8_t* pkt, int length, int pos) noexcept nogil:
    """Offset after a possibly compressed name, or -1."""
    cdef uint8_t l
    while pos < length:
        l = pkt[pos]
        if l == 0:
            return pos + 1
        if (l & 0xC0) == 0xC0:
            return pos + 2 if pos + 2 <= length else -1
        if l & 0xC0:
            return -1
        pos += l + 1
    return -1


cdef inline int parse_options(const uint8_t* pkt, int pos, int end, query_t* q) noexcept nogil:
    """The OPT RR's options (RFC 6891 6.1.2) must fill its RDATA exactly; a COOKIE option
    is noted.  -1 when malformed, a COOKIE of a length RFC 7873 5.2.2 calls malformed, or
    a second one, all FORMERR."""
    cdef int code, size
    while pos < end:
        if pos + 4 > end:
            return -1
        code = fastdns_get16(pkt + pos)
        size = fastdns_get16(pkt + pos + 2)
        pos += 4
        if pos + size > end:
            return -1
        if code == EDNS_OPTION_COOKIE:
            if q.cookie_len or size < CLIENT_COOKIE_SIZE or size > COOKIE_MAX_SIZE or (
                    CLIENT_COOKIE_SIZE < size < CLIENT_COOKIE_SIZE + 8):
                return -1
            q.cookie_len = size
            q.cookie_at = pos
        pos += size
    return 0


cdef inline int parse_additional(const uint8_t* pkt, int length, int pos, int count,
                                 query_t* q) noexcept nogil:
    """Walk the additional section for the OPT RR (RFC 6891 6.1.1) up to the end of the
    message; -1 when malformed.  Other records (TSIG, SIG(0)) are stepped over."""
    cdef int start, rdlen, i
    cdef uint16_t rtype
    for i in range(count):
        start = pos
        pos = skip_name(pkt, length, pos)
        if pos < 0 or pos + 10 > length:
            return -1
        rtype = fastdns_get16(pkt + pos)
        rdlen = fastdns_get16(pkt + pos + 8)
        if pos + 10 + rdlen > length:
            return -1
        if rtype == DNS_TYPE_OPT:
            if q.edns or pos != start + 1 or pkt[start] != 0:
                return -1           # a second OPT, or one not owned by the root
            q.edns = 1
            q.edns_payload = fastdns_get16(pkt + pos + 2)
            q.edns_version = pkt[pos + 5]
            q.edns_do = (fastdns_get16(pkt + pos + 6) & DNS_EDNS_DO) != 0
            if rdlen and parse_options(pkt, pos + 10, pos + 10 + rdlen, q) < 0:
                return -1
        pos += 10 + rdlen
    return 0 if pos == length else -1   # trailing bytes: not a well-formed message


cdef inline parse_result parse_query(const uint8_t* pkt, int length, query_t* q) noexcept nogil:
    """Classify and read a query in place; fills q for the lookup and the reply."""
    q.question_end = DNS_HEADER_SIZE
    q.edns = 0
    q.edns_do = 0
    q.encloser = -1
    q.edns_version = 0
    q.opt_size = OPT_RR_SIZE
    q.cookie_len = 0
    q.cookie_valid = 0
    if length < DNS_HEADER_SIZE:
        return PARSE_DROP           # not even a header to answer with
    q.flags = fastdns_get16(pkt + 2)
    if q.flags & DNS_QR:
        return PARSE_DROP           # a response: answering it invites reflection loops
    if fastdns_get16(pkt + 4) != 1:
        return PARSE_FORMERR
    if parse_question(pkt, length, q) < 0:
        q.question_end = DNS_HEADER_SIZE
        return PARSE_FORMERR
    if q.flags & DNS_OPCODE_MASK:
        return PARSE_NOTIMP
    if fastdns_get16(pkt + 6) != 0 or fastdns_get16(pkt + 8) != 0:
        return PARSE_FORMERR        # a query carries no answer or authority records
    if parse_additional(pkt, length, q.question_end, fastdns_get16(pkt + 10), q) < 0:
        return PARSE_FORMERR
    return PARSE_OK
