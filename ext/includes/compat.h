/* SPDX-License-Identifier: MIT */
/* What Cython cannot express: atomics, a signal flag, prctl, byte-order-exact loads and stores. */
#ifndef FASTDNS_COMPAT_H
#define FASTDNS_COMPAT_H

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <time.h>

#ifndef FASTDNS_DEBUG
#define FASTDNS_DEBUG 0
#endif

/* Set from the SIGTERM/SIGINT handler; the loop reads it once per batch. */
static volatile sig_atomic_t fastdns_stop_flag = 0;

static void fastdns_on_stop(int sig) { (void)sig; fastdns_stop_flag = 1; }

/* No SA_RESTART: a blocking poll/recvmmsg returns EINTR so the loop sees the flag at once. */
static int fastdns_install_stop_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fastdns_on_stop;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    return 0;
}

static inline int fastdns_stop_requested(void) { return fastdns_stop_flag; }

static inline int fastdns_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }

/* The generation word is written by the control process and read by workers. */
static inline uint64_t fastdns_load_acquire(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }

/* Network byte order, unaligned. */
static inline uint16_t fastdns_get16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline void fastdns_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void fastdns_put64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

static inline uint32_t fastdns_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void fastdns_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

/* 64 random bits from the kernel (not per packet: a table's hash seed); never 0. */
static inline uint64_t fastdns_random64(void)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v) || v == 0)
        v = 0x9E3779B97F4A7C15ULL ^ (uint64_t)(uintptr_t)&v;
    return v;
}

/* The clocks the worker reads once per batch (vDSO calls, no system call): milliseconds
 * of a monotonic clock for rate limiting, Unix seconds for DNS cookies' timestamps. */
static inline uint32_t fastdns_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}
static inline uint32_t fastdns_clock_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint32_t)ts.tv_sec;
}

/* The client's address in a received datagram's sockaddr: 4 bytes for IPv4 (and for an
 * IPv4-mapped IPv6 address, so both socket kinds key a client alike), 16 for IPv6, else 0. */
static inline int fastdns_client_address(const void *name, unsigned int namelen, const uint8_t **addr)
{
    const struct sockaddr *sa = (const struct sockaddr *)name;
    if (namelen >= sizeof(struct sockaddr_in) && sa->sa_family == AF_INET) {
        *addr = (const uint8_t *)&((const struct sockaddr_in *)name)->sin_addr;
        return 4;
    }
    if (namelen >= sizeof(struct sockaddr_in6) && sa->sa_family == AF_INET6) {
        const uint8_t *a6 = (const uint8_t *)&((const struct sockaddr_in6 *)name)->sin6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
        if (memcmp(a6, mapped, 12) == 0) {
            *addr = a6 + 12;
            return 4;
        }
        *addr = a6;
        return 16;
    }
    *addr = NULL;
    return 0;
}

/* Little-endian 64-bit words at any alignment: the name hash (docs/image-format.md) is
 * defined on little-endian words, so a big-endian CPU swaps. */
static inline uint64_t fastdns_load64le(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w;
}

/* Network byte order, 64 bits: the little-endian word with its bytes turned around. */
static inline uint64_t fastdns_get64(const uint8_t *p) { return __builtin_bswap64(fastdns_load64le(p)); }

static inline void fastdns_store64le(uint8_t *p, uint64_t w)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    memcpy(p, &w, 8);
}

/* Internet checksum (RFC 1071) partial sum of len bytes, added to sum.  Summed in the
 * CPU's byte order 32 bits at a time (RFC 1071 2(B): the sum is byte-order independent);
 * fastdns_csum_fold turns it into the 16-bit field, stored as it lies in memory. */
static inline uint64_t fastdns_csum_add(const uint8_t *data, size_t len, uint64_t sum)
{
    uint32_t word;
    uint16_t half;
    while (len >= 4) {
        memcpy(&word, data, 4);
        sum += word;
        data += 4;
        len -= 4;
    }
    if (len >= 2) {
        memcpy(&half, data, 2);
        sum += half;
        data += 2;
        len -= 2;
    }
    if (len) {
        uint8_t tail[2] = {data[0], 0};
        memcpy(&half, tail, 2);
        sum += half;
    }
    return sum;
}

static inline uint16_t fastdns_csum_fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xFFFF) + (sum >> 16);
    return (uint16_t)~sum;
}

/* Store a folded checksum in memory order, as it was summed. */
static inline void fastdns_put_csum(uint8_t *p, uint16_t csum) { memcpy(p, &csum, 2); }

#endif
