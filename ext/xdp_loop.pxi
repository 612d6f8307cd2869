# SPDX-License-Identifier: MIT
# The AF_XDP transport of loop.pxi: the fill ring kept full, a batch off the RX ring answered
# inside the frames it arrived in, the same frames put on the TX ring, completions
# reclaimed.  One kick (sendto) per batch, and only when the kernel asks for it.

cdef enum:
    XSK_FRAME_SIZE = 4096       # bytes per UMEM chunk
    XSK_NUM_FRAMES = 4096       # chunks per worker: 16 MiB of UMEM
    XSK_RING_SIZE = 2048        # descriptors in each of the fill, completion, RX, TX rings
    XSK_POLL_TIMEOUT_MS = 250   # ms; an idle worker returns to Python this often
    XSK_TX_RETRY_MS = 1         # ms; how soon a kick the kernel turned away is tried again
    XSK_BUSY_SPINS = 100000     # empty polls before a busy-polling worker returns to Python

ctypedef struct xdp_ctx_t:
    xsk_ring_prod fill
    xsk_ring_cons comp
    xsk_ring_cons rx
    xsk_ring_prod tx
    int fd                      # the AF_XDP socket
    uint8_t* area               # the UMEM
    int mtu                     # bytes, of the interface
    int payload_max             # our EDNS UDP payload size, bytes
    bint busy_poll              # spin instead of sleeping in poll when idle
    bint tx_unkicked            # the last kick failed: replies wait on the TX ring
    int spins                   # empty waits in this run (busy polling, or TX retries)
    uint32_t rx_idx             # the batch on the RX ring: first descriptor, count
    uint32_t rx_n
    uint32_t n_free
    uint64_t free_frames[XSK_NUM_FRAMES]   # UMEM chunks in no ring
    uint64_t tx_addr[BATCH]
    uint32_t tx_len[BATCH]
    worker_state_t w           # control block view, image, query, counters

ctypedef xdp_ctx_t transport_t   # what loop.pxi drives


cdef inline void free_frame(xdp_ctx_t* c, uint64_t addr) noexcept nogil:
    c.free_frames[c.n_free] = addr - addr % XSK_FRAME_SIZE
    c.n_free += 1


cdef inline void reclaim(xdp_ctx_t* c) noexcept nogil:
    """Frames whose replies have gone out are free again."""
    cdef uint32_t idx, i
    cdef uint32_t n = xsk_ring_cons__peek(&c.comp, XSK_RING_SIZE, &idx)
    for i in range(n):
        free_frame(c, xsk_ring_cons__comp_addr(&c.comp, idx + i)[0])
    if n:
        xsk_ring_cons__release(&c.comp, n)


cdef inline void refill(xdp_ctx_t* c) noexcept nogil:
    """Keep the fill ring full: the kernel drops what it has no frame to receive into."""
    cdef uint32_t idx, i
    cdef uint32_t n = xsk_prod_nb_free(&c.fill, c.n_free)
    if n > c.n_free:
        n = c.n_free
    if n == 0:
        return
    n = xsk_ring_prod__reserve(&c.fill, n, &idx)
    for i in range(n):
        c.n_free -= 1
        xsk_ring_prod__fill_addr(&c.fill, idx + i)[0] = c.free_frames[c.n_free]
    xsk_ring_prod__submit(&c.fill, n)


