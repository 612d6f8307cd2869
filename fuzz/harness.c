/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the data plane's answering core (docs/fuzzing.md).
 *
 * An input is one selector byte, then a DNS message (answered by answer_query, as the UDP
 * loop or TCP answers it) or an Ethernet frame (answer_frame, as the AF_XDP loop does).
 * The selector picks:
 *   bits 0-2  the image (of those fuzz/make_images.py compiled; modulo their count)
 *   bit  3    a frame rather than a DNS message
 *   bit  4    message: as over TCP; frame: MTU 9000 and a whole 4096-byte chunk
 *             rather than MTU 1500 and a chunk past the kernel's 256 bytes of headroom
 *   bits 5-6  our UDP payload size (PAYLOADS)
 *   bit  7    the policy: DNS cookies and rate limiting on (fuzz/target.pyx's
 *             fuzz_setup), rather than neither
 *
 * Every input is answered twice, in buffers exactly as large as the real loops' (so that
 * ASan catches a write past them), the bytes after the input and the per-query state
 * filled with 0x00 once and 0xFF the other time, each with its own copy of the policy's
 * state (the rate-limiting table): the two replies must be the same bytes.
 * Then (abort() on any violation):
 *   - a message or frame that is not answered is counted as dropped, and only then;
 *   - no reply to a DNS message with QR=1 (nor to one shorter than a header);
 *   - a reply fits its buffer, has QR=1, the query's ID, opcode and RD, and the question
 *     as the client wrote it (when it has one);
 *   - over UDP, a reply is no longer than 512 bytes or the requestor's EDNS payload size
 *     (at most ours), whichever is larger;
 *   - a reply is a well-formed message: its records are where its counts say and end
 *     where it ends, each name at most 255 bytes, each compression pointer pointing
 *     before itself, at most one OPT (owned by the root, in the additional section);
 *   - a reply frame: MACs, addresses and ports turned around, IP and UDP lengths those of
 *     the frame, the IPv4 header checksum and the UDP checksum right, within the MTU.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "target.h"

#ifndef FUZZ_IMAGE_DIR
#define FUZZ_IMAGE_DIR "build/fuzz/images"
#endif

/* ext/includes/consts.pxi and ext/xdp_loop.pxi */
enum {
    PKT_BUF_SIZE = 4096,      /* the UDP loop's buffer per datagram */
    MAX_TCP_MESSAGE = 65535,  /* Engine.answer's buffer for TCP */
    XSK_FRAME_SIZE = 4096,    /* an AF_XDP UMEM chunk */
    XDP_HEADROOM = 256,       /* the kernel's XDP_PACKET_HEADROOM before a received frame */
    MIN_UDP_PAYLOAD = 512,
    MAX_UDP_PAYLOAD = 4096,
    MAX_IMAGES = 8,
};

static const int PAYLOADS[4] = {1232, 512, 4096, 1400};

static int n_images;

#define FAIL(...)                                                   \
    do {                                                            \
        fprintf(stderr, "fastdns fuzz: invariant broken: " __VA_ARGS__); \
        fputc('\n', stderr);                                        \
        abort();                                                    \
    } while (0)

static uint16_t get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (fuzz_setup() != 0) {
        fprintf(stderr, "fastdns fuzz: cannot set up the policy\n");
        exit(2);
    }
    const char *dir = getenv("FASTDNS_FUZZ_IMAGES");
    char path[4096];
    if (dir == NULL || !*dir)
        dir = FUZZ_IMAGE_DIR;
    for (n_images = 0; n_images < MAX_IMAGES; n_images++) {
        snprintf(path, sizeof(path), "%s/%d.image", dir, n_images);
        int rc = fuzz_map_image(path);
        if (rc == -1 && errno == ENOENT)
            break;
        if (rc != n_images) {
            fprintf(stderr, "fastdns fuzz: cannot map %s: %s\n", path,
                    rc == -1 ? strerror(errno) : "not a fastdns image of this version");
            exit(2);
        }
    }
    if (n_images == 0) {
        fprintf(stderr, "fastdns fuzz: no image in %s (fuzz/make_images.py writes them; "
                        "FASTDNS_FUZZ_IMAGES names another directory)\n", dir);
        exit(2);
    }
    fprintf(stderr, "fastdns fuzz: %d images from %s\n", n_images, dir);
    return 0;
}

/* The end of the name at pos (compression pointers followed only backwards), or -1. */
static int skip_name(const uint8_t *m, int len, int pos, int compressed)
{
    int end = -1, total = 0;
    while (pos < len) {
        uint8_t l = m[pos];
        if (l == 0)
            return end >= 0 ? end : pos + 1;
        if ((l & 0xC0) == 0xC0) {
            if (!compressed || pos + 2 > len)
                return -1;
            int target = ((l & 0x3F) << 8) | m[pos + 1];
            if (target >= pos)
                return -1;
            if (end < 0)
                end = pos + 2;
            pos = target;
            continue;
        }
        if (l & 0xC0)
            return -1;
        total += l + 1;
        if (total + 1 > 255)
            return -1;
        pos += l + 1;
    }
    return -1;
}

