# SPDX-License-Identifier: MIT
# The answering core, included by both extensions (fastdns._dataplane for kernel sockets,
# fastdns._xdp for AF_XDP) so that both answer with the very same code.

from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_New
from libc.errno cimport errno, EINTR, EAGAIN, EBUSY, ENOBUFS
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memcpy, memcmp, memset
from posix.fcntl cimport open as c_open, O_RDONLY, O_RDWR
from posix.mman cimport mmap, munmap, PROT_READ, PROT_WRITE, MAP_SHARED, MAP_FAILED
from posix.stat cimport struct_stat, fstat
from posix.unistd cimport close as c_close

from compat cimport (fastdns_install_stop_handler, fastdns_stop_requested,
                     fastdns_set_pdeathsig, fastdns_load_acquire, fastdns_get16,
                     fastdns_put16, fastdns_put64, fastdns_load64le, fastdns_store64le,
                     fastdns_csum_add, fastdns_csum_fold, fastdns_put_csum)
from net cimport (iovec, mmsghdr, socklen_t, sockaddr_storage, recvmmsg, sendmmsg, sendto,
                  recvfrom, MSG_DONTWAIT, MSG_TRUNC, MSG_WAITFORONE, pollfd, poll, POLLIN)

include "consts.pxi"
include "counters.pxi"
include "wire.pxi"
include "image.pxi"
include "respond.pxi"
include "control.pxi"

#: PyCapsule name under which fastdns._dataplane.Image hands its image_t to fastdns._xdp.
cdef const char* IMAGE_CAPSULE = "fastdns.image_t"


cdef enum run_status:
    RUN_STOP = 0                # SIGTERM/SIGINT arrived
    RUN_IDLE = 1                # nothing to do for a while, or enough batches: back to Python
    RUN_NEW_GENERATION = 2      # a new image was published; a received batch waits for it
    RUN_ERROR = 3               # poll failed: errno says why


# compat.h's stop flag is static: each extension module has its own.  A worker installs
# the handler of the module whose loop it runs.
def install_stop_handler() -> None:
    """SIGTERM/SIGINT set a flag the loop checks once per batch (and interrupt its wait)."""
    if fastdns_install_stop_handler() != 0:
        raise OSError(errno, "sigaction failed")


def stop_requested() -> bool:
    return fastdns_stop_requested() != 0


def set_parent_death_signal(int sig) -> None:
    """Ask the kernel to send sig when the control process dies: no orphaned workers."""
    if fastdns_set_pdeathsig(sig) != 0:
        raise OSError(errno, "prctl(PR_SET_PDEATHSIG) failed")


cdef class WorkerBase:
    """What every backend's worker shares: its view of the control block, and the image
    it answers from (switched between runs, never during one)."""

    cdef worker_state_t* state
    cdef void* control
    cdef size_t control_len
    cdef object image           # keeps the mapped image alive while the loop reads it

    cdef int attach(self, worker_state_t* state, str control_path, size_t control_len,
                    size_t counters_off) except -1:
        self.state = state
        self.control_len = control_len
        self.control = map_control_block(control_path, control_len)
        state.generation_word = <const uint64_t*>(<uint8_t*>self.control + 8)
        state.shm_counters = <uint64_t*>(<uint8_t*>self.control + counters_off)
        return 0

    def __dealloc__(self):
        if self.control != NULL:
            munmap(self.control, self.control_len)

    @property
    def published_generation(self) -> int:
        return fastdns_load_acquire(self.state.generation_word)

    @property
    def generation(self) -> int:
        return self.state.generation

    def set_image(self, image not None, unsigned long long generation):
        """Answer from image (a fastdns._dataplane.Image) from the next batch on."""
        cdef image_t* img = <image_t*>PyCapsule_GetPointer(image.capsule(), IMAGE_CAPSULE)
        self.image = image
        self.state.img = img[0]
        if self.state.generation != 0:
            self.state.shm_counters[C_IMAGE_SWITCHES] += 1
        self.state.generation = generation

    cdef int check_image(self) except -1:
        if self.image is None:
            raise RuntimeError("no image mapped")
        return 0
