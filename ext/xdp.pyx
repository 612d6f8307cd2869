# SPDX-License-Identifier: MIT
# cython: language_level=3
"""fastdns AF_XDP backend: the XDP program's loader and the per-queue worker loop.

Only this extension links libxdp/libbpf; fastdns._dataplane builds and runs without them.
It answers with the same core (core.pxi) as the kernel-socket backend; the image comes
from a fastdns._dataplane.Image through a capsule.
"""


include "core.pxi"

from xsk cimport *

include "frame.pxi"
include "xdp_loop.pxi"
include "loop.pxi"


cdef extern from "<stdlib.h>" nogil:
    int posix_memalign(void** memptr, size_t alignment, size_t size)

cdef extern from "<sys/socket.h>" nogil:
    int getsockopt(int fd, int level, int name, void* value, unsigned int* length)

cdef extern from "<arpa/inet.h>" nogil:
    uint16_t htons(uint16_t value)

STOP = RUN_STOP
IDLE = RUN_IDLE
NEW_GENERATION = RUN_NEW_GENERATION
MAX_QUEUES = FASTDNS_MAX_QUEUES


cdef class XdpProgram:
    """The XDP program attached to one interface, steering served DNS traffic to the
    AF_XDP sockets in its XSKMAP.  Attached through a BPF link held by this process:
    if the process dies, the kernel detaches the program, so the interface never stays
    black-holing DNS."""

    cdef bpf_object* obj
    cdef int link_fd
    cdef readonly int xsks_map_fd
    cdef readonly str ifname
    cdef readonly str mode

    def __cinit__(self, str ifname not None, str object_path not None, int port,
                  list ipv4 not None, list ipv6 not None, bint generic=False):
        """
        :param ipv4: served IPv4 addresses, 4 bytes each, network order; empty = any.
        :param ipv6: served IPv6 addresses, 16 bytes each; empty = any.
        :param generic: attach in generic (SKB) mode instead of native driver mode.
        """
        cdef unsigned int ifindex = if_nametoindex(ifname.encode())
        cdef bpf_program* prog
        cdef bpf_link_create_opts opts
        cdef fastdns_cfg cfg
        cdef uint32_t key = 0
        cdef uint8_t one = 1
        self.obj = NULL
        self.link_fd = -1
        self.ifname = ifname
        if ifindex == 0:
            raise OSError(errno, f"xdp: no interface named {ifname}")
        self.obj = bpf_object__open_file(object_path.encode(), NULL)
        if libbpf_get_error(self.obj):
            self.obj = NULL
            raise OSError(errno, f"xdp: cannot open BPF object {object_path}")
        if bpf_object__load(self.obj) != 0:
            raise OSError(errno, f"xdp: the kernel refused to load {object_path}")
        prog = bpf_object__find_program_by_name(self.obj, b"fastdns_xdp")
        if prog == NULL:
            raise ValueError(f"xdp: {object_path} has no program fastdns_xdp")
        self.xsks_map_fd = self._map_fd("xsks_map")
        cfg.port = htons(<uint16_t>port)
        cfg.flags = (0 if ipv4 else FASTDNS_CFG_ANY_V4) | (0 if ipv6 else FASTDNS_CFG_ANY_V6)
        self._update(self._map_fd("fastdns_cfg"), &key, &cfg)
        for address in ipv4:
            self._update_bytes(self._map_fd("fastdns_v4"), address, 4, &one)
        for address in ipv6:
            self._update_bytes(self._map_fd("fastdns_v6"), address, 16, &one)
        memset(&opts, 0, sizeof(opts))
        opts.sz = sizeof(opts)
        opts.flags = XDP_FLAGS_SKB_MODE if generic else XDP_FLAGS_DRV_MODE
        self.link_fd = bpf_link_create(bpf_program__fd(prog), <int>ifindex, BPF_XDP, &opts)
        if self.link_fd < 0:
            error = -self.link_fd
            self.link_fd = -1
            hint = " (another XDP program is attached: `ip link set dev %s xdp off`)" % ifname \
                if error == 16 else ""
            raise OSError(error, f"xdp: cannot attach to {ifname} in "
                                 f"{'generic' if generic else 'native'} mode{hint}")
        self.mode = "generic" if generic else "native"

    cdef int _map_fd(self, str name) except -1:
        cdef int fd = bpf_object__find_map_fd_by_name(self.obj, name.encode())
        if fd < 0:
            raise ValueError(f"xdp: the BPF object has no map {name}")
        return fd

    cdef int _update(self, int fd, const void* key, const void* value) except -1:
        if bpf_map_update_elem(fd, key, value, 0) != 0:
            raise OSError(errno, "xdp: cannot configure the BPF maps")
        return 0

    cdef int _update_bytes(self, int fd, bytes key, int length, const void* value) except -1:
        if len(key) != length:
            raise ValueError(f"xdp: address of {len(key)} bytes, expected {length}")
        return self._update(fd, <const char*>key, value)

    def detach(self) -> None:
        """Detach the program (closing the link) and free the BPF object."""
        if self.link_fd >= 0:
            c_close(self.link_fd)
            self.link_fd = -1
        if self.obj != NULL:
            bpf_object__close(self.obj)
            self.obj = NULL

    def __dealloc__(self):
        self.detach()


