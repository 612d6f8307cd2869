# SPDX-License-Identifier: MIT
"""A bounded UDP load generator that checks every answer; run as its own process.

usage: loadgen.py PORT SECONDS MAX_QUERIES OUT.json STOP_FILE

It stops when STOP_FILE appears, after SECONDS at the most, or after MAX_QUERIES.

It asks alias.example.com A over and over, one query outstanding, and records for each
query when it was sent and which zone version answered it: the CNAME target v<k> and the
address 198.51.100.<k> must name the same k, or the reply mixed two versions.
"""

import json
import os
import socket
import struct
import sys
import time

import dns.message

TIMEOUT_S = 1.0


def version_of(wire: bytes) -> int | None:
    reply = dns.message.from_wire(wire)
    cname = [rd.target.labels[0] for rrset in reply.answer for rd in rrset if rrset.rdtype == 5]
    address = [rd.address for rrset in reply.answer for rd in rrset if rrset.rdtype == 1]
    if len(cname) != 1 or len(address) != 1:
        return None
    k = int(cname[0][1:])
    return k if address[0] == f"198.51.100.{k}" else None


def main() -> None:
    port, seconds, max_queries = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    out, stop_file = sys.argv[4], sys.argv[5]
    query = bytearray(dns.message.make_query("alias.example.com", "A").to_wire())
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(("127.0.0.1", port))
    sock.settimeout(TIMEOUT_S)
    samples, lost, mixed = [], 0, 0
    deadline = time.monotonic() + seconds
    for n in range(max_queries):  # bounded in count and in time
        sent = time.monotonic()
        if sent > deadline or (n % 64 == 0 and os.path.exists(stop_file)):
            break
        struct.pack_into("!H", query, 0, n & 0xFFFF)
        sock.send(query)
        try:
            while True:
                wire = sock.recv(4096)
                if wire[:2] == query[:2]:
                    break
        except TimeoutError:
            lost += 1
            continue
        version = version_of(wire)
        if version is None:
            mixed += 1
        else:
            samples.append((sent, version))
    with open(out, "w") as f:
        json.dump({"sent": n + 1, "lost": lost, "mixed": mixed, "samples": samples}, f)


if __name__ == "__main__":
    main()