/* The largest UDP reply allowed to this query (RFC 6891 6.2.5): the requestor's payload
 * size from the OPT RR of a well-formed query, at least 512, at most ours; else 512.  Read
 * here independently of the parser under test (and more leniently). */
static int udp_limit(const uint8_t *m, int len, int payload_max)
{
    int pos, i, limit = MIN_UDP_PAYLOAD;
    if (len < 12 || get16(m + 4) != 1 || get16(m + 6) || get16(m + 8))
        return MIN_UDP_PAYLOAD;
    pos = skip_name(m, len, 12, 0);
    if (pos < 0 || pos + 4 > len)
        return MIN_UDP_PAYLOAD;
    pos += 4;
    for (i = 0; i < get16(m + 10); i++) {
        int start = pos;
        pos = skip_name(m, len, pos, 1);
        if (pos < 0 || pos + 10 > len || pos + 10 + get16(m + pos + 8) > len)
            return MIN_UDP_PAYLOAD;
        if (get16(m + pos) == 41 && pos == start + 1 && get16(m + pos + 2) > limit)
            limit = get16(m + pos + 2);
        pos += 10 + get16(m + pos + 8);
    }
    if (limit > payload_max)
        limit = payload_max > MIN_UDP_PAYLOAD ? payload_max : MIN_UDP_PAYLOAD;
    return limit;
}

/* The reply's records walked by its counts: they must end where it ends. */
static void check_well_formed(const uint8_t *r, int n)
{
    int pos = 12, i, opts = 0;
    int qd = get16(r + 4), an = get16(r + 6), ns = get16(r + 8), ar = get16(r + 10);
    if (qd > 1)
        FAIL("reply with %d questions", qd);
    for (i = 0; i < qd; i++) {
        pos = skip_name(r, n, pos, 1);
        if (pos < 0 || pos + 4 > n)
            FAIL("reply's question is malformed");
        pos += 4;
    }
    for (i = 0; i < an + ns + ar; i++) {
        int start = pos;
        pos = skip_name(r, n, pos, 1);
        if (pos < 0 || pos + 10 > n)
            FAIL("reply's record %d (of %d/%d/%d) has a bad owner or is cut short at %d of %d",
                 i, an, ns, ar, start, n);
        int rdlen = get16(r + pos + 8);
        if (get16(r + pos) == 41) {
            if (i < an + ns || pos != start + 1 || ++opts > 1)
                FAIL("reply's OPT RR out of place (record %d of %d/%d/%d)", i, an, ns, ar);
        }
        pos += 10 + rdlen;
        if (pos > n)
            FAIL("reply's record %d (of %d/%d/%d) runs past its end (%d > %d)", i, an, ns, ar, pos, n);
    }
    if (pos != n)
        FAIL("reply's records end at %d, the reply at %d", pos, n);
}

/* The DNS reply r[0:n] to the query m[0:len]. */
static void check_reply(const uint8_t *m, int len, const uint8_t *r, int n, int payload_max, int tcp)
{
    if (len < 12)
        FAIL("a reply (%d bytes) to a message shorter than a header (%d bytes)", n, len);
    if (m[2] & 0x80)
        FAIL("a reply (%d bytes) to a message with QR=1", n);
    if (n < 12)
        FAIL("a reply of %d bytes", n);
    if (!(r[2] & 0x80))
        FAIL("a reply with QR=0");
    if (get16(r) != get16(m))
        FAIL("reply ID %04x, query ID %04x", get16(r), get16(m));
    if ((r[2] & 0x79) != (m[2] & 0x79))
        FAIL("reply's opcode or RD (%02x) not the query's (%02x)", r[2], m[2]);
    if (!tcp) {
        int limit = udp_limit(m, len, payload_max);
        if (n > limit)
            FAIL("a UDP reply of %d bytes, over the limit of %d", n, limit);
    }
    check_well_formed(r, n);
    if (get16(r + 4) == 1) {
        int end = skip_name(m, len, 12, 0);
        if (end < 0 || end + 4 > len || end + 4 > n || memcmp(r + 12, m + 12, end + 4 - 12))
            FAIL("reply's question is not the query's");
    }
}

static uint16_t csum_fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)sum;
}

static uint64_t csum_add(const uint8_t *p, int n, uint64_t sum)
{
    int i;
    for (i = 0; i + 1 < n; i += 2)
        sum += get16(p + i);
    if (n & 1)
        sum += (uint64_t)p[n - 1] << 8;
    return sum;
}

