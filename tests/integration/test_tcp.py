# SPDX-License-Identifier: MIT
"""DNS over TCP (RFC 7766): framing, pipelining, sizes, idle timeout, connection limit."""

import json
import shutil
import socket
import struct
import subprocess
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

BIG_ZONE = """$TTL 300
@ IN SOA ns1 hostmaster 1 3600 900 604800 60
@ IN NS ns1
ns1 IN A 192.0.2.1
www IN A 192.0.2.80
""" + "".join(f'big IN TXT "{i:03d} {"x" * 200}"\n' for i in range(40))


def connect(server, v6=False) -> socket.socket:
    return socket.create_connection(("::1" if v6 else "127.0.0.1", server.port), timeout=5)


def send(sock, message: dns.message.Message) -> None:
    wire = message.to_wire()
    sock.sendall(struct.pack("!H", len(wire)) + wire)


def receive(sock) -> dns.message.Message:
    def read(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError("connection closed")
            data += chunk
        return data
    (length,) = struct.unpack("!H", read(2))
    return dns.message.from_wire(read(length))


def test_tcp_answers_over_ipv4_and_ipv6(serve):
    server = serve()
    for host in ("127.0.0.1", "::1"):
        reply = dns.query.tcp(dns.message.make_query("www.example.com", "A"), host,
                              port=server.port, timeout=5)
        assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA
        assert reply.answer[0][0].to_text() == "192.0.2.80"


def test_pipelined_queries_on_one_connection_are_all_answered(serve):
    server = serve()
    names = ["www.example.com", "example.com", "nx.example.com", "www.example.net", "example.org"] * 4
    queries = [dns.message.make_query(n, "A") for n in names]
    with connect(server) as sock:
        for query in queries:  # all sent before any reply is read
            send(sock, query)
        replies = [receive(sock) for _ in queries]
    assert sorted(r.id for r in replies) == sorted(q.id for q in queries)
    by_id = {r.id: r for r in replies}
    assert by_id[queries[2].id].rcode() == dns.rcode.NXDOMAIN
    assert by_id[queries[4].id].rcode() == dns.rcode.REFUSED


def test_large_answer_needs_tcp_and_gets_it(serve):
    server = serve(zones={"example.com": BIG_ZONE})
    query = dns.message.make_query("big.example.com", "TXT", use_edns=0, payload=4096)
    assert server.query("big.example.com", "TXT").flags & dns.flags.TC
    reply = dns.query.tcp(query, "127.0.0.1", port=server.port, timeout=5)
    assert not reply.flags & dns.flags.TC and len(reply.answer[0]) == 40


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig is not installed")
def test_dig_retries_over_tcp_after_truncation(serve):
    server = serve(zones={"example.com": BIG_ZONE})
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(server.port), "+noedns", "big.example.com", "TXT"],
                         capture_output=True, text=True, timeout=10).stdout
    assert "Truncated, retrying in TCP mode" in out and "ANSWER: 40" in out
    out = subprocess.run(["dig", "+tcp", "@127.0.0.1", "-p", str(server.port), "www.example.com"],
                         capture_output=True, text=True, timeout=10).stdout
    assert "192.0.2.80" in out and "status: NOERROR" in out


def test_idle_connections_are_closed(serve):
    server = serve(tcp_idle_timeout=0.5)
    with connect(server) as sock:
        send(sock, dns.message.make_query("www.example.com", "A"))
        receive(sock)
        started = time.monotonic()
        assert sock.recv(1) == b""  # the server closed it
        assert 0.3 < time.monotonic() - started < 4


def test_connections_beyond_the_limit_are_closed(serve):
    server = serve(tcp_max_connections=2)
    held = [connect(server) for _ in range(2)]
    try:
        for sock in held:  # make sure both were accepted and are being served
            send(sock, dns.message.make_query("www.example.com", "A"))
            receive(sock)
        with connect(server) as extra:
            extra.settimeout(5)
            try:
                data = extra.recv(1)
            except ConnectionResetError:
                data = b""
            assert data == b""
        stats = json.loads(server.cli("stats", "--json").stdout)["tcp"]
        assert stats["connections_refused"] >= 1 and stats["connections_open"] == 2
    finally:
        for sock in held:
            sock.close()


def test_tcp_queries_are_counted(serve):
    server = serve()
    for _ in range(3):
        dns.query.tcp(dns.message.make_query("www.example.com", "A"), "127.0.0.1",
                      port=server.port, timeout=5)
    stats = json.loads(server.cli("stats", "--json").stdout)["tcp"]
    assert stats["rx"] == 3 and stats["noerror"] == 3 and stats["connections_accepted"] == 3


def test_a_reply_sent_to_the_tcp_port_closes_the_connection(serve):
    server = serve()
    response = dns.message.make_response(dns.message.make_query("www.example.com", "A"))
    with connect(server) as sock:
        send(sock, response)
        assert sock.recv(1) == b""
