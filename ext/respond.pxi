# SPDX-License-Identifier: MIT
# The answering core shared by every transport: the query in the buffer becomes the reply
# in the same buffer.  The question stays where it is, with the client's letter case; the
# precompiled tail is copied after it and its compression pointers moved if the question
# is longer or shorter than the name it was compiled against.


cdef inline int write_opt(uint8_t* p, uint16_t payload, uint8_t ext_rcode,
                          const query_t* q) noexcept nogil:
    """An OPT RR (RFC 6891 6.1.2), with the DO bit the query had and the COOKIE option
    the query's calls for; returns its size, q.opt_size."""
    p[0] = 0                                    # owner: the root
    fastdns_put16(p + 1, DNS_TYPE_OPT)
    fastdns_put16(p + 3, payload)               # our UDP payload size
    p[5] = ext_rcode
    p[6] = 0                                    # EDNS version 0
    fastdns_put16(p + 7, DNS_EDNS_DO if q.edns_do else 0)
    if not q.cookie_len:
        fastdns_put16(p + 9, 0)                 # RDLEN
        return OPT_RR_SIZE
    fastdns_put16(p + 9, 4 + COOKIE_REPLY_SIZE)
    fastdns_put16(p + 11, EDNS_OPTION_COOKIE)
    fastdns_put16(p + 13, COOKIE_REPLY_SIZE)
    memcpy(p + 15, q.cookie, COOKIE_REPLY_SIZE)
    return OPT_RR_SIZE + 4 + COOKIE_REPLY_SIZE


cdef inline void write_header(uint8_t* pkt, const query_t* q, uint16_t flags, uint16_t qdcount,
                              uint16_t ancount, uint16_t nscount,
                              uint16_t arcount) noexcept nogil:
    # ID stays; opcode, RD and CD come from the query (RFC 1035 4.1.1, RFC 4035 3.1.6).
    fastdns_put16(pkt + 2, DNS_QR | (q.flags & (DNS_OPCODE_MASK | DNS_RD | DNS_CD)) | flags)
    fastdns_put64(pkt + 4, (<uint64_t>qdcount << 48) | (<uint64_t>ancount << 32)
                  | (<uint64_t>nscount << 16) | arcount)     # the four counts in one store


cdef inline int reply_without_records(uint8_t* pkt, const query_t* q, uint16_t flags,
                                      uint8_t ext_rcode, uint16_t payload) noexcept nogil:
    """Header, the question when it could be read, and OPT when the query had one."""
    cdef int end = q.question_end
    cdef int arcount = 0
    if q.edns:
        end += write_opt(pkt + end, payload, ext_rcode, q)
        arcount = 1
    write_header(pkt, q, flags, 1 if q.question_end > DNS_HEADER_SIZE else 0, 0, 0, arcount)
    return end


cdef inline int clamp_payload(int payload) noexcept nogil:
    """Our configured UDP payload size, within what RFC 6891 and our buffers allow."""
    if payload < MIN_UDP_PAYLOAD:
        return MIN_UDP_PAYLOAD
    return payload if payload < MAX_UDP_PAYLOAD else MAX_UDP_PAYLOAD


cdef inline int udp_limit(const query_t* q, int payload_max) noexcept nogil:
    """RFC 6891 6.2.5: the requestor's size, at least 512, at most ours; 512 without EDNS."""
    if not q.edns:
        return MIN_UDP_PAYLOAD
    if q.edns_payload < MIN_UDP_PAYLOAD:
        return MIN_UDP_PAYLOAD
    return q.edns_payload if q.edns_payload < payload_max else payload_max


cdef inline int answer_query(uint8_t* pkt, int length, int cap, const image_t* img,
                             int payload_max, bint tcp, query_t* q, uint64_t* counters,
                             guard_t* g, const uint8_t* addr, int addr_len) noexcept nogil:
    """Turn the query in pkt[0:length] into its reply in place.

    :param cap: bytes available in pkt for the reply.
    :param payload_max: our UDP payload size (advertised in OPT, caps UDP replies).
    :param g: the policy (cookies, rate limiting) and its state; NULL: neither.
    :param addr: the client's address (addr_len: 4 or 16 bytes), for both.
    :returns: the reply's length, or 0 when the datagram must be dropped.
    """
    cdef int n = compose_reply(pkt, length, cap, img, payload_max, tcp, q, counters, g,
                               addr, addr_len)
    if n == 0 or tcp or g == NULL or g.table == NULL or q.cookie_valid:
        return n                    # never limited: TCP, or a client with our cookie
    return rate_limit(pkt, n, q, g, addr, addr_len, payload_max, counters)


