# SPDX-License-Identifier: MIT
# The answering core, included by both extensions (fastdns._dataplane for kernel sockets,
# fastdns._xdp for AF_XDP) so that both answer with the very same code.

from cpython.pycapsule cimport PyCapsule_GetPointer, PyCapsule_New
from libc.errno cimport errno, EINTR, EAGAIN, EBUSY, ENOBUFS
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memcpy, memcmp, memset
from posix.fcntl cimport open as c_open, O_RDONLY, O_RDWR
from posix.mman cimport mmap, munmap, PROT_READ, PROT_WRITE, MAP_SHARED, MAP_FAILED
from posix.stat cimport struct_stat, fstat
from posix.unistd cimport close as c_close

from compat cimport (fastdns_install_stop_handler, fastdns_stop_requested,
                     fastdns_set_pdeathsig, fastdns_load_acquire, fastdns_get16,
                     fastdns_put16, fastdns_put64, fastdns_load64le, fastdns_store64le,
                     fastdns_csum_add, fastdns_csum_fold, fastdns_put_csum, fastdns_get32,
                     fastdns_put32, fastdns_get64, fastdns_random64, fastdns_clock_ms, fastdns_clock_s,
                     fastdns_client_address)
from sodium cimport sodium_init
from net cimport (iovec, mmsghdr, socklen_t, sockaddr_storage, recvmmsg, sendmmsg, sendto,
                  recvfrom, MSG_DONTWAIT, MSG_TRUNC, MSG_WAITFORONE, pollfd, poll, POLLIN)

include "consts.pxi"
include "counters.pxi"
include "wire.pxi"
include "image.pxi"
include "denial.pxi"
include "guard.pxi"
include "cookies.pxi"
include "respond.pxi"
include "ratelimit.pxi"
include "control.pxi"

if sodium_init() < 0:
    raise ImportError("libsodium failed to initialise")

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
    """What every backend's worker shares: its view of the control block, the image it
    answers from (switched between runs, never during one), and run(); a backend supplies
    serve(), its transport driven by loop.pxi's run_loop."""

    cdef worker_state_t* state
    cdef void* control
    cdef size_t control_len
    cdef object image           # keeps the mapped image alive while the loop reads it
    #: What failed when the loop returns RUN_ERROR (the backend's wait).
    wait_call = "poll"

    cdef int attach(self, worker_state_t* state, str control_path, size_t control_len,
                    size_t counters_off) except -1:
        cdef const ctl_header* h
        self.state = state
        self.control = map_control_block(control_path, control_len)
        self.control_len = control_len
        h = <const ctl_header*>self.control
        check_control_block(h, control_len, counters_off, control_path)
        state.generation_word = &h.generation
        state.shm_counters = <uint64_t*>(<uint8_t*>self.control + counters_off)
        return 0

    cdef run_status serve(self, int max_batches) noexcept nogil:
        return RUN_ERROR

    def run(self, int max_batches=4096) -> int:
        """Serve without the GIL; returns STOP, IDLE or NEW_GENERATION."""
        cdef run_status rc
        self.check_image()
        with nogil:
            rc = self.serve(max_batches)
        if rc == RUN_ERROR:
            raise OSError(errno, f"{self.wait_call} failed")
        return rc

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
        if guard_configure(&self.state.guard, &(<const ctl_header*>self.control).policy) < 0:
            raise MemoryError("no memory for the rate-limiting table")
        self.image = image
        self.state.img = img[0]
        if self.state.generation != 0:
            self.state.shm_counters[C_IMAGE_SWITCHES] += 1
        self.state.generation = generation

    cdef int check_image(self) except -1:
        if self.image is None:
            raise RuntimeError("no image mapped")
        return 0


cdef inline size_t _at(const void* base, const void* field):
    return <size_t>(<const char*>field - <const char*>base)


def contract() -> dict:
    """Every constant the control plane shares with the data plane, as compiled here;
    tests/unit/test_contract.py holds fastdns/image.py and fastdns/controlblock.py to it."""
    cdef dict structs = layout()
    return {
        "image_magic": IMAGE_MAGIC[:8],
        "image_version": IMAGE_VERSION,
        "name_hash_seed": NAME_HASH_SEED,
        "name_hash_multiplier": NAME_HASH_MULTIPLIER,
        "node_flags": {"apex": NODE_APEX, "cut": NODE_CUT, "ent": NODE_ENT,
                       "wildcard": NODE_WILDCARD},
        "record_flags": {"aa": DNS_AA, "tc": DNS_TC, "rcode_mask": DNS_RCODE_MASK},
        "record_ext": {"signed": EXT_SIGNED, "cover": EXT_COVER, "proofs": EXT_PROOFS},
        "chain_kinds": {"nsec": CHAIN_NSEC, "nsec3": CHAIN_NSEC3},
        "counters": counter_indices(),
        "cookie_secret_size": COOKIE_SECRET_SIZE,
        "n_counters": N_COUNTERS,
        "control_magic": CONTROL_MAGIC[:8],
        "control_header_size": CONTROL_HEADER_SIZE,
        "control_generation_offset": structs["control_header"]["generation"],
        "control_slot_size": CONTROL_SLOT_SIZE,
        "image_capsule": IMAGE_CAPSULE.decode(),
        "structs": structs,
    }