cdef inline void kick_tx(xdp_ctx_t* c) noexcept nogil:
    """Ask the kernel to send what the TX ring holds.  It may answer EAGAIN/EBUSY (busy
    with an earlier batch): then the replies stay on the ring, and the loop kicks again
    before it sleeps, so they are not left there until the next query arrives."""
    c.tx_unkicked = 0
    if xsk_ring_prod__needs_wakeup(&c.tx):
        if sendto(c.fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 and (
                errno == EAGAIN or errno == EBUSY or errno == ENOBUFS):
            c.tx_unkicked = 1       # busy, not broken (a link that is down stays quiet)


cdef inline void send_replies(xdp_ctx_t* c, uint32_t m) noexcept nogil:
    cdef uint32_t idx, i
    cdef xdp_desc* desc
    if m == 0:
        return
    if xsk_ring_prod__reserve(&c.tx, m, &idx) < m:
        kick_tx(c)                  # let the kernel drain the TX ring, then try once more
        reclaim(c)
        if xsk_ring_prod__reserve(&c.tx, m, &idx) < m:
            for i in range(m):
                free_frame(c, c.tx_addr[i])
            c.w.counters[C_SEND_ERRORS] += m
            return
    for i in range(m):
        desc = xsk_ring_prod__tx_desc(&c.tx, idx + i)
        desc.addr = c.tx_addr[i]
        desc.len = c.tx_len[i]
        desc.options = 0
    xsk_ring_prod__submit(&c.tx, m)
    c.w.counters[C_TX] += m
    kick_tx(c)


cdef inline uint32_t answer_rx_batch(xdp_ctx_t* c, uint32_t idx, uint32_t n) noexcept nogil:
    """Answer n frames from the RX ring in place; returns how many replies tx_* holds."""
    cdef uint32_t i
    cdef uint32_t m = 0
    cdef int length
    cdef uint64_t addr
    cdef const xdp_desc* desc
    for i in range(n):
        desc = xsk_ring_cons__rx_desc(&c.rx, idx + i)
        addr = desc.addr
        length = answer_frame(<uint8_t*>xsk_umem__get_data(c.area, addr), desc.len,
                              XSK_FRAME_SIZE - <int>(addr % XSK_FRAME_SIZE), c.mtu, &c.w.img,
                              c.payload_max, &c.w.q, c.w.counters, &c.w.guard)
        if length:
            c.tx_addr[m] = addr
            c.tx_len[m] = length
            m += 1
        else:
            free_frame(c, addr)
    return m


cdef inline bint wait_for_rx(xdp_ctx_t* c) noexcept nogil:
    """Nothing received: sleep in poll (or spin when busy polling); False when idle long."""
    cdef pollfd pfd
    if c.tx_unkicked:
        kick_tx(c)
    if c.busy_poll:
        if xsk_ring_prod__needs_wakeup(&c.fill):
            recvfrom(c.fd, NULL, 0, MSG_DONTWAIT, NULL, NULL)
        c.spins += 1
        return c.spins < XSK_BUSY_SPINS
    pfd.fd = c.fd
    pfd.events = POLLIN
    pfd.revents = 0
    if c.tx_unkicked:
        poll(&pfd, 1, XSK_TX_RETRY_MS)
        c.spins += 1                # replies still to go out: not idle, but back to
        return c.spins < XSK_POLL_TIMEOUT_MS // XSK_TX_RETRY_MS   # Python now and then
    return poll(&pfd, 1, XSK_POLL_TIMEOUT_MS) != 0


# The transport interface of loop.pxi.  Nothing is held back for a new image: the batch
# goes back to the RX ring (cancelled), to be peeked again and answered from the new one.

cdef inline int tp_resume(xdp_ctx_t* c) noexcept nogil:
    c.spins = 0
    return 0


cdef inline int tp_recv(xdp_ctx_t* c) noexcept nogil:
    reclaim(c)
    refill(c)
    c.rx_n = xsk_ring_cons__peek(&c.rx, BATCH, &c.rx_idx)
    return <int>c.rx_n


cdef inline int tp_wait(xdp_ctx_t* c) noexcept nogil:
    return WAIT_AGAIN if wait_for_rx(c) else RUN_IDLE


cdef inline void tp_defer(xdp_ctx_t* c, int n) noexcept nogil:
    xsk_ring_cons__cancel(&c.rx, <uint32_t>n)


cdef inline int tp_answer(xdp_ctx_t* c, int n) noexcept nogil:
    return <int>answer_rx_batch(c, c.rx_idx, <uint32_t>n)


cdef inline void tp_send(xdp_ctx_t* c, int m) noexcept nogil:
    send_replies(c, <uint32_t>m)
    xsk_ring_cons__release(&c.rx, c.rx_n)