cdef inline int compose_reply(uint8_t* pkt, int length, int cap, const image_t* img,
                              int payload_max, bint tcp, query_t* q, uint64_t* counters,
                              const guard_t* g, const uint8_t* addr, int addr_len) noexcept nogil:
    """answer_query's reply, before rate limiting."""
    cdef parse_result parsed = parse_query(pkt, length, q)
    cdef const img_record* rec
    cdef const img_record* full
    cdef const img_rrs* cover = NULL
    cdef int limit, end, arcount, extra = 0
    if parsed == PARSE_DROP:
        counters[C_DROPPED] += 1
        return 0
    if q.edns:
        counters[C_EDNS] += 1
    if parsed == PARSE_FORMERR:
        q.edns = 0                  # RFC 6891 7: no OPT in a reply to a malformed OPT,
        q.cookie_len = 0            # so no COOKIE option either
        counters[C_FORMERR] += 1
        return reply_without_records(pkt, q, DNS_RCODE_FORMERR, 0, <uint16_t>payload_max)
    if q.cookie_len:
        if g != NULL:
            check_cookie(pkt, q, g, addr, addr_len, counters)
        else:
            q.cookie_len = 0
    counters[qtype_counter(q.qtype)] += 1
    if parsed == PARSE_NOTIMP:
        counters[C_NOTIMP] += 1
        return reply_without_records(pkt, q, DNS_RCODE_NOTIMP, 0, <uint16_t>payload_max)
    if q.edns and q.edns_version > 0:
        counters[C_BADVERS] += 1
        return reply_without_records(pkt, q, 0, DNS_EXT_RCODE_BADVERS, <uint16_t>payload_max)
    if q.qtype == 0 or (q.qtype == DNS_TYPE_AXFR and not tcp):
        counters[C_NOTIMP] += 1     # type 0 is reserved; AXFR is TCP only (RFC 5936 4.2)
        return reply_without_records(pkt, q, DNS_RCODE_NOTIMP, 0, <uint16_t>payload_max)
    if q.qtype == DNS_TYPE_AXFR or q.qtype == DNS_TYPE_IXFR:
        counters[C_REFUSED] += 1    # no zone transfers (yet)
        return reply_without_records(pkt, q, DNS_RCODE_REFUSED, 0, <uint16_t>payload_max)
    if q.qclass == DNS_CLASS_IN or q.qclass == DNS_CLASS_ANY:
        full = image_find(img, q)   # QCLASS * matches our only class, IN (RFC 1035 3.2.5)
    elif q.qclass == DNS_CLASS_CH:
        full = chaos_find(img, q)
    else:
        full = NULL
    if full == NULL:
        counters[C_REFUSED] += 1
        return reply_without_records(pkt, q, DNS_RCODE_REFUSED, 0, <uint16_t>payload_max)
    if q.edns_do:
        full = signed_variant(img, full, q.encloser < 0)
        if full.ext & EXT_PROOFS:
            return answer_proved(pkt, cap, img, full, payload_max, tcp, q, counters)
        if full.ext & EXT_COVER and q.encloser >= 0:  # not for a wildcard's own name
            cover = find_cover(img, full, q)
    rec = full
    limit = MAX_TCP_MESSAGE if tcp else udp_limit(q, payload_max)
    if limit > cap:
        limit = cap
    end = q.question_end + (q.opt_size if q.edns else 0)
    while rec != NULL:
        extra = cover_size(rec, q, cover) if cover != NULL and rec.ext & EXT_COVER else 0
        if end + rec.tail_len + extra <= limit:
            break
        rec = record_at(img, rec.smaller_off) if rec.smaller_off else NULL
    if rec == NULL:
        counters[C_TRUNCATED] += 1  # RFC 2181 9: no partial RRsets; the client retries on TCP
        counters[C_NOERROR + (full.flags & DNS_RCODE_MASK)] += 1
        return reply_without_records(pkt, q, (full.flags & (DNS_AA | DNS_RCODE_MASK)) | DNS_TC,
                                     0, <uint16_t>payload_max)

    end = q.question_end
    if cover != NULL and rec.ext & EXT_COVER:
        end += copy_tail_with(pkt + end, rec, q, cover)
    else:
        end += copy_tail(pkt + end, rec, q)
    arcount = rec.arcount
    if q.edns:
        end += write_opt(pkt + end, <uint16_t>payload_max, 0, q)
        arcount += 1
    write_header(pkt, q, rec.flags, 1, rec.ancount, rec.nscount + (cover.count if extra else 0),
                 <uint16_t>arcount)
    counters[C_NOERROR + (rec.flags & DNS_RCODE_MASK)] += 1
    return end