cdef class XdpWorker(WorkerBase):
    """One AF_XDP socket on one RX queue, its UMEM and rings, and the answering loop."""

    cdef xdp_ctx_t* ctx
    cdef xsk_umem* umem
    cdef xsk_socket* xsk

    def __cinit__(self, str ifname not None, int queue, int xsks_map_fd, int mtu,
                  int udp_payload, str control_path not None, int control_len,
                  int counters_off, bint busy_poll=False):
        cdef xsk_umem_config ucfg
        cdef xsk_socket_config scfg
        cdef void* area = NULL
        cdef int rc, i
        self.ctx = NULL
        self.umem = NULL
        self.xsk = NULL
        if posix_memalign(<void**>&self.ctx, 64, sizeof(xdp_ctx_t)) != 0:
            raise MemoryError()
        memset(self.ctx, 0, sizeof(xdp_ctx_t))
        if posix_memalign(&area, 4096, <size_t>XSK_NUM_FRAMES * XSK_FRAME_SIZE) != 0:
            raise MemoryError()
        self.ctx.area = <uint8_t*>area
        ucfg.fill_size = XSK_RING_SIZE
        ucfg.comp_size = XSK_RING_SIZE
        ucfg.frame_size = XSK_FRAME_SIZE
        ucfg.frame_headroom = 0
        ucfg.flags = 0
        rc = xsk_umem__create(&self.umem, area, <uint64_t>XSK_NUM_FRAMES * XSK_FRAME_SIZE,
                              &self.ctx.fill, &self.ctx.comp, &ucfg)
        if rc != 0:
            raise OSError(-rc, f"xdp: cannot register the UMEM for {ifname} queue {queue}")
        memset(&scfg, 0, sizeof(scfg))
        scfg.rx_size = XSK_RING_SIZE
        scfg.tx_size = XSK_RING_SIZE
        scfg.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD   # ours is attached already
        scfg.bind_flags = XDP_USE_NEED_WAKEUP
        rc = xsk_socket__create(&self.xsk, ifname.encode(), queue, self.umem, &self.ctx.rx,
                                &self.ctx.tx, &scfg)
        if rc != 0:
            raise OSError(-rc, f"xdp: cannot open an AF_XDP socket on {ifname} queue {queue}")
        rc = xsk_socket__update_xskmap(self.xsk, xsks_map_fd)
        if rc != 0:
            raise OSError(-rc, f"xdp: cannot register queue {queue} in the XSKMAP")
        self.ctx.fd = xsk_socket__fd(self.xsk)
        self.ctx.mtu = mtu
        self.ctx.payload_max = clamp_payload(udp_payload)
        self.ctx.busy_poll = busy_poll
        for i in range(XSK_NUM_FRAMES):
            self.ctx.free_frames[i] = <uint64_t>i * XSK_FRAME_SIZE
        self.ctx.n_free = XSK_NUM_FRAMES
        refill(self.ctx)
        self.attach(&self.ctx.w, control_path, <size_t>control_len, <size_t>counters_off)

    def __dealloc__(self):
        if self.xsk != NULL:
            xsk_socket__delete(self.xsk)
        if self.umem != NULL:
            xsk_umem__delete(self.umem)
        if self.ctx != NULL:
            guard_free(&self.ctx.w.guard)
            free(self.ctx.area)
            free(self.ctx)

    @property
    def zero_copy(self) -> bool:
        """Whether the kernel gave us zero-copy mode (else copy mode)."""
        cdef uint32_t options = 0
        cdef unsigned int length = sizeof(options)
        if getsockopt(self.ctx.fd, SOL_XDP, XDP_OPTIONS, &options, &length) != 0:
            return False
        return (options & XDP_OPTIONS_ZEROCOPY) != 0

    wait_call = "poll on the AF_XDP socket"

    cdef run_status serve(self, int max_batches) noexcept nogil:
        return run_loop(self.ctx, max_batches)