/* The reply frame r[0:n] to the query frame f[0:len]. */
static void check_frame(const uint8_t *f, int len, const uint8_t *r, int n, int room, int mtu,
                        int payload_max)
{
    int l3 = 14, l4, udp_len, v6;
    uint16_t proto = get16(r + 12);
    uint64_t sum;
    if (n > room)
        FAIL("a reply frame of %d bytes in a chunk of %d", n, room);
    if (n < 14)
        FAIL("a reply frame of %d bytes", n);
    if (memcmp(r, f + 6, 6) || memcmp(r + 6, f, 6))
        FAIL("reply frame's MACs not turned around");
    if (proto == 0x8100 || proto == 0x88A8) {
        proto = get16(r + 16);
        l3 += 4;
    }
    v6 = proto == 0x86DD;
    if (!v6 && proto != 0x0800)
        FAIL("a reply frame of EtherType %04x", proto);
    l4 = l3 + (v6 ? 40 : 20);
    if (n < l4 + 8 + 12)
        FAIL("a reply frame of %d bytes, %d of headers", n, l4 + 8);
    if (n - l3 > mtu)
        FAIL("a reply packet of %d bytes, MTU %d", n - l3, mtu);
    udp_len = get16(r + l4 + 4);
    if (udp_len != n - l4)
        FAIL("reply's UDP length %d, %d bytes after its header", udp_len, n - l4);
    if (memcmp(r + l4, f + l4 + 2, 2) || memcmp(r + l4 + 2, f + l4, 2))
        FAIL("reply's ports not turned around");
    if (v6) {
        if (get16(r + l3 + 4) != udp_len)
            FAIL("reply's IPv6 payload length %d, UDP length %d", get16(r + l3 + 4), udp_len);
        if (memcmp(r + l3 + 8, f + l3 + 24, 16) || memcmp(r + l3 + 24, f + l3 + 8, 16))
            FAIL("reply's IPv6 addresses not turned around");
        sum = csum_add(r + l3 + 8, 32, 0);
    } else {
        if (get16(r + l3 + 2) != n - l3)
            FAIL("reply's IPv4 total length %d, %d bytes", get16(r + l3 + 2), n - l3);
        if (csum_fold(csum_add(r + l3, 20, 0)) != 0xFFFF)
            FAIL("reply's IPv4 header checksum is wrong");
        if (memcmp(r + l3 + 12, f + l3 + 16, 4) || memcmp(r + l3 + 16, f + l3 + 12, 4))
            FAIL("reply's IPv4 addresses not turned around");
        sum = csum_add(r + l3 + 12, 8, 0);
    }
    sum += 17 + (uint64_t)udp_len;
    sum = csum_add(r + l4, udp_len, sum);
    if (csum_fold(sum) != 0xFFFF || get16(r + l4 + 6) == 0)
        FAIL("reply's UDP checksum is wrong");
    /* The query's DNS message: the input's UDP payload, by its UDP length. */
    int qlen = get16(f + l4 + 4) - 8;
    if (qlen < 0 || l4 + 8 + qlen > len)
        FAIL("a reply to a frame whose UDP length (%d) does not fit it", qlen + 8);
    check_reply(f + l4 + 8, qlen, r + l4 + 8, n - l4 - 8, payload_max, 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const uint8_t *input = data + 1;
    int len = (int)(size - 1);
    int image = (sel & 7) % n_images;
    int frame = (sel >> 3) & 1;
    int bit4 = (sel >> 4) & 1;
    int payload = PAYLOADS[(sel >> 5) & 3];
    int policy = sel >> 7;
    int tcp = !frame && bit4;
    int mtu = frame ? (bit4 ? 9000 : 1500) : 0;
    int cap = frame ? (bit4 ? XSK_FRAME_SIZE : XSK_FRAME_SIZE - XDP_HEADROOM)
                    : (tcp ? MAX_TCP_MESSAGE : PKT_BUF_SIZE);
    int payload_max = payload < MIN_UDP_PAYLOAD ? MIN_UDP_PAYLOAD
                    : payload > MAX_UDP_PAYLOAD ? MAX_UDP_PAYLOAD : payload;
    uint8_t *a, *b;
    uint64_t dropped_a, dropped_b;
    int n, n2;
    if (size - 1 > (size_t)cap)
        return 0; /* the loops never hand over more: a datagram or frame that long is cut short
                     (MSG_TRUNC, dropped) or does not exist */
    a = malloc(cap);
    b = malloc(cap);
    if (a == NULL || b == NULL)
        abort();
    memcpy(a, input, len);
    memset(a + len, 0x00, cap - len);
    memcpy(b, input, len);
    memset(b + len, 0xFF, cap - len);
    n = fuzz_answer(image, frame, a, len, cap, mtu, payload, tcp, policy, 0, &dropped_a);
    n2 = fuzz_answer(image, frame, b, len, cap, mtu, payload, tcp, policy, 1, &dropped_b);
    if (n != n2 || memcmp(a, b, n) || dropped_a != dropped_b)
        FAIL("the reply depends on bytes past the input or on stale state (%d and %d bytes)", n, n2);
    if (n < 0 || n > cap)
        FAIL("a reply of %d bytes in a buffer of %d", n, cap);
    if ((n == 0) != (dropped_a != 0))
        FAIL("a reply of %d bytes, %llu drops counted", n, (unsigned long long)dropped_a);
    if (n > 0) {
        if (frame)
            check_frame(input, len, a, n, cap, mtu, payload_max);
        else
            check_reply(input, len, a, n, payload_max, tcp);
    }
    free(a);
    free(b);
    return 0;
}
