# SPDX-License-Identifier: MIT
"""The part of Knot DNS's libzscanner (libknot-dev, GPL-3.0-or-later) that fastdns._zscanner
uses: a scanner over a string, one record at a time, the record's fields in wire form.  Only
an opt-in build links it (FASTDNS_ZSCANNER=1): see docs/zone-parser.md."""

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "libzscanner/scanner.h" nogil:
    ctypedef enum zs_state_t:
        ZS_STATE_NONE
        ZS_STATE_DATA
        ZS_STATE_ERROR
        ZS_STATE_INCLUDE
        ZS_STATE_EOF
        ZS_STATE_STOP

    ctypedef struct zs_scanner_t:
        bint multiline                  # within parentheses
        uint32_t zone_origin_length
        uint8_t zone_origin[1]          # ZS_MAX_DNAME_LENGTH + ZS_MAX_LABEL_LENGTH bytes
        uint32_t default_ttl
        zs_state_t state
        uint64_t line_counter
        uint32_t r_owner_length
        uint8_t r_owner[1]
        uint16_t r_class
        uint32_t r_ttl
        uint16_t r_type
        uint32_t r_data_length
        uint8_t r_data[1]

    int zs_init(zs_scanner_t *scanner, const char *origin, const uint16_t rclass, const uint32_t ttl)
    void zs_deinit(zs_scanner_t *scanner)
    int zs_set_input_string(zs_scanner_t *scanner, const char *input, size_t size)
    int zs_parse_record(zs_scanner_t *scanner)


cdef extern from *:
    """
    #define fastdns_zs_current(s) ((s)->input.current)
    """
    const char *zs_current "fastdns_zs_current"(zs_scanner_t *scanner) nogil  # where the scanner has read to
