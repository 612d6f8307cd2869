# SPDX-License-Identifier: MIT
# The worker's view of the control block (layout: fastdns/controlblock.py): the published
# generation it reads once per batch, and its own counter slot.


ctypedef struct worker_state_t:
    const uint64_t* generation_word   # in the control block, written by the control process
    uint64_t generation               # generation of the image mapped now
    uint64_t* shm_counters            # this worker's slot in the control block
    image_t img                       # the image answers come from
    query_t q                         # the query being answered
    uint64_t counters[N_COUNTERS]     # this batch's counts, added to shm_counters after it


cdef inline bint generation_changed(const worker_state_t* w) noexcept nogil:
    return fastdns_load_acquire(w.generation_word) != w.generation


cdef void* map_control_block(str path, size_t length) except NULL:
    cdef int fd = c_open(path.encode(), O_RDWR)
    cdef void* addr
    if fd < 0:
        raise OSError(errno, f"cannot open control block {path}")
    addr = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    c_close(fd)
    if addr == MAP_FAILED:
        raise OSError(errno, f"cannot map control block {path}")
    return addr


cdef inline void add_counters(uint64_t* shm, uint64_t* local) noexcept nogil:
    """Add this batch's counts to the worker's slot and start again from zero."""
    cdef int i
    for i in range(N_COUNTERS):
        shm[i] += local[i]
        local[i] = 0
