# SPDX-License-Identifier: MIT
# AF_XDP framing: Ethernet (one VLAN tag allowed), IPv4 or IPv6, UDP, read in place and
# turned around into the reply: MACs, addresses and ports swapped, lengths, TTL and
# checksums set.  The XDP program steered the frame on its headers' first bytes only, so
# every length here is checked again against the frame.  The IPv4 header checksum is
# checked; the UDP checksum is not: a veth or virtio peer hands over frames whose UDP
# checksum field holds only the pseudo-header sum (checksum offload), and the XDP path
# cannot see the offload state that tells the kernel to trust them.

cdef enum:
    ETH_HLEN = 14
    VLAN_HLEN = 4
    ETH_P_IP = 0x0800
    ETH_P_IPV6 = 0x86DD
    ETH_P_8021Q = 0x8100
    ETH_P_8021AD = 0x88A8
    IPV4_HLEN = 20              # options are passed to the kernel by the XDP program
    IPV6_HLEN = 40
    UDP_HLEN = 8
    PROTO_UDP = 17
    IP_MF = 0x2000              # IPv4 "more fragments" flag, in the flags/offset word
    IP_OFFSET = 0x1FFF          # IPv4 fragment offset
    REPLY_TTL = 64              # hops, IPv4 TTL and IPv6 hop limit of replies


cdef inline void swap_bytes(uint8_t* a, uint8_t* b, int n) noexcept nogil:
    cdef uint8_t t
    cdef int i
    for i in range(n):
        t = a[i]
        a[i] = b[i]
        b[i] = t


cdef inline uint16_t udp_checksum(const uint8_t* addrs, int addr_len, uint8_t* udp,
                                  int udp_len) noexcept nogil:
    """UDP checksum over the pseudo-header (RFC 768, RFC 8200 8.1) and the datagram."""
    cdef uint8_t tail[4]
    cdef uint64_t total = fastdns_csum_add(addrs, addr_len, 0)
    cdef uint16_t csum
    tail[0] = 0
    tail[1] = PROTO_UDP
    fastdns_put16(tail + 2, <uint16_t>udp_len)
    total = fastdns_csum_add(tail, 4, total)
    total = fastdns_csum_add(udp, udp_len, total)
    csum = fastdns_csum_fold(total)
    return csum if csum != 0 else 0xFFFF    # 0 means "no checksum": send all ones


cdef inline int drop_frame(uint64_t* counters, int reason) noexcept nogil:
    """Count a frame dropped for reason (a C_DROP_* counter) and in the C_DROPPED total,
    which keeps meaning "not answered" whatever the reason; returns 0, answer_frame's drop."""
    counters[reason] += 1
    counters[C_DROPPED] += 1
    return 0


cdef inline int answer_frame(uint8_t* frame, int length, int room, int mtu, const image_t* img,
                             int payload_max, query_t* q, uint64_t* counters,
                             guard_t* g) noexcept nogil:
    """Turn the query frame into its reply frame in place.

    :param room: bytes from the frame's start to the end of its UMEM chunk.
    :param mtu: the interface MTU: replies that would exceed it are truncated (TC=1).
    :param g: cookies and rate limiting (answer_query).
    :returns: the reply frame's length, or 0 to drop it (counted).
    """
    cdef int l3 = ETH_HLEN
    cdef int l4, ip_payload, udp_len, cap, reply
    cdef uint16_t proto
    cdef uint8_t* ip
    cdef uint8_t* udp
    cdef bint v6
    if length < ETH_HLEN:
        return drop_frame(counters, C_DROP_SHORT)
    proto = fastdns_get16(frame + 12)
    if proto == ETH_P_8021Q or proto == ETH_P_8021AD:
        if length < ETH_HLEN + VLAN_HLEN:
            return drop_frame(counters, C_DROP_SHORT)
        proto = fastdns_get16(frame + 16)
        l3 += VLAN_HLEN
    ip = frame + l3
    if proto == ETH_P_IP:
        if length < l3 + IPV4_HLEN + UDP_HLEN:
            return drop_frame(counters, C_DROP_SHORT)
        if ip[0] != 0x45:                           # version 4, IHL 5: no options
            return drop_frame(counters, C_DROP_IP_HEADER)
        if fastdns_csum_fold(fastdns_csum_add(ip, IPV4_HLEN, 0)) != 0:
            return drop_frame(counters, C_DROP_IP_HEADER)   # RFC 791 header checksum
        if fastdns_get16(ip + 6) & (IP_MF | IP_OFFSET):
            return drop_frame(counters, C_DROP_IP_HEADER)   # a fragment: the XDP program
                                                            # leaves those to the kernel
        ip_payload = fastdns_get16(ip + 2) - IPV4_HLEN
        l4 = l3 + IPV4_HLEN
        v6 = 0
    elif proto == ETH_P_IPV6:
        if length < l3 + IPV6_HLEN + UDP_HLEN:
            return drop_frame(counters, C_DROP_SHORT)
        if (ip[0] >> 4) != 6:
            return drop_frame(counters, C_DROP_IP_HEADER)
        ip_payload = fastdns_get16(ip + 4)
        l4 = l3 + IPV6_HLEN
        v6 = 1
    else:
        return drop_frame(counters, C_DROP_NOT_IP)
    udp = frame + l4
    udp_len = fastdns_get16(udp + 4)
    if ip_payload < UDP_HLEN or l4 + ip_payload > length or udp_len < UDP_HLEN or udp_len > ip_payload:
        return drop_frame(counters, C_DROP_LENGTH)     # lengths that disagree with the frame

    cap = room - l4 - UDP_HLEN
    if mtu - (l4 - l3) - UDP_HLEN < cap:
        cap = mtu - (l4 - l3) - UDP_HLEN
    reply = answer_query(udp + UDP_HLEN, udp_len - UDP_HLEN, cap, img, payload_max, 0, q, counters,
                         g, ip + 8 if v6 else ip + 12, 16 if v6 else 4)   # the source address
    if reply == 0:
        return 0

    swap_bytes(frame, frame + 6, 6)                 # destination and source MAC
    swap_bytes(udp, udp + 2, 2)                     # source and destination port
    fastdns_put16(udp + 4, <uint16_t>(UDP_HLEN + reply))
    udp[6] = 0
    udp[7] = 0
    if v6:
        swap_bytes(ip + 8, ip + 24, 16)
        fastdns_put16(ip + 4, <uint16_t>(UDP_HLEN + reply))
        ip[7] = REPLY_TTL
        fastdns_put_csum(udp + 6, udp_checksum(ip + 8, 32, udp, UDP_HLEN + reply))
    else:
        swap_bytes(ip + 12, ip + 16, 4)
        fastdns_put16(ip + 2, <uint16_t>(IPV4_HLEN + UDP_HLEN + reply))
        ip[8] = REPLY_TTL
        ip[10] = 0
        ip[11] = 0
        fastdns_put_csum(ip + 10, fastdns_csum_fold(fastdns_csum_add(ip, IPV4_HLEN, 0)))
        fastdns_put_csum(udp + 6, udp_checksum(ip + 12, 8, udp, UDP_HLEN + reply))
    return l4 + UDP_HLEN + reply
