# SPDX-License-Identifier: MIT
# cython: language_level=3
"""fastdns data plane: the answering engine and the kernel-socket worker loop.

The files included below each do one job and compile as one C unit, so the per-packet
helpers inline into the loop (the uvloop layout).  The Python classes at the bottom only
map files, allocate, and run the loop without the GIL; nothing they do is per packet.
"""

include "core.pxi"
include "udp_loop.pxi"
include "loop.pxi"

COUNTER_COUNT = N_COUNTERS
STOP = RUN_STOP
IDLE = RUN_IDLE
NEW_GENERATION = RUN_NEW_GENERATION


cdef class Image:
    """A compiled image mapped read-only; shared page cache, one copy for all workers."""

    cdef image_t img
    cdef void* addr
    cdef size_t length
    cdef readonly str path

    def __cinit__(self, str path not None):
        cdef struct_stat st
        cdef int fd
        cdef bytes bpath = path.encode()
        self.addr = NULL
        self.path = path
        fd = c_open(bpath, O_RDONLY)
        if fd < 0:
            raise OSError(errno, f"cannot open image {path}")
        try:
            if fstat(fd, &st) != 0:
                raise OSError(errno, f"cannot stat image {path}")
            if st.st_size < <long>sizeof(img_header):
                raise ValueError(f"{path}: image shorter than its header")
            self.length = <size_t>st.st_size
            self.addr = mmap(NULL, self.length, PROT_READ, MAP_SHARED, fd, 0)
            if self.addr == MAP_FAILED:
                self.addr = NULL
                raise OSError(errno, f"cannot map image {path}")
        finally:
            c_close(fd)
        self._check(path)

    cdef _check(self, str path):
        """The header and section bounds; the body was checked before publication."""
        cdef const img_header* h = <const img_header*>self.addr
        cdef image_check verdict = image_init(&self.img, <const uint8_t*>self.addr, self.length)
        if verdict == IMAGE_NOT_FASTDNS:
            raise ValueError(f"{path}: not a fastdns image")
        if verdict == IMAGE_UNSUPPORTED:
            raise ValueError(f"{path}: unsupported image version {h.version}")
        if verdict == IMAGE_WRONG_SIZE:
            raise ValueError(f"{path}: {self.length} bytes, header says {h.total_size}")
        if verdict != IMAGE_OK:
            raise ValueError(f"{path}: section outside the image")

    def __dealloc__(self):
        if self.addr != NULL:
            munmap(self.addr, self.length)

    @property
    def size(self) -> int:
        return self.length

    def capsule(self):
        """The mapped image_t for fastdns._xdp; valid while this Image is alive."""
        return PyCapsule_New(&self.img, IMAGE_CAPSULE, NULL)


cdef class Engine:
    """The answering core, callable from Python: tests and the TCP path use it."""

    cdef readonly Image image
    cdef query_t q
    cdef guard_t guard
    cdef uint64_t tallies[N_COUNTERS]
    cdef int payload_max

    def __cinit__(self, Image image not None, int udp_payload=1232):
        self.image = image
        self.payload_max = clamp_payload(udp_payload)
        memset(self.tallies, 0, sizeof(self.tallies))
        memset(&self.guard, 0, sizeof(self.guard))

    def __dealloc__(self):
        guard_free(&self.guard)

    def set_image(self, Image image not None):
        self.image = image

    def set_policy(self, const uint8_t[::1] policy not None):
        """Cookies and rate limiting as the control block's policy (fastdns.controlblock
        .pack_policy) says; before it, neither."""
        if policy.shape[0] != sizeof(ctl_policy):
            raise ValueError(f"a policy is {sizeof(ctl_policy)} bytes, not {policy.shape[0]}")
        if guard_configure(&self.guard, <const ctl_policy*>&policy[0]) < 0:
            raise MemoryError("no memory for the rate-limiting table")

    def answer(self, const uint8_t[::1] query not None, bint tcp=False, bytes client=None,
               now=None):
        """The reply to one DNS message, or None when it must be dropped.

        :param tcp: answer as over TCP: up to 65535 bytes, no truncation to a UDP size.
        :param client: the client's address, packed (4 or 16 bytes): what cookies and rate
            limiting key on.
        :param now: the time in seconds, for tests (default: the clocks).
        """
        cdef int cap = MAX_TCP_MESSAGE if tcp else PKT_BUF_SIZE
        cdef int length = <int>query.shape[0]
        cdef bytearray buf
        cdef int n
        cdef const uint8_t* addr = NULL
        cdef int addr_len = 0
        if client is not None:
            if len(client) not in (4, 16):
                raise ValueError("client: a packed IPv4 or IPv6 address")
            addr = <const uint8_t*>(<char*>client)
            addr_len = len(client)
        if now is None:
            guard_tick(&self.guard)
        else:
            self.guard.now_s = <uint32_t>int(now)
            self.guard.now_ms = <uint32_t>(int(now * 1000) & 0xFFFFFFFF)
        # A local reference keeps the mapping alive without the GIL: set_image (the reload
        # thread) may drop self.image's last reference, and unmap it, meanwhile.
        cdef Image image = self.image
        if length > cap:
            self.tallies[C_DROPPED] += 1
            return None
        buf = bytearray(cap)
        cdef uint8_t* p = buf
        if length:
            memcpy(p, &query[0], length)
        with nogil:
            n = answer_query(p, length, cap, &image.img, self.payload_max, tcp,
                             &self.q, self.tallies, &self.guard, addr, addr_len)
        self.tallies[C_RX] += 1
        if n == 0:
            return None
        self.tallies[C_TX] += 1
        return bytes(buf[:n])

    def counters(self) -> list:
        return [self.tallies[i] for i in range(N_COUNTERS)]


cdef class UdpWorker(WorkerBase):
    """One worker's UDP sockets, batch buffers and view of the control block."""

    cdef udp_ctx_t* ctx

    def __cinit__(self, list fds not None, int udp_payload, str control_path not None,
                  int slot, int control_len, int counters_off):
        cdef int i
        self.ctx = NULL
        if not 0 < len(fds) <= MAX_FDS:
            raise ValueError(f"a worker serves 1 to {MAX_FDS} sockets, not {len(fds)}")
        self.ctx = <udp_ctx_t*>malloc(sizeof(udp_ctx_t))
        if self.ctx == NULL:
            raise MemoryError()
        udp_ctx_init(self.ctx)
        self.ctx.payload_max = clamp_payload(udp_payload)
        self.ctx.nfds = len(fds)
        for i in range(self.ctx.nfds):
            self.ctx.pfds[i].fd = fds[i]
            self.ctx.pfds[i].events = POLLIN
            self.ctx.ready[i] = 1
        self.attach(&self.ctx.w, control_path, <size_t>control_len, <size_t>counters_off)

    def __dealloc__(self):
        if self.ctx != NULL:
            guard_free(&self.ctx.w.guard)
        free(self.ctx)

    cdef run_status serve(self, int max_batches) noexcept nogil:
        return run_loop(self.ctx, max_batches)

