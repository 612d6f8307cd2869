# SPDX-License-Identifier: MIT
# The worker's view of the control block (layout: fastdns/controlblock.py): the published
# generation it reads once per batch, and its own counter slot.


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