cdef int answer_proved(uint8_t* pkt, int cap, const image_t* img, const img_record* rec,
                       int payload_max, bint tcp, query_t* q, uint64_t* counters) noexcept nogil:
    """The reply of a record with PROOFS (a DO=1 negative answer): its base record's tail
    (the apex SOA and its signature), then the chain's records it names, then the one
    covering the query name; TC=1 when that does not fit."""
    cdef const img_proofs* p = <const img_proofs*>record_extension(rec)
    cdef const img_record* base = record_at(img, p.base_off)
    cdef const img_chain* chain = <const img_chain*>(img.base + p.chain_off)
    cdef const img_rrs* parts[3]
    cdef int n = 0, i, end, size, limit
    cdef uint16_t nscount = rec.nscount
    if p.proof0:
        parts[n] = entry_rrs(img, chain, p.proof0 - 1)
        n += 1
    if p.proof1:
        parts[n] = entry_rrs(img, chain, p.proof1 - 1)
        n += 1
    if p.cover and q.encloser >= 0:  # not for a wildcard's own name
        parts[n] = covering_rrs(img, p.chain_off, p.proof0, p.proof1, q)
        if parts[n] != NULL:
            nscount += parts[n].count
            n += 1
    limit = MAX_TCP_MESSAGE if tcp else udp_limit(q, payload_max)
    if limit > cap:
        limit = cap
    end = q.question_end
    size = base.tail_len
    for i in range(n):
        size += rrs_size(parts[i], end + size, q)
    if end + size + (q.opt_size if q.edns else 0) > limit:
        counters[C_TRUNCATED] += 1  # RFC 2181 9: no partial RRsets; the client retries on TCP
        counters[C_NOERROR + (rec.flags & DNS_RCODE_MASK)] += 1
        return reply_without_records(pkt, q, (rec.flags & (DNS_AA | DNS_RCODE_MASK)) | DNS_TC,
                                     0, <uint16_t>payload_max)
    end += copy_tail(pkt + end, base, q)
    for i in range(n):
        end += put_cover(pkt + end, end, q, parts[i])
    if q.edns:
        end += write_opt(pkt + end, <uint16_t>payload_max, 0, q)
    write_header(pkt, q, rec.flags, 1, 0, nscount, 1 if q.edns else 0)
    counters[C_NOERROR + (rec.flags & DNS_RCODE_MASK)] += 1
    return end


cdef inline int rrs_size(const img_rrs* rrs, int position, const query_t* q) noexcept nogil:
    """Bytes a chain entry's records take put in at position (put_cover): as stored but
    for the first owner's labels the question ends with, when the later owners can point
    at the first, else with each owner written out as the first is."""
    cdef int written = owner_prefix(rrs, q)
    if position <= MAX_POINTER_TARGET:
        return rrs.len - (rrs.owner_len - written)
    return rrs.len - (rrs.owner_len - written) + (rrs.count - 1) * written


cdef inline int owner_prefix(const img_rrs* rrs, const query_t* q) noexcept nogil:
    """How many bytes of a chain entry's first owner (its labels below the apex) are
    written out: those before the longest run of its last labels that the question name
    has just above the apex (an NSEC owner shares them with the query name often; an
    NSEC3 owner's hash label never), the rest a pointer into the question."""
    cdef const uint8_t* owner = <const uint8_t*>rrs + sizeof(img_rrs)
    cdef int apex_at = q.qname_len - rrs.apex_len      # in q.lname
    cdef int s = 0, n, start
    while s < rrs.owner_len:
        n = rrs.owner_len - s
        start = apex_at - n
        if start >= 0 and label_starts_at(q.lname, start) and same_as_lower(owner + s, q.lname + start, n):
            return s
        s += owner[s] + 1
    return rrs.owner_len


