# SPDX-License-Identifier: MIT
"""The part of NLnet Labs' ldns (libldns-dev, BSD-3-Clause) that fastdns._zonefile uses:
reading a master file one RR at a time, and the RR's fields in wire form."""

from libc.stdint cimport uint8_t, uint16_t, uint32_t
from libc.stdio cimport FILE


cdef extern from "ldns/error.h" nogil:
    ctypedef enum ldns_status:
        LDNS_STATUS_OK
        LDNS_STATUS_SYNTAX_TTL       # a $TTL line: *default_ttl was set
        LDNS_STATUS_SYNTAX_ORIGIN    # a $ORIGIN line: *origin was replaced
        LDNS_STATUS_SYNTAX_INCLUDE   # a $INCLUDE line: left to the caller
        LDNS_STATUS_SYNTAX_EMPTY     # a blank or comment-only line
    const char *ldns_get_errorstr_by_id(ldns_status err)


cdef extern from "ldns/rdata.h" nogil:
    ctypedef struct ldns_rdf:
        pass
    ctypedef enum ldns_rdf_type:
        LDNS_RDF_TYPE_DNAME
    size_t ldns_rdf_size(const ldns_rdf *rd)
    uint8_t *ldns_rdf_data(const ldns_rdf *rd)
    ldns_rdf *ldns_rdf_new_frm_data(ldns_rdf_type type, size_t size, const void *data)
    void ldns_rdf_deep_free(ldns_rdf *rd)


cdef extern from "ldns/rr.h" nogil:
    ctypedef struct ldns_rr:
        pass
    ctypedef uint16_t ldns_rr_type
    ctypedef uint16_t ldns_rr_class
    ldns_rr_class LDNS_RR_CLASS_IN
    ldns_rr_type LDNS_RR_TYPE_SOA
    ldns_status ldns_rr_new_frm_fp_l(ldns_rr **rr, FILE *fp, uint32_t *default_ttl,
                                     ldns_rdf **origin, ldns_rdf **prev, int *line_nr)
    void ldns_rr_free(ldns_rr *rr)
    ldns_rdf *ldns_rr_owner(const ldns_rr *rr)
    uint32_t ldns_rr_ttl(const ldns_rr *rr)
    size_t ldns_rr_rd_count(const ldns_rr *rr)
    ldns_rdf *ldns_rr_rdf(const ldns_rr *rr, size_t nr)
    ldns_rr_type ldns_rr_get_type(const ldns_rr *rr)
    ldns_rr_class ldns_rr_get_class(const ldns_rr *rr)


cdef extern from "ldns/rr.h" nogil:
    ctypedef struct ldns_rr_list:
        pass
    size_t ldns_rr_list_rr_count(const ldns_rr_list *rr_list)
    ldns_rr *ldns_rr_list_rr(const ldns_rr_list *rr_list, size_t nr)


cdef extern from "ldns/rdata.h" nogil:
    ldns_rdf_type LDNS_RDF_TYPE_INT16_DATA
    ldns_rdf *ldns_rdf_clone(const ldns_rdf *rd)


cdef extern from "ldns/ldns.h" nogil:
    int ldns_dname_compare(const ldns_rdf *dname1, const ldns_rdf *dname2)


# AXFR messages (fastdns.transfer): a message from wire form, its answer RRs in text, its
# TSIG checked against the one before it (RFC 8945 5.3.1).
cdef extern from "ldns/ldns.h" nogil:
    ctypedef struct ldns_pkt:
        pass
    ctypedef int ldns_pkt_rcode
    void ldns_pkt_free(ldns_pkt *packet)
    ldns_pkt_rcode ldns_pkt_get_rcode(const ldns_pkt *p)
    ldns_rr_list *ldns_pkt_answer(const ldns_pkt *p)
    ldns_rr *ldns_pkt_tsig(const ldns_pkt *p)


cdef extern from "ldns/ldns.h" nogil:
    ldns_status ldns_wire2pkt(ldns_pkt **packet, const uint8_t *data, size_t len)


cdef extern from "ldns/ldns.h" nogil:
    char *ldns_rr2str(const ldns_rr *rr)


cdef extern from "ldns/ldns.h" nogil:
    bint ldns_pkt_tsig_verify_next(ldns_pkt *pkt, const uint8_t *wire, size_t wire_size, const char *key_name,
                                   const char *key_data, const ldns_rdf *mac, int tsig_timers_only)
