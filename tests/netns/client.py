# SPDX-License-Identifier: MIT
"""A DNS client run inside the test namespace (ip netns exec): asks, prints JSON replies.

usage: client.py SERVER PORT QNAME QTYPE [--count N] [--tcp] [--edns SIZE] [--raw HEX] [--source ADDR]
                 [--seconds S [--timeout T] [--interval I]]
                 [--frame HEX --ifname IF --sport PORT]
"""

import argparse
import json
import socket
import time

import dns.exception
import dns.message
import dns.query


def send_frame(frame: bytes, ifname: str, sport: int) -> None:
    """Send one Ethernet frame as it is on ifname (AF_PACKET) and report any UDP reply to
    sport: the frame can carry headers the kernel's own UDP sockets would never write."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as listener, \
            socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
        listener.bind(("0.0.0.0", sport))
        listener.settimeout(1.0)
        raw.bind((ifname, 0))
        raw.send(frame)
        try:
            print(json.dumps({"reply": listener.recv(65535).hex()}))
        except TimeoutError:
            print(json.dumps({"reply": None}))


def ask_for(args: argparse.Namespace) -> None:
    """Ask for --seconds (at most --count times), one new socket per query; report how many
    were answered, answered with an error or no answer, and timed out."""
    print(json.dumps({"started": True}), flush=True)
    answered = wrong = timeouts = 0
    deadline = time.monotonic() + args.seconds
    for _ in range(args.count):  # bounded by --count and by --seconds
        if time.monotonic() > deadline:
            break
        query = dns.message.make_query(args.qname, args.qtype)
        try:
            reply = dns.query.udp(query, args.server, port=args.port, timeout=args.timeout)
        except dns.exception.Timeout:
            timeouts += 1
            continue
        if reply.rcode() == 0 and reply.answer:
            answered += 1
        else:
            wrong += 1
        time.sleep(args.interval)
    print(json.dumps({"answered": answered, "wrong": wrong, "timeouts": timeouts}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("server")
    parser.add_argument("port", type=int)
    parser.add_argument("qname")
    parser.add_argument("qtype")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--tcp", action="store_true")
    parser.add_argument("--edns", type=int, default=0, help="EDNS payload size; 0 = no EDNS")
    parser.add_argument("--raw", help="send these bytes (hex) instead and report any reply")
    parser.add_argument("--seconds", type=float, help="keep asking this long (at most --count)")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds per query")
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between queries")
    parser.add_argument("--frame", help="send this Ethernet frame (hex) and report any reply")
    parser.add_argument("--ifname", help="the interface for --frame")
    parser.add_argument("--sport", type=int, help="the frame's UDP source port, for its reply")
    parser.add_argument("--source", help="the address to ask from")
    args = parser.parse_args()
    if args.frame is not None:
        send_frame(bytes.fromhex(args.frame), args.ifname, args.sport)
        return
    if args.seconds is not None:
        ask_for(args)
        return
    if args.raw is not None:
        family = socket.AF_INET6 if ":" in args.server else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1.0)
            sock.sendto(bytes.fromhex(args.raw), (args.server, args.port))
            try:
                print(json.dumps({"reply": sock.recv(65535).hex()}))
            except TimeoutError:
                print(json.dumps({"reply": None}))
        return
    replies = []
    for _ in range(args.count):  # bounded by --count; each ask bounded by its timeout
        query = dns.message.make_query(args.qname, args.qtype, use_edns=0 if args.edns else False,
                                       payload=args.edns or None)
        ask = dns.query.tcp if args.tcp else dns.query.udp
        reply = ask(query, args.server, port=args.port, timeout=2, source=args.source)
        replies.append({
            "rcode": reply.rcode(), "flags": int(reply.flags),
            "answer": sorted(rd.to_text() for rrset in reply.answer for rd in rrset),
        })
    print(json.dumps(replies))


if __name__ == "__main__":
    main()