cdef inline bint label_starts_at(const uint8_t* name, int at) noexcept nogil:
    cdef int i = 0
    while i < at:
        i += name[i] + 1
    return i == at


cdef inline bint same_as_lower(const uint8_t* a, const uint8_t* lowered, int n) noexcept nogil:
    """a, any case, is lowered (label length bytes are below 64: lowering keeps them)."""
    cdef int i
    cdef uint8_t c
    for i in range(n):
        c = a[i]
        if 65 <= c <= 90:
            c += 32
        if c != lowered[i]:
            return 0
    return 1


cdef inline int copy_tail(uint8_t* out, const img_record* rec, const query_t* q) noexcept nogil:
    """The record's sections after the question, its pointers moved by the difference
    between the question's length and the one it was compiled against."""
    cdef int delta = q.qname_len - rec.qname_len
    cdef const uint8_t* relocs
    cdef int i, ptr
    memcpy(out, record_tail(rec), rec.tail_len)
    if delta != 0:
        relocs = record_relocs(rec)
        for i in range(rec.n_reloc):
            ptr = relocs[2 * i] | (relocs[2 * i + 1] << 8)
            fastdns_put16(out + ptr, <uint16_t>(fastdns_get16(out + ptr) + delta))
    return rec.tail_len


cdef inline int cover_size(const img_record* rec, const query_t* q, const img_rrs* cover) noexcept nogil:
    """Bytes the covering records take in rec's reply: as stored, when the later owners can
    point at the first (within a pointer's reach), else each written out."""
    return rrs_size(cover, q.question_end + (<const img_cover*>record_extension(rec)).at, q)


cdef inline int copy_tail_with(uint8_t* out, const img_record* rec, const query_t* q,
                               const img_rrs* cover) noexcept nogil:
    """copy_tail, with the covering records put in at the record's place for them (the end
    of the authority section; nothing after it points into what moves)."""
    cdef int at = (<const img_cover*>record_extension(rec)).at
    cdef int delta = q.qname_len - rec.qname_len
    cdef const uint8_t* tail = record_tail(rec)
    cdef const uint8_t* relocs
    cdef int i, ptr, size
    memcpy(out, tail, at)
    size = put_cover(out + at, q.question_end + at, q, cover)
    memcpy(out + at + size, tail + at, rec.tail_len - at)
    if delta != 0:
        relocs = record_relocs(rec)
        for i in range(rec.n_reloc):
            ptr = relocs[2 * i] | (relocs[2 * i + 1] << 8)
            if ptr >= at:
                ptr += size
            fastdns_put16(out + ptr, <uint16_t>(fastdns_get16(out + ptr) + delta))
    return rec.tail_len + size


cdef inline int put_cover(uint8_t* dst, int position, const query_t* q, const img_rrs* cover) noexcept nogil:
    """The covering records at dst (position: its offset in the message), their owners'
    pointers filled in: the first owner's to where the question name ends with the rest of
    it (owner_prefix; at least the zone's apex), the others' to the first owner; where
    that is beyond a pointer's reach, the others' owners are written out as the first one."""
    cdef const uint8_t* src = <const uint8_t*>cover + sizeof(img_rrs)
    cdef int written = owner_prefix(cover, q)
    cdef int first = written + 2                # the first owner's bytes, as written
    cdef int pos, n, rr_len, i
    cdef bint near = position <= MAX_POINTER_TARGET
    memcpy(dst, src, written)
    fastdns_put16(dst + written, <uint16_t>(0xC000 | (DNS_HEADER_SIZE + q.qname_len - cover.apex_len
                                                      - (cover.owner_len - written))))
    n = cover.owner_len + 2                     # in src
    rr_len = 10 + fastdns_get16(src + n + 8)
    memcpy(dst + first, src + n, rr_len)
    pos = first + rr_len                       # in dst
    n += rr_len
    for i in range(1, cover.count):
        if near:
            fastdns_put16(dst + pos, <uint16_t>(0xC000 | position))
            pos += 2
        else:
            memcpy(dst + pos, dst, first)
            pos += first
        rr_len = 10 + fastdns_get16(src + n + 2 + 8)
        memcpy(dst + pos, src + n + 2, rr_len)
        pos += rr_len
        n += 2 + rr_len
    return pos
