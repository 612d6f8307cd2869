# SPDX-License-Identifier: MIT
# The worker's view of the control block (fastdns/controlblock.py writes it; the contract
# test holds the two to the same layout): the published generation it reads once per
# batch, the policy (guard.pxi) it takes with each new generation, and its own counter slot.

cdef enum:
    CONTROL_HEADER_SIZE = 128       # bytes before the first slot
    CONTROL_SLOT_SIZE = 512         # bytes per worker slot: a multiple of the cache line

cdef extern from *:
    """
    #define FASTDNS_CONTROL_MAGIC "FDNSCTL1"
    """
    const char* CONTROL_MAGIC "FASTDNS_CONTROL_MAGIC"

cdef struct ctl_header:             # naturally aligned: no padding, word loads
    char magic[8]
    uint64_t generation             # written by the control process only
    uint32_t slot_count
    uint32_t slot_size
    ctl_policy policy               # written before the generation that brings it


ctypedef struct worker_state_t:
    const uint64_t* generation_word   # in the control block, written by the control process
    uint64_t generation               # generation of the image mapped now
    uint64_t* shm_counters            # this worker's slot in the control block
    image_t img                       # the image answers come from
    query_t q                         # the query being answered
    guard_t guard                     # rate limiting and cookies (guard.pxi)
    uint64_t counters[N_COUNTERS]     # this batch's counts, added to shm_counters after it


cdef inline bint generation_changed(const worker_state_t* w) noexcept nogil:
    return fastdns_load_acquire(w.generation_word) != w.generation


cdef void* map_control_block(str path, size_t length) except NULL:
    cdef int fd = c_open(path.encode(), O_RDWR)
    cdef struct_stat st
    cdef void* addr
    if fd < 0:
        raise OSError(errno, f"cannot open control block {path}")
    if fstat(fd, &st) != 0 or <size_t>st.st_size < length or length < sizeof(ctl_header):
        c_close(fd)         # mapping past the end of the file would fault on access
        raise ValueError(f"{path}: control block shorter than {length} bytes")
    addr = mmap(NULL, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    c_close(fd)
    if addr == MAP_FAILED:
        raise OSError(errno, f"cannot map control block {path}")
    return addr


cdef int check_control_block(const ctl_header* h, size_t length, size_t counters_off,
                             str path) except -1:
    """The worker is told where its slot is; check that the block agrees."""
    if memcmp(h.magic, CONTROL_MAGIC, 8) != 0:
        raise ValueError(f"{path}: not a fastdns control block")
    if h.slot_size != CONTROL_SLOT_SIZE:
        raise ValueError(f"{path}: slots of {h.slot_size} bytes, expected {CONTROL_SLOT_SIZE}")
    if (counters_off < CONTROL_HEADER_SIZE
            or (counters_off - CONTROL_HEADER_SIZE) % CONTROL_SLOT_SIZE
            or (counters_off - CONTROL_HEADER_SIZE) // CONTROL_SLOT_SIZE >= h.slot_count
            or counters_off + CONTROL_SLOT_SIZE > length):
        raise ValueError(f"{path}: no counter slot at offset {counters_off}")
    return 0


cdef inline void add_counters(uint64_t* shm, uint64_t* local) noexcept nogil:
    """Add this batch's counts to the worker's slot and start again from zero."""
    cdef int i
    for i in range(N_COUNTERS):
        shm[i] += local[i]
        local[i] = 0
