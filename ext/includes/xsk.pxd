# SPDX-License-Identifier: MIT
# libxdp (AF_XDP sockets and rings) and libbpf (BPF objects, maps, links): only the symbols
# the AF_XDP backend uses.  Only fastdns._xdp cimports this file.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef extern from "<linux/if_xdp.h>" nogil:
    struct xdp_desc:
        uint64_t addr
        uint32_t len
        uint32_t options
    int XDP_USE_NEED_WAKEUP
    int XDP_COPY
    int XDP_ZEROCOPY
    int XDP_OPTIONS
    int XDP_OPTIONS_ZEROCOPY
    int SOL_XDP

cdef extern from "<linux/if_link.h>" nogil:
    int XDP_FLAGS_DRV_MODE
    int XDP_FLAGS_SKB_MODE

cdef extern from "<xdp/xsk.h>" nogil:
    struct xsk_ring_prod:
        uint32_t mask
        uint32_t size
        # ...
    struct xsk_ring_cons:
        uint32_t mask
        uint32_t size
        # ...
    struct xsk_umem:
        pass
    struct xsk_socket:
        pass
    struct xsk_umem_config:
        uint32_t fill_size
        uint32_t comp_size
        uint32_t frame_size
        uint32_t frame_headroom
        uint32_t flags
    struct xsk_socket_config:
        uint32_t rx_size
        uint32_t tx_size
        uint32_t libxdp_flags
        uint32_t xdp_flags
        uint16_t bind_flags
    int XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD

    uint64_t* xsk_ring_prod__fill_addr(xsk_ring_prod* fill, uint32_t idx)
    const uint64_t* xsk_ring_cons__comp_addr(const xsk_ring_cons* comp, uint32_t idx)
    xdp_desc* xsk_ring_prod__tx_desc(xsk_ring_prod* tx, uint32_t idx)
    const xdp_desc* xsk_ring_cons__rx_desc(const xsk_ring_cons* rx, uint32_t idx)
    int xsk_ring_prod__needs_wakeup(const xsk_ring_prod* r)
    uint32_t xsk_prod_nb_free(xsk_ring_prod* r, uint32_t nb)
    uint32_t xsk_ring_prod__reserve(xsk_ring_prod* prod, uint32_t nb, uint32_t* idx)
    void xsk_ring_prod__submit(xsk_ring_prod* prod, uint32_t nb)
    uint32_t xsk_ring_cons__peek(xsk_ring_cons* cons, uint32_t nb, uint32_t* idx)
    void xsk_ring_cons__cancel(xsk_ring_cons* cons, uint32_t nb)
    void xsk_ring_cons__release(xsk_ring_cons* cons, uint32_t nb)
    void* xsk_umem__get_data(void* umem_area, uint64_t addr)

    int xsk_umem__create(xsk_umem** umem, void* umem_area, uint64_t size, xsk_ring_prod* fill,
                         xsk_ring_cons* comp, const xsk_umem_config* config)
    int xsk_socket__create(xsk_socket** xsk, const char* ifname, uint32_t queue_id,
                           xsk_umem* umem, xsk_ring_cons* rx, xsk_ring_prod* tx,
                           const xsk_socket_config* config)
    int xsk_socket__fd(const xsk_socket* xsk)
    int xsk_socket__update_xskmap(xsk_socket* xsk, int xsks_map_fd)
    int xsk_umem__delete(xsk_umem* umem)
    void xsk_socket__delete(xsk_socket* xsk)

cdef extern from "<bpf/libbpf.h>" nogil:
    struct bpf_object:
        pass
    struct bpf_program:
        pass
    bpf_object* bpf_object__open_file(const char* path, const void* opts)
    int bpf_object__load(bpf_object* obj)
    void bpf_object__close(bpf_object* obj)
    bpf_program* bpf_object__find_program_by_name(const bpf_object* obj, const char* name)
    int bpf_program__fd(const bpf_program* prog)
    int bpf_object__find_map_fd_by_name(const bpf_object* obj, const char* name)
    long libbpf_get_error(const void* ptr)

cdef extern from "<bpf/bpf.h>" nogil:
    enum bpf_attach_type:
        BPF_XDP
    struct bpf_link_create_opts:
        size_t sz
        uint32_t flags
        # ...
    int bpf_link_create(int prog_fd, int target_fd, bpf_attach_type attach_type,
                        const bpf_link_create_opts* opts)
    int bpf_map_update_elem(int fd, const void* key, const void* value, uint64_t flags)

cdef extern from "<net/if.h>" nogil:
    unsigned int if_nametoindex(const char* ifname)

cdef extern from "xdp_dns.h" nogil:
    int FASTDNS_MAX_QUEUES
    int FASTDNS_CFG_ANY_V4
    int FASTDNS_CFG_ANY_V6
    struct fastdns_cfg:
        uint16_t port           # network byte order
        uint16_t flags
