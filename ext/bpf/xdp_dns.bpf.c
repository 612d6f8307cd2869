/* SPDX-License-Identifier: MIT */
/* fastdns XDP program: UDP datagrams to a served address and port go to the AF_XDP
 * socket of the queue they arrived on; everything else (ARP, ICMP, TCP, other ports,
 * fragments, IP options, IPv6 extension headers) goes on to the kernel.
 *
 * This program vouches only for the Ethernet/IP/UDP headers it checks here; the DNS
 * message is validated in user space (ext/wire.pxi). */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xdp_dns.h"

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, FASTDNS_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fastdns_cfg);
} fastdns_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FASTDNS_MAX_ADDRS);
	__type(key, __u32);                      /* IPv4 address, network byte order */
	__type(value, __u8);
} fastdns_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FASTDNS_MAX_ADDRS);
	__type(key, struct fastdns_v6_addr);
	__type(value, __u8);
} fastdns_v6 SEC(".maps");

#define VLAN_HLEN 4
#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF

SEC("xdp")
int fastdns_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct udphdr *udp;
	__u32 key = 0;
	__u16 proto;
	void *l3;

	struct fastdns_cfg *cfg = bpf_map_lookup_elem(&fastdns_cfg, &key);
	if (!cfg)
		return XDP_PASS;                 /* not configured yet */
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;                 /* runt frame: the kernel's to judge */
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		if (l3 + VLAN_HLEN > data_end)
			return XDP_PASS;
		proto = *(__u16 *)(l3 + 2);      /* one tag allowed: its inner type */
		l3 += VLAN_HLEN;
	}
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		if (ip->ihl != 5 || ip->protocol != IPPROTO_UDP)
			return XDP_PASS;         /* options, or not UDP */
		if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
			return XDP_PASS;         /* fragments are reassembled by the kernel */
		if (!(cfg->flags & FASTDNS_CFG_ANY_V4) &&
		    !bpf_map_lookup_elem(&fastdns_v4, &ip->daddr))
			return XDP_PASS;         /* not a served address */
		udp = (void *)(ip + 1);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		if (ip6->nexthdr != IPPROTO_UDP)
			return XDP_PASS;         /* extension headers or not UDP */
		if (!(cfg->flags & FASTDNS_CFG_ANY_V6) &&
		    !bpf_map_lookup_elem(&fastdns_v6, &ip6->daddr))
			return XDP_PASS;
		udp = (void *)(ip6 + 1);
	} else {
		return XDP_PASS;                 /* ARP, LLDP, ... */
	}
	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	if (udp->dest != cfg->port)
		return XDP_PASS;                 /* another service's port */
	/* No socket on this queue (a worker restarting): the kernel gets it, nothing is
	 * black-holed. */
	return bpf_redirect_map(&xsks_map, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
