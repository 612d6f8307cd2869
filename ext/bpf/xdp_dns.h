/* SPDX-License-Identifier: MIT */
/* Shared by the XDP program (xdp_dns.bpf.c) and user space (ext/xdp.pyx): map names,
 * sizes and value layouts cannot drift apart. */
#ifndef FASTDNS_XDP_DNS_H
#define FASTDNS_XDP_DNS_H

#include <linux/types.h>

#define FASTDNS_MAX_QUEUES 64     /*!< XSKMAP entries: one AF_XDP socket per RX queue */
#define FASTDNS_MAX_ADDRS 16      /*!< served addresses per family */

/* Value of fastdns_cfg[0]. */
struct fastdns_cfg {
	__u16 port;               /*!< served UDP port, network byte order */
	__u16 flags;              /*!< FASTDNS_CFG_* */
};

#define FASTDNS_CFG_ANY_V4 0x1    /*!< no IPv4 address listed: every IPv4 destination is ours */
#define FASTDNS_CFG_ANY_V6 0x2    /*!< likewise for IPv6 */

/* Keys of fastdns_v6: an IPv6 address, network byte order. */
struct fastdns_v6_addr {
	__u8 addr[16];
};

#endif