def layout() -> dict:
    """Sizes and field offsets of the shared structs as compiled here, by field name: the
    contract test compares them with fastdns/image.py and fastdns/controlblock.py."""
    cdef img_header h
    cdef img_bucket b
    cdef img_node n
    cdef img_entry e
    cdef img_zone z
    cdef img_record r
    cdef img_signed sg
    cdef img_cover cv
    cdef img_proofs pf
    cdef img_chain ch
    cdef img_nsec_entry ne
    cdef img_nsec3_entry n3
    cdef img_rrs rr
    cdef ctl_header c
    cdef ctl_policy po
    return {
        "header": {"size": sizeof(h),
            "magic": _at(&h, &h.magic),
            "version": _at(&h, &h.version),
            "header_size": _at(&h, &h.header_size),
            "total_size": _at(&h, &h.total_size),
            "checksum": _at(&h, &h.checksum),
            "bucket_count": _at(&h, &h.bucket_count),
            "buckets_off": _at(&h, &h.buckets_off),
            "node_count": _at(&h, &h.node_count),
            "nodes_off": _at(&h, &h.nodes_off),
            "zone_count": _at(&h, &h.zone_count),
            "zones_off": _at(&h, &h.zones_off),
            "refused_off": _at(&h, &h.refused_off),
            "flags": _at(&h, &h.flags),
            "chaos_version_off": _at(&h, &h.chaos_version_off),
            "chaos_identity_off": _at(&h, &h.chaos_identity_off)},
        "bucket": {"size": sizeof(b),
            "hash": _at(&b, &b.hash),
            "node": _at(&b, &b.node)},
        "node": {"size": sizeof(n),
            "hash": _at(&n, &n.hash),
            "name_off": _at(&n, &n.name_off),
            "name_len": _at(&n, &n.name_len),
            "flags": _at(&n, &n.flags),
            "zone": _at(&n, &n.zone),
            "entries_off": _at(&n, &n.entries_off),
            "n_entries": _at(&n, &n.n_entries),
            "reserved": _at(&n, &n.reserved),
            "other_off": _at(&n, &n.other_off),
            "below_off": _at(&n, &n.below_off),
            "wildcard": _at(&n, &n.wildcard)},
        "entry": {"size": sizeof(e),
            "qtype": _at(&e, &e.qtype),
            "reserved": _at(&e, &e.reserved),
            "record_off": _at(&e, &e.record_off)},
        "zone": {"size": sizeof(z),
            "name_off": _at(&z, &z.name_off),
            "name_len": _at(&z, &z.name_len),
            "reserved1": _at(&z, &z.reserved1),
            "reserved2": _at(&z, &z.reserved2),
            "serial": _at(&z, &z.serial),
            "apex": _at(&z, &z.apex)},
        "record": {"size": sizeof(r),
            "flags": _at(&r, &r.flags),
            "ancount": _at(&r, &r.ancount),
            "nscount": _at(&r, &r.nscount),
            "arcount": _at(&r, &r.arcount),
            "tail_len": _at(&r, &r.tail_len),
            "n_reloc": _at(&r, &r.n_reloc),
            "qname_len": _at(&r, &r.qname_len),
            "ext": _at(&r, &r.ext),
            "reserved": _at(&r, &r.reserved),
            "smaller_off": _at(&r, &r.smaller_off)},
        "signed": {"size": sizeof(sg),
            "signed_off": _at(&sg, &sg.signed_off),
            "own_off": _at(&sg, &sg.own_off)},
        "proofs": {"size": sizeof(pf),
            "base_off": _at(&pf, &pf.base_off),
            "chain_off": _at(&pf, &pf.chain_off),
            "proof0": _at(&pf, &pf.proof0),
            "proof1": _at(&pf, &pf.proof1),
            "kind": _at(&pf, &pf.kind),
            "cover": _at(&pf, &pf.cover),
            "reserved": _at(&pf, &pf.reserved)},
        "cover": {"size": sizeof(cv),
            "at": _at(&cv, &cv.at),
            "kind": _at(&cv, &cv.kind),
            "reserved": _at(&cv, &cv.reserved),
            "chain_off": _at(&cv, &cv.chain_off),
            "have0": _at(&cv, &cv.have0),
            "have1": _at(&cv, &cv.have1)},
        "chain": {"size": sizeof(ch),
            "kind": _at(&ch, &ch.kind),
            "salt_len": _at(&ch, &ch.salt_len),
            "iterations": _at(&ch, &ch.iterations),
            "count": _at(&ch, &ch.count)},
        "nsec_entry": {"size": sizeof(ne),
            "name_off": _at(&ne, &ne.name_off),
            "rrs_off": _at(&ne, &ne.rrs_off)},
        "nsec3_entry": {"size": sizeof(n3),
            "hash": _at(&n3, &n3.hash),
            "rrs_off": _at(&n3, &n3.rrs_off)},
        "rrs": {"size": sizeof(rr),
            "count": _at(&rr, &rr.count),
            "len": _at(&rr, &rr.len),
            "owner_len": _at(&rr, &rr.owner_len),
            "apex_len": _at(&rr, &rr.apex_len),
            "reserved": _at(&rr, &rr.reserved)},
        "control_header": {"size": sizeof(c),
            "magic": _at(&c, &c.magic),
            "generation": _at(&c, &c.generation),
            "slot_count": _at(&c, &c.slot_count),
            "slot_size": _at(&c, &c.slot_size),
            "policy": _at(&c, &c.policy)},
        "control_policy": {"size": sizeof(po),
            "rrl_rate": _at(&po, &po.rrl_rate),
            "rrl_slip": _at(&po, &po.rrl_slip),
            "rrl_ipv4_prefix": _at(&po, &po.rrl_ipv4_prefix),
            "rrl_ipv6_prefix": _at(&po, &po.rrl_ipv6_prefix),
            "cookies": _at(&po, &po.cookies),
            "cookie_previous": _at(&po, &po.cookie_previous),
            "reserved": _at(&po, &po.reserved),
            "cookie_secret": _at(&po, &po.cookie_secret),
            "cookie_secret_previous": _at(&po, &po.cookie_secret_previous)},
    }
