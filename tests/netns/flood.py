# SPDX-License-Identifier: MIT
"""A spoofed flood run inside the test namespace (ip netns exec): DNS queries in raw
Ethernet frames from many source addresses of one prefix (none of them the namespace's),
paced to a rate for a time, and the replies that come back to that prefix counted by an
AF_PACKET socket on the same interface.  Prints one JSON line of totals.

usage: flood.py IFNAME DST_MAC SRC_MAC SERVER PORT PREFIX QNAME QTYPE
                --rate QPS --seconds S [--edns SIZE] [--cookie]

--cookie: every query comes from PREFIX.77 and carries the server cookie its first reply
brought (a client that did its cookie homework and floods anyway).
"""

import argparse
import json
import random
import socket
import struct
import threading
import time

import dns.edns
import dns.flags
import dns.message
import dns.rcode

ETH_P_IP = 0x0800
COOKIE_HOST = 77


def ipv4_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(args: argparse.Namespace, source: str, sport: int, message: bytes) -> bytes:
    udp_length = 8 + len(message)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_length, random.getrandbits(16), 0x4000, 64, 17, 0,
                     socket.inet_aton(source), socket.inet_aton(args.server))
    ip = ip[:10] + struct.pack("!H", ipv4_checksum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", sport, args.port, udp_length, 0)  # IPv4: no UDP checksum
    return args.dst_mac + args.src_mac + struct.pack("!H", ETH_P_IP) + ip + udp + message


def query(args: argparse.Namespace, cookie: bytes | None) -> bytes:
    options = [dns.edns.GenericOption(dns.edns.COOKIE, cookie)] if cookie else []
    use_edns = 0 if args.edns or cookie else False
    return dns.message.make_query(args.qname, args.qtype, use_edns=use_edns, payload=args.edns or 1232,
                                  options=options).to_wire()


class Replies:
    """Counts the UDP replies from the server's port to the flood's prefix."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP))
        self.sock.bind((args.ifname, ETH_P_IP))
        self.sock.settimeout(0.2)
        self.prefix = socket.inet_aton(args.prefix + ".0")[:3]
        self.totals = {"replies": 0, "full": 0, "truncated": 0, "badcookie": 0, "other_rcode": 0,
                       "reply_bytes": 0}
        self.cookie: bytes | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                data, address = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            if address[2] == socket.PACKET_OUTGOING:
                continue
            self.count(data[14:])

    def count(self, ip: bytes) -> None:
        if len(ip) < 28 or ip[9] != 17 or ip[16:19] != self.prefix:
            return
        header = (ip[0] & 0x0F) * 4
        sport = struct.unpack("!H", ip[header:header + 2])[0]
        if sport != self.args.port:
            return
        payload = ip[header + 8:]
        try:
            reply = dns.message.from_wire(payload)
        except Exception:
            return
        t = self.totals
        t["replies"] += 1
        t["reply_bytes"] += len(payload)
        if reply.rcode() == dns.rcode.BADCOOKIE:
            t["badcookie"] += 1
        elif reply.flags & dns.flags.TC:
            t["truncated"] += 1
        elif reply.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
            t["full"] += 1
        else:
            t["other_rcode"] += 1
        for option in reply.options:
            if option.otype == dns.edns.COOKIE:
                self.cookie = option.to_wire()

    def close(self) -> dict:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()
        return self.totals


def learn_cookie(args: argparse.Namespace, raw: socket.socket, replies: Replies, source: str) -> bytes:
    """One query with a client cookie alone; the reply's cookie (client and server)."""
    for _ in range(20):  # bounded: 20 tries of 0.1 s
        raw.send(frame(args, source, 40000, query(args, bytes(range(1, 9)))))
        time.sleep(0.1)
        if replies.cookie is not None and len(replies.cookie) > 8:
            return replies.cookie
    raise SystemExit("no server cookie came back")


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("ifname", "dst_mac", "src_mac", "server", "port", "prefix", "qname", "qtype"):
        parser.add_argument(name, type=int if name == "port" else str)
    parser.add_argument("--rate", type=int, required=True, help="queries per second")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--edns", type=int, default=0, help="EDNS payload size; 0 = no EDNS")
    parser.add_argument("--cookie", action="store_true")
    args = parser.parse_args()
    args.dst_mac, args.src_mac = bytes.fromhex(args.dst_mac), bytes.fromhex(args.src_mac)
    replies = Replies(args)
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    raw.bind((args.ifname, 0))
    cookie = None
    if args.cookie:
        cookie = learn_cookie(args, raw, replies, f"{args.prefix}.{COOKIE_HOST}")
        time.sleep(0.2)
        replies.totals = dict.fromkeys(replies.totals, 0)
    message = query(args, cookie)
    sent = sent_bytes = 0
    total = int(args.rate * args.seconds)
    start = time.monotonic()
    for i in range(total):  # bounded by count; paced to the rate
        host = COOKIE_HOST if cookie else random.randint(1, 254)
        sport = random.randint(1024, 65535)
        raw.send(frame(args, f"{args.prefix}.{host}", sport, message))
        sent += 1
        sent_bytes += len(message)
        ahead = start + (i + 1) / args.rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
    elapsed = time.monotonic() - start
    time.sleep(0.5)  # the last replies
    raw.close()
    totals = replies.close()
    print(json.dumps({"sent": sent, "query_bytes": sent_bytes, "seconds": round(elapsed, 3), **totals}))


if __name__ == "__main__":
    main()
