# SPDX-License-Identifier: MIT
# The kernel-socket backend: batches in with recvmmsg, answered in place, batches out with
# sendmmsg.  Everything it touches is allocated once per worker in udp_ctx_t.

ctypedef struct udp_ctx_t:
    int nfds
    pollfd pfds[MAX_FDS]
    bint ready[MAX_FDS]         # worth another recvmmsg without polling first
    int payload_max             # our EDNS UDP payload size, bytes
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


cdef inline int recv_batch(udp_ctx_t* c, int fd, int flags) noexcept nogil:
    """The kernel leaves the iovecs alone; it writes msg_namelen of the messages it fills,
    and answer_batch sets those back."""
    return recvmmsg(fd, c.rx, BATCH, flags, NULL)


cdef inline int answer_batch(udp_ctx_t* c, int n) noexcept nogil:
    """Answer n received datagrams in place; returns how many replies tx holds."""
    cdef int j, length
    cdef int m = 0
    cdef socklen_t namelen
    for j in range(n):
        namelen = c.rx[j].msg_hdr.msg_namelen
        c.rx[j].msg_hdr.msg_namelen = sizeof(sockaddr_storage)    # ready for the next batch
        if c.rx[j].msg_hdr.msg_flags & MSG_TRUNC:
            c.w.counters[C_DROPPED] += 1      # larger than any query we would answer
            continue
        length = answer_query(c.bufs[j], <int>c.rx[j].msg_len, PKT_BUF_SIZE, &c.w.img,
                              c.payload_max, 0, &c.w.q, c.w.counters)
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


cdef inline void process(udp_ctx_t* c, int i, int n) noexcept nogil:
    c.w.counters[C_RX] += n
    c.w.counters[C_BATCHES] += 1
    send_batch(c, c.pfds[i].fd, answer_batch(c, n))
    add_counters(c.w.shm_counters, c.w.counters)


cdef run_status udp_run(udp_ctx_t* c, int max_batches) noexcept nogil:
    """Serve until stopped, idle, a new image is published, or max_batches are done."""
    if c.pending_fd >= 0:
        process(c, c.pending_fd, c.pending_n)
        c.pending_fd = -1
    if c.nfds == 1:
        return run_one_socket(c, max_batches)
    return run_polling(c, max_batches)


cdef inline bint new_generation(udp_ctx_t* c, int i, int n) noexcept nogil:
    """True when a newer image was published; the batch then waits for it."""
    if not generation_changed(&c.w):
        return 0
    c.pending_fd = i
    c.pending_n = n
    return 1


cdef run_status run_one_socket(udp_ctx_t* c, int max_batches) noexcept nogil:
    """One socket: block in recvmmsg itself (MSG_WAITFORONE returns as soon as one datagram
    is in, with whatever else is queued): one syscall in, one out, per batch.  The socket's
    SO_RCVTIMEO bounds the wait; a signal interrupts it."""
    cdef int n
    cdef int batches = 0
    while batches < max_batches:
        if fastdns_stop_requested():
            return RUN_STOP
        n = recv_batch(c, c.pfds[0].fd, MSG_WAITFORONE)
        if n <= 0:
            if n < 0 and errno == EINTR:
                continue
            return RUN_IDLE             # timed out (EAGAIN) or a transient socket error
        batches += 1
        if new_generation(c, 0, n):
            return RUN_NEW_GENERATION
        process(c, 0, n)
    return RUN_IDLE


cdef run_status run_polling(udp_ctx_t* c, int max_batches) noexcept nogil:
    """Several sockets: poll, then drain the ready ones.  A socket is read again without
    polling only when its last batch came back full, when more is likely queued."""
    cdef int i, n, rc
    cdef bint again
    cdef int batches = 0
    while batches < max_batches:
        if fastdns_stop_requested():
            return RUN_STOP
        again = 0
        for i in range(c.nfds):
            if not c.ready[i]:
                continue
            n = recv_batch(c, c.pfds[i].fd, MSG_DONTWAIT)
            c.ready[i] = n == BATCH
            again = again or c.ready[i]
            if n <= 0:
                continue
            batches += 1
            if new_generation(c, i, n):
                return RUN_NEW_GENERATION
            process(c, i, n)
        if again:
            continue
        rc = poll(c.pfds, c.nfds, POLL_TIMEOUT_MS)
        if rc == 0:
            return RUN_IDLE
        if rc < 0:
            if errno == EINTR:
                continue
            return RUN_ERROR
        for i in range(c.nfds):
            c.ready[i] = c.pfds[i].revents != 0
    return RUN_IDLE
