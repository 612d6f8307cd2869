# SPDX-License-Identifier: MIT
# Zone transfers received: each message read by ldns from wire form, its TSIG checked
# against the request's or the previous message's MAC (RFC 8945 5.3.1), its records in text
# as ldns writes them (an AXFR straight into a zone file); fastdns.transfer does the network.


_RCODES = {1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED", 9: "NOTAUTH"}


class AxfrError(Exception):
    """A transfer that cannot be taken: the reason (the message number when it is one's)."""


cdef class TransferMessages:
    """A transfer's messages in order (AXFR, RFC 5936; IXFR, RFC 1995): each read by ldns,
    its rcode checked, and with a key its TSIG checked against the request's or the previous
    message's MAC (RFC 8945 5.3.1).  feed() hands back each message's answer records in
    text, with their type and, for an SOA, its serial."""

    cdef bytes key_name
    cdef bytes key_secret
    cdef ldns_rdf* mac                  # the MAC the next message's TSIG follows from
    cdef uint64_t messages

    def __cinit__(self):
        self.mac = NULL

    def __init__(self, str key_name=None, str key_secret=None, bytes request_mac=b""):
        """:param key_name, key_secret: (base64) the TSIG key the transfer must be signed
        with; request_mac: the query's MAC."""
        cdef bytes framed
        if key_name is not None:
            self.key_name = (key_name.rstrip(".") + ".").encode()
            self.key_secret = key_secret.encode()
            framed = len(request_mac).to_bytes(2, "big") + request_mac
            self.mac = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_INT16_DATA, len(framed), <const char*>framed)

    def __dealloc__(self):
        if self.mac != NULL:
            ldns_rdf_deep_free(self.mac)

    cdef ldns_pkt* read(self, bytes message) except NULL:
        """The next message, checked (the caller frees it).

        :raises AxfrError: a malformed message, an error rcode, a bad or missing TSIG.
        """
        cdef ldns_pkt* pkt = NULL
        cdef ldns_rr* tsig
        cdef const uint8_t* wire = <const uint8_t*>PyBytes_AS_STRING(message)
        cdef ldns_status status
        self.messages += 1
        status = ldns_wire2pkt(&pkt, wire, len(message))
        if status != LDNS_STATUS_OK:
            raise AxfrError(f"message {self.messages} is malformed: {ldns_get_errorstr_by_id(status).decode()}")
        try:
            if ldns_pkt_get_rcode(pkt) != 0:
                rcode = ldns_pkt_get_rcode(pkt)
                raise AxfrError(f"message {self.messages} has RCODE {_RCODES.get(rcode, rcode)}")
            if self.mac != NULL:
                tsig = ldns_pkt_tsig(pkt)
                if tsig == NULL:
                    raise AxfrError(f"message {self.messages} is not signed (TSIG)")
                if not ldns_pkt_tsig_verify_next(pkt, wire, len(message), self.key_name, self.key_secret,
                                                 self.mac, self.messages > 1):
                    raise AxfrError(f"message {self.messages} has a bad TSIG signature")
                ldns_rdf_deep_free(self.mac)
                self.mac = ldns_rdf_clone(ldns_rr_rdf(tsig, 3))
        except BaseException:
            ldns_pkt_free(pkt)
            raise
        return pkt

    def feed(self, bytes message) -> list:
        """The message's answer records: (type, SOA serial or None, text line)."""
        cdef ldns_pkt* pkt = self.read(message)
        cdef ldns_rr_list* answer
        cdef ldns_rr* rr
        cdef size_t i
        cdef list found = []
        try:
            answer = ldns_pkt_answer(pkt)
            for i in range(ldns_rr_list_rr_count(answer)):
                rr = ldns_rr_list_rr(answer, i)
                rtype = ldns_rr_get_type(rr)
                found.append((rtype, _soa_serial(rr) if rtype == LDNS_RR_TYPE_SOA else None,
                              _rr_text(rr, self.messages).decode("utf-8", "replace")))
            return found
        finally:
            ldns_pkt_free(pkt)


cdef class AxfrReader(TransferMessages):
    """Takes an AXFR's messages in order (feed) and writes its records to a zone file as
    they come: no object per record."""

    cdef FILE* out
    cdef ldns_rdf* origin
    cdef readonly uint64_t records
    cdef readonly uint32_t serial
    cdef readonly bint done
    cdef int soas

    def __cinit__(self):
        self.out = NULL
        self.origin = NULL

    def __init__(self, str path, bytes origin, str key_name=None, str key_secret=None, bytes request_mac=b""):
        """:param origin: the zone's apex, wire form; the key as TransferMessages takes it."""
        TransferMessages.__init__(self, key_name, key_secret, request_mac)
        self.out = fopen(path.encode(), b"w")
        if self.out == NULL:
            raise OSError(f"{path}: cannot be written")
        # every record states its TTL; a $TTL in force lets a reload read changed lines alone
        fputs(b"$TTL 3600\n", self.out)
        self.origin = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, len(origin), <const char*>origin)

    def __dealloc__(self):
        if self.out != NULL:
            fclose(self.out)
        if self.origin != NULL:
            ldns_rdf_deep_free(self.origin)

    def feed(self, bytes message) -> bool:
        """The next message; True once the closing SOA came.

        :raises AxfrError: as TransferMessages.read, and a transfer that does not start with
            the zone's SOA or goes on after its last.
        """
        cdef ldns_pkt* pkt
        cdef ldns_rr_list* answer
        cdef ldns_rr* rr
        cdef size_t i, n
        cdef bytes text
        if self.done:
            raise AxfrError("a message after the closing SOA")
        pkt = self.read(message)
        try:
            answer = ldns_pkt_answer(pkt)
            n = ldns_rr_list_rr_count(answer)
            for i in range(n):
                rr = ldns_rr_list_rr(answer, i)
                if ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA:
                    self.soas += 1
                    if self.soas == 1:
                        if ldns_dname_compare(ldns_rr_owner(rr), self.origin) != 0:
                            raise AxfrError("the transfer does not start with the zone's SOA")
                        self.serial = _soa_serial(rr)
                    elif i + 1 == n:  # the closing SOA (RFC 5936 2.2)
                        self.done = True
                        return True
                    else:
                        raise AxfrError(f"message {self.messages} goes on after the closing SOA")
                elif self.soas == 0:
                    raise AxfrError("the transfer does not start with the zone's SOA")
                text = _rr_text(rr, self.messages)
                fputs(text, self.out)
                self.records += 1
            return False
        finally:
            ldns_pkt_free(pkt)

    def close(self) -> None:
        """The file written out; raises OSError when it could not be."""
        cdef int failed
        if self.out != NULL:
            failed = ferror(self.out)
            failed |= fclose(self.out)
            self.out = NULL
            if failed:
                raise OSError("the transferred zone could not be written")


cdef bytes _rr_text(const ldns_rr* rr, uint64_t message):
    """The record as a zone file line, as ldns writes it."""
    cdef char* text = ldns_rr2str(rr)
    if text == NULL:
        raise AxfrError(f"message {message}: a record ldns cannot write")
    try:
        return <bytes>text
    finally:
        free(text)


cdef uint32_t _soa_serial(const ldns_rr* soa) noexcept:
    cdef const ldns_rdf* rdf = ldns_rr_rdf(soa, 2)
    cdef const uint8_t* p
    if rdf == NULL or ldns_rdf_size(rdf) != 4:
        return 0
    p = ldns_rdf_data(rdf)
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]
