# SPDX-License-Identifier: MIT
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stddef cimport size_t

cdef extern from "compat.h" nogil:
    int FASTDNS_DEBUG
    int fastdns_install_stop_handler()
    int fastdns_stop_requested()
    int fastdns_set_pdeathsig(int sig)
    uint64_t fastdns_load_acquire(const uint64_t* p)
    uint16_t fastdns_get16(const uint8_t* p)
    void fastdns_put16(uint8_t* p, uint16_t v)
    void fastdns_put64(uint8_t* p, uint64_t v)
    uint32_t fastdns_get32(const uint8_t* p)
    void fastdns_put32(uint8_t* p, uint32_t v)
    uint64_t fastdns_get64(const uint8_t* p)
    uint64_t fastdns_random64()
    uint32_t fastdns_clock_ms()
    uint32_t fastdns_clock_s()
    int fastdns_client_address(const void* name, unsigned int namelen, const uint8_t** addr)
    uint64_t fastdns_load64le(const uint8_t* p)
    void fastdns_store64le(uint8_t* p, uint64_t w)
    uint64_t fastdns_csum_add(const uint8_t* data, size_t length, uint64_t total)
    uint16_t fastdns_csum_fold(uint64_t total)
    void fastdns_put_csum(uint8_t* p, uint16_t csum)
