# SPDX-License-Identifier: MIT
# cython: language_level=3
"""The data plane's answering core as plain C functions, for the libFuzzer harness
(fuzz/harness.c, docs/fuzzing.md).

This unit includes the very files fastdns._dataplane and fastdns._xdp are made of (the
answering core and the AF_XDP framing); the functions below take and return C values only,
so the fuzzer calls them without ever initialising Python (libpython is linked only for the
symbols the rest of the module refers to)."""

include "core.pxi"
include "frame.pxi"

# Nothing here may need the module's initialisation (it never runs): no Python object,
# no module-level variable with an initial value.
cdef enum:
    FUZZ_MAX_IMAGES = 16
    #: the policy's clock: fixed seconds (what server cookies are stamped with; the seed
    #: corpus's valid cookies are made for it), milliseconds advancing per input
    FUZZ_NOW_S = 1767225600
    FUZZ_STEP_MS = 50

cdef image_t fuzz_images[FUZZ_MAX_IMAGES]
cdef int fuzz_n_images              # static: zero


cdef public int fuzz_map_image(const char* path) noexcept nogil:
    """Map the image file at path read-only, as a worker does (image_init: the header and
    section bounds); returns its index for fuzz_answer, or -1 (errno set) when the file
    cannot be mapped, or -100 - an IMAGE_* verdict."""
    cdef struct_stat st
    cdef void* addr
    cdef int fd, rc
    global fuzz_n_images
    if fuzz_n_images == FUZZ_MAX_IMAGES:
        return -1
    fd = c_open(path, O_RDONLY)
    if fd < 0:
        return -1
    if fstat(fd, &st) != 0 or st.st_size < <long>sizeof(img_header):
        c_close(fd)
        return -100 - IMAGE_SHORT
    addr = mmap(NULL, <size_t>st.st_size, PROT_READ, MAP_SHARED, fd, 0)
    c_close(fd)
    if addr == MAP_FAILED:
        return -1
    rc = image_init(&fuzz_images[fuzz_n_images], <const uint8_t*>addr, <size_t>st.st_size)
    if rc != IMAGE_OK:
        munmap(addr, <size_t>st.st_size)
        return -100 - rc
    fuzz_n_images += 1
    return fuzz_n_images - 1


#: policy 1, one copy per run (fuzz_answer's run): each sees the same inputs in the same
#: order, so both rate-limiting tables hold the same
cdef guard_t fuzz_guards[2]


cdef public int fuzz_setup() noexcept nogil:
    """What a worker's module does before it answers: libsodium initialised, the policy
    configured (DNS cookies with a current and a previous secret; rate limiting at 5
    responses a second, every second limited one slipped).  0, or -1."""
    cdef ctl_policy pol
    cdef int i, run
    if sodium_init() < 0:
        return -1
    memset(&pol, 0, sizeof(pol))
    pol.rrl_rate = 5
    pol.rrl_slip = 2
    pol.rrl_ipv4_prefix = 24
    pol.rrl_ipv6_prefix = 56
    pol.cookies = 1
    pol.cookie_previous = 1
    for i in range(COOKIE_SECRET_SIZE):
        pol.cookie_secret[i] = i + 1
        pol.cookie_secret_previous[i] = 0xA0 + i
    for run in range(2):
        memset(&fuzz_guards[run], 0, sizeof(guard_t))
        fuzz_guards[run].seed = 0x5EED5EED5EED5EEDULL   # both runs' tables alike (not random)
        if guard_configure(&fuzz_guards[run], &pol) < 0:
            return -1
        fuzz_guards[run].now_s = FUZZ_NOW_S
        fuzz_guards[run].now_ms = 0
    return 0


cdef public int fuzz_answer(int image, bint frame, uint8_t* buf, int length, int cap, int mtu,
                            int payload_max, bint tcp, bint policy, int run,
                            uint64_t* dropped) noexcept nogil:
    """One input answered as the real loops answer it, in buf (cap bytes: the UDP loop's
    PKT_BUF_SIZE, TCP's MAX_TCP_MESSAGE, or an AF_XDP frame's room in its UMEM chunk).

    :param frame: buf holds an Ethernet frame (answer_frame, the AF_XDP path; mtu is the
        interface's) rather than a DNS message (answer_query; tcp: as over TCP).
    :param payload_max: our UDP payload size, clamped as the workers clamp it.
    :param policy: answer with cookies and rate limiting (fuzz_setup's policy), else with
        neither (a zeroed guard, as an Engine's before set_policy).
    :param run: 0 or 1: which copy of the policy's state, and the byte the per-query state
        starts as (0x00, 0xFF: a worker reuses it from one query to the next, and a reply
        must not depend on what it holds).
    :param dropped: set to the drops counted (C_DROPPED).
    :returns: the reply's length, 0 to drop.
    """
    # Every call of answer_query and answer_frame the fuzzer makes is here (they change
    # signature together with respond.pxi and frame.pxi).
    cdef query_t q
    cdef guard_t none
    cdef guard_t* g = &fuzz_guards[run]
    cdef uint64_t counters[N_COUNTERS]
    cdef uint8_t client[4]          # a DNS message's client (a frame's is its own): 192.0.2.9
    cdef int n
    client[0] = 192
    client[1] = 0
    client[2] = 2
    client[3] = 9
    memset(&q, 0xFF if run else 0x00, sizeof(q))
    memset(counters, 0, sizeof(counters))
    if policy:
        g.now_ms += FUZZ_STEP_MS
    else:
        memset(&none, 0, sizeof(none))
        g = &none
    payload_max = clamp_payload(payload_max)
    if frame:
        n = answer_frame(buf, length, cap, mtu, &fuzz_images[image], payload_max, &q, counters, g)
    else:
        n = answer_query(buf, length, cap, &fuzz_images[image], payload_max, tcp, &q, counters, g,
                         client, 4)
    dropped[0] = counters[C_DROPPED]
    return n
