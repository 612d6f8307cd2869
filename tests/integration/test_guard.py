# SPDX-License-Identifier: MIT
"""Rate limiting and DNS cookies as an operator meets them on loopback: dig's cookies
answered, secrets rotated by `fastdns reload` (the previous one still accepted), a secret
file shared by two servers (anycast), the counters in `fastdns stats` and the metrics,
and the settings' errors."""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import urllib.request

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import pytest

from tests.conftest import RunningServer, free_port

SECRET = "0123456789abcdef0123456789abcdef"


def ask_with(srv: RunningServer, cookie: bytes, qname: str = "www.example.com") -> dns.message.Message:
    query = dns.message.make_query(qname, "A", use_edns=0, options=[dns.edns.GenericOption(dns.edns.COOKIE, cookie)])
    return dns.query.udp(query, srv.host, port=srv.port, timeout=2)


def cookie_of(reply: dns.message.Message) -> bytes:
    (option,) = [o for o in reply.options if o.otype == dns.edns.COOKIE]
    return option.to_wire()


def totals(srv: RunningServer) -> dict[str, int]:
    return json.loads(srv.cli("stats", "--json").stdout)["total"]


@pytest.fixture
def limited(tmp_path):
    metrics = free_port()
    srv = RunningServer(tmp_path, None, 1, {"rate_limit": {"rate": 5, "slip": 2},
                                            "metrics": f"127.0.0.1@{metrics}"})
    srv.metrics_port = metrics
    yield srv
    srv.stop()


def test_a_valid_cookie_is_kept_across_one_reload_not_two(limited):
    first = cookie_of(ask_with(limited, bytes(range(8))))
    assert len(first) == 24
    again = ask_with(limited, first)
    assert cookie_of(again) == first  # ours and fresh: echoed
    assert totals(limited)["cookie_valid"] == 1
    assert limited.cli("reload").returncode == 0  # a new secret; the old one still accepted
    ask_with(limited, first)
    assert totals(limited)["cookie_valid"] == 2
    assert limited.cli("reload").returncode == 0  # and now it is gone
    renewed = cookie_of(ask_with(limited, first))
    assert totals(limited)["cookie_valid"] == 2 and renewed != first


def burst(srv: RunningServer, n: int) -> list[dns.message.Message]:
    """n queries sent at once from one socket, and the replies that come within a second."""
    replies = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        for i in range(n):
            query = dns.message.make_query("www.example.com", "A")
            query.id = i
            sock.sendto(query.to_wire(), (srv.host, srv.port))
        with contextlib.suppress(TimeoutError):
            while len(replies) < n:  # bounded by n and by the timeout
                replies.append(dns.message.from_wire(sock.recv(4096)))
    return replies


def test_over_the_rate_replies_slip_and_are_counted(limited):
    replies = burst(limited, 40)  # well over 5 a second
    full = [r for r in replies if not r.flags & dns.flags.TC]
    slipped = [r for r in replies if r.flags & dns.flags.TC]
    dropped = 40 - len(replies)
    assert 4 <= len(full) <= 6 and abs(len(slipped) - dropped) <= 1  # (the start-up check took one)
    counts = totals(limited)
    assert counts["rrl_slipped_answer"] == len(slipped) and counts["rrl_dropped_answer"] == dropped
    # TCP is never limited
    tcp = dns.query.tcp(dns.message.make_query("www.example.com", "A"), limited.host, port=limited.port, timeout=2)
    assert tcp.answer
    with urllib.request.urlopen(f"http://127.0.0.1:{limited.metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    assert 'fastdns_rate_limited_total{action="slipped",class="answer",worker="0"}' in text
    assert 'fastdns_cookies_total{result="valid",worker="0"}' in text


def test_servers_with_one_secret_file_accept_each_others_cookies(tmp_path):
    (tmp_path / "secrets").write_text(f"{SECRET}\n")
    settings = {"cookies": {"secret_file": "../secrets"}}
    a = RunningServer(tmp_path / "a", None, 1, settings)
    b = RunningServer(tmp_path / "b", None, 1, settings)
    try:
        from_a = cookie_of(ask_with(a, bytes(range(8))))
        assert cookie_of(ask_with(b, from_a)) == from_a
        assert totals(b)["cookie_valid"] == 1
        # rolled over on both: the new secret first, the old one second
        (tmp_path / "secrets").write_text(f"{'f' * 32}\n{SECRET}\n")
        assert b.cli("reload").returncode == 0
        renewed = cookie_of(ask_with(b, from_a))
        # accepted (the previous secret), and a new one made with the current secret
        assert totals(b)["cookie_valid"] == 2 and renewed[:8] == from_a[:8] and renewed != from_a
    finally:
        a.stop()
        b.stop()


def test_a_broken_secret_file_on_reload_keeps_the_secrets(tmp_path):
    (tmp_path / "secrets").write_text(f"{SECRET}\n")
    srv = RunningServer(tmp_path / "s", None, 1, {"cookies": {"secret_file": "../secrets"}})
    try:
        first = cookie_of(ask_with(srv, bytes(range(8))))
        (tmp_path / "secrets").write_text("not hex\n")
        result = srv.cli("reload")
        assert result.returncode != 0
        assert "secrets:1: expected a secret of 32 hex digits" in result.stdout + result.stderr
        assert cookie_of(ask_with(srv, first)) == first
    finally:
        srv.stop()


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig is not installed")
def test_dig_gets_a_server_cookie(limited):
    out = subprocess.run(["dig", "+cookie", "+norec", "-p", str(limited.port), "@" + limited.host,
                          "www.example.com", "A"], capture_output=True, text=True, timeout=10).stdout
    assert "COOKIE:" in out and "(good)" in out
