# SPDX-License-Identifier: MIT
"""Wait until a server answers SOA for a zone; run inside the bench namespace (stdlib only).

Prints one JSON line: {"ready": bool, "at": unix time of the first good answer,
"answers": every reply received, "sent": queries sent}.  Each query that reached a
socket is answered once, so "answers" is what the server did for us: the callgrind
runs subtract it.  Usage: probe.py ADDRESS PORT ZONE TIMEOUT [RETRY] [DRAIN]
"""

from __future__ import annotations

import errno
import json
import socket
import struct
import sys
import time


def soa_query(qid: int, zone: str) -> bytes:
    qname = b"".join(bytes([len(label)]) + label.encode() for label in zone.strip(".").split("."))
    return struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 0) + qname + b"\x00" + struct.pack("!HH", 6, 1)


def good(reply: bytes) -> bool:
    """A response (QR) with NOERROR and at least one answer record."""
    if len(reply) < 12:
        return False
    flags, _qd, ancount = struct.unpack("!HHH", reply[2:8])
    return bool(flags & 0x8000) and flags & 0x000F == 0 and ancount > 0


def main(argv: list[str]) -> int:
    address, port, zone, timeout = argv[0], int(argv[1]), argv[2], float(argv[3])
    retry = float(argv[4]) if len(argv) > 4 else 0.2  # seconds before asking again
    drain = float(argv[5]) if len(argv) > 5 else 0.0  # seconds to count late replies
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect((address, port))  # connected: an ICMP port unreachable shows as ECONNREFUSED
    deadline = time.monotonic() + timeout
    sent = answers = 0
    ready_at = None
    while ready_at is None and time.monotonic() < deadline:
        sent += 1
        try:
            sock.send(soa_query(sent & 0xFFFF, zone))
        except OSError as e:
            if e.errno != errno.ECONNREFUSED:
                raise
        wait_until = min(time.monotonic() + retry, deadline)
        while ready_at is None and (left := wait_until - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                reply = sock.recv(4096)
            except TimeoutError:
                break
            except ConnectionRefusedError:
                time.sleep(min(retry, max(wait_until - time.monotonic(), 0)))  # nobody listens yet
                break
            answers += 1
            if good(reply):
                ready_at = time.time()
    end = time.monotonic() + drain
    while ready_at is not None and (left := end - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            sock.recv(4096)
            answers += 1
        except (TimeoutError, ConnectionRefusedError):
            break
    print(json.dumps({"ready": ready_at is not None, "at": ready_at, "answers": answers, "sent": sent}))
    return 0 if ready_at is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
