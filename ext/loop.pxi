# SPDX-License-Identifier: MIT
# The worker loop, written once for every transport (the shape of Knot DNS's udp_api_t:
# recv, handle, send, wait, in one cycle).  Each extension includes exactly one transport
# file before this one; it defines `transport_t` and the tp_* functions below, all
# `cdef inline` in the same C unit, so the compiler inlines them here: no indirect call,
# per batch or per packet.
#
#   tp_resume(c)        at the start of a run: the size of a batch held back for the new
#                       image (answered first), or 0
#   tp_recv(c)          one batch in; its size, 0 when nothing is waiting
#   tp_wait(c)          nothing was waiting: WAIT_AGAIN, or RUN_IDLE / RUN_ERROR to return
#   tp_defer(c, n)      a new image was published: keep the batch for after the switch
#   tp_answer(c, n)     answer the batch in place; returns how many replies it holds
#   tp_send(c, m)       send those replies

cdef enum:
    WAIT_AGAIN = -1     # tp_wait: go round again (something may be waiting now)


cdef inline void handle_batch(transport_t* c, int n) noexcept nogil:
    guard_tick(&c.w.guard)      # the clocks, once per batch
    c.w.counters[C_RX] += n
    c.w.counters[C_BATCHES] += 1
    tp_send(c, tp_answer(c, n))
    add_counters(c.w.shm_counters, c.w.counters)


cdef run_status run_loop(transport_t* c, int max_batches) noexcept nogil:
    """Serve until stopped, idle, a new image is published, or max_batches are done.

    The stop flag is read once per batch; the generation once per batch received, after
    receiving and before answering, so no reply mixes two images."""
    cdef int n, rc
    cdef int batches = 0
    n = tp_resume(c)
    if n:
        handle_batch(c, n)
    while batches < max_batches:
        if fastdns_stop_requested():
            return RUN_STOP
        n = tp_recv(c)
        if n <= 0:
            rc = tp_wait(c)
            if rc == WAIT_AGAIN:
                continue
            return <run_status>rc
        batches += 1
        if generation_changed(&c.w):
            tp_defer(c, n)
            return RUN_NEW_GENERATION
        handle_batch(c, n)
    return RUN_IDLE
