# SPDX-License-Identifier: MIT
# The kernel-socket transport of loop.pxi: batches in with recvmmsg, answered in place, out with
# sendmmsg.  Everything it touches is allocated once per worker in udp_ctx_t.

ctypedef struct udp_ctx_t:
    int nfds
    pollfd pfds[MAX_FDS]
    bint ready[MAX_FDS]         # worth another recvmmsg without polling first
    int payload_max             # our EDNS UDP payload size, bytes
    int cur                     # index of the fd the batch in rx came from
    int cursor                  # next fd to read in this pass over the ready ones
    bint again                  # a batch this pass came back full: read before polling
    bint interrupted            # the blocking receive was interrupted by a signal
    int pending_fd              # index of the fd whose batch waits for a new image, or -1
    int pending_n
    worker_state_t w           # control block view, image, query, counters
    mmsghdr rx[BATCH]
    mmsghdr tx[BATCH]
    iovec rx_iov[BATCH]
    iovec tx_iov[BATCH]
    sockaddr_storage addrs[BATCH]
    uint8_t bufs[BATCH][PKT_BUF_SIZE]


cdef void udp_ctx_init(udp_ctx_t* c) noexcept nogil:
    cdef int j
    memset(c, 0, sizeof(udp_ctx_t))
    c.pending_fd = -1
    for j in range(BATCH):
        c.rx_iov[j].iov_base = c.bufs[j]
        c.rx_iov[j].iov_len = PKT_BUF_SIZE
        c.rx[j].msg_hdr.msg_namelen = sizeof(sockaddr_storage)
        c.rx[j].msg_hdr.msg_iov = &c.rx_iov[j]
        c.rx[j].msg_hdr.msg_iovlen = 1
        c.rx[j].msg_hdr.msg_name = &c.addrs[j]
        c.tx[j].msg_hdr.msg_iovlen = 1


ctypedef udp_ctx_t transport_t   # what loop.pxi drives


cdef inline int recv_batch(udp_ctx_t* c, int i, int flags) noexcept nogil:
    """The kernel leaves the iovecs alone; it writes msg_namelen of the messages it fills,
    and answer_batch sets those back."""
    c.cur = i
    return recvmmsg(c.pfds[i].fd, c.rx, BATCH, flags, NULL)


cdef inline int answer_batch(udp_ctx_t* c, int n) noexcept nogil:
    """Answer n received datagrams in place; returns how many replies tx holds."""
    cdef int j, length, addr_len
    cdef int m = 0
    cdef socklen_t namelen
    cdef const uint8_t* addr
    for j in range(n):
        namelen = c.rx[j].msg_hdr.msg_namelen
        c.rx[j].msg_hdr.msg_namelen = sizeof(sockaddr_storage)    # ready for the next batch
        if c.rx[j].msg_hdr.msg_flags & MSG_TRUNC:
            c.w.counters[C_DROPPED] += 1      # larger than any query we would answer
            continue
        addr_len = fastdns_client_address(&c.addrs[j], namelen, &addr)
        length = answer_query(c.bufs[j], <int>c.rx[j].msg_len, PKT_BUF_SIZE, &c.w.img,
                              c.payload_max, 0, &c.w.q, c.w.counters, &c.w.guard, addr, addr_len)
        if length == 0:
            continue
        c.tx_iov[m].iov_base = c.bufs[j]
        c.tx_iov[m].iov_len = length
        c.tx[m].msg_hdr.msg_iov = &c.tx_iov[m]
        c.tx[m].msg_hdr.msg_name = &c.addrs[j]
        c.tx[m].msg_hdr.msg_namelen = namelen
        m += 1
    return m


cdef inline void send_batch(udp_ctx_t* c, int fd, int m) noexcept nogil:
    cdef int sent = 0
    cdef int rc
    while sent < m:
        rc = sendmmsg(fd, &c.tx[sent], m - sent, 0)
        if rc < 0:
            if errno == EINTR:
                continue
            c.w.counters[C_SEND_ERRORS] += 1  # this reply is lost; go on with the rest
            sent += 1
        else:
            c.w.counters[C_TX] += rc
            sent += rc


# The transport interface of loop.pxi.  One socket: block in recvmmsg itself
# (MSG_WAITFORONE returns as soon as one datagram is in, with whatever else is queued): one
# syscall in, one out, per batch; the socket's SO_RCVTIMEO bounds the wait, a signal
# interrupts it.  Several sockets: poll, then drain the ready ones; a socket is read again
# without polling only when its last batch came back full, when more is likely queued.

cdef inline int tp_resume(udp_ctx_t* c) noexcept nogil:
    cdef int n = c.pending_n if c.pending_fd >= 0 else 0
    if n:
        c.cur = c.pending_fd
    c.pending_fd = -1
    return n


cdef inline int tp_recv(udp_ctx_t* c) noexcept nogil:
    cdef int i, n
    if c.nfds == 1:
        n = recv_batch(c, 0, MSG_WAITFORONE)
        if n <= 0:
            c.interrupted = n < 0 and errno == EINTR
        return n
    for i in range(c.cursor, c.nfds):
        if not c.ready[i]:
            continue
        n = recv_batch(c, i, MSG_DONTWAIT)
        c.ready[i] = n == BATCH
        c.again = c.again or c.ready[i]
        if n > 0:
            c.cursor = i + 1
            return n
    c.cursor = 0                # this pass is over
    return 0


cdef inline int tp_wait(udp_ctx_t* c) noexcept nogil:
    cdef int i, rc
    if c.nfds == 1:             # timed out (EAGAIN), interrupted, or a transient error
        return WAIT_AGAIN if c.interrupted else RUN_IDLE
    if c.again:
        c.again = 0
        return WAIT_AGAIN
    rc = poll(c.pfds, c.nfds, POLL_TIMEOUT_MS)
    if rc == 0:
        return RUN_IDLE
    if rc < 0:
        return WAIT_AGAIN if errno == EINTR else RUN_ERROR
    for i in range(c.nfds):
        c.ready[i] = c.pfds[i].revents != 0
    return WAIT_AGAIN


cdef inline void tp_defer(udp_ctx_t* c, int n) noexcept nogil:
    c.pending_fd = c.cur
    c.pending_n = n


cdef inline int tp_answer(udp_ctx_t* c, int n) noexcept nogil:
    return answer_batch(c, n)


cdef inline void tp_send(udp_ctx_t* c, int m) noexcept nogil:
    send_batch(c, c.pfds[c.cur].fd, m)
