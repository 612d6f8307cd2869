# SPDX-License-Identifier: MIT
"""Response rate limiting and DNS cookies under a spoofed flood, on both backends.

A namespace joined to the host by a veth pair (198.18.8.0/30); fastdns serves on the host
side with `rate_limit` on.  From inside the namespace a flood of raw frames, spoofed from
many addresses of 198.18.200.0/24, asks for a large answer well above the limit, while a
client from another prefix asks at a normal rate.  The flood's full answers stay within the
limit (plus the slipped, truncated ones), the other client loses nothing, TCP from the
flooded prefix is answered, and a flooding client with a valid server cookie is not
limited.  The amplification factor (reply bytes / query bytes) is printed with and
without the limit.  Skips only where this machine cannot run it (not root, no veth, the
kernel refuses XDP for the AF_XDP run).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RunningServer
from tests.netns.veth import VethNetwork

NS = "fastdns-rrl-test"
HOST_IF, NS_IF = "frl0", "frl1"
HOST_V4, NS_V4 = "198.18.8.1", "198.18.8.2"
NETWORK = VethNetwork(NS, HOST_IF, NS_IF, HOST_V4, NS_V4)
FLOOD_PREFIX = "198.18.200"  # spoofed: replies are routed back over the veth
COOKIE_PREFIX = "198.18.201"
TCP_SOURCE = "198.18.200.250"  # an address of the flooded prefix the namespace really has
PORT = 5300
RATE, SLIP = 40, 2
FLOOD_RATE, FLOOD_SECONDS = 1000, 4.0
HERE = Path(__file__).resolve().parent
ZONE = """$TTL 300
@ IN SOA ns1 hostmaster 1 3600 900 604800 60
@ IN NS ns1
ns1 IN A 192.0.2.1
www IN A 192.0.2.80
""" + "".join(f'big IN TXT "{i:03d} {"x" * 200}"\n' for i in range(6))  # ~1,300 bytes: within the veth MTU


def run(*cmd: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)


def in_ns(*cmd: str) -> list[str]:
    return ["ip", "netns", "exec", NS, *cmd]


def mac(ifname: str, namespace: bool) -> str:
    cmd = ("ip", "-j", "link", "show", ifname)
    out = run(*(in_ns(*cmd) if namespace else cmd)).stdout
    return json.loads(out)[0]["address"].replace(":", "")


@pytest.fixture(scope="module")
def network():
    with NETWORK.up():
        # Replies to the spoofed prefixes go back through the namespace (never the host's
        # default route), whose interface holds one address of the flooded prefix for TCP.
        for prefix in (FLOOD_PREFIX, COOKIE_PREFIX):
            run("ip", "route", "add", f"{prefix}.0/24", "via", NS_V4, "dev", HOST_IF)
        run(*in_ns("ip", "addr", "add", f"{TCP_SOURCE}/32", "dev", NS_IF))
        yield


def start(directory: Path, backend: str, limited: bool, port: int = PORT) -> RunningServer:
    settings: dict = {"listen": [f"{HOST_V4}@{port}"], "udp_payload": 4096}
    if backend == "xdp":
        try:
            from fastdns import _xdp  # noqa: F401
        except ImportError:
            pytest.fail("fastdns._xdp was not built: install libxdp-dev libbpf-dev clang (make test does)")
        settings.update({"backend": "xdp", "xdp": {"interface": HOST_IF}})
    if limited:
        settings["rate_limit"] = {"rate": RATE, "slip": SLIP}
    try:
        return RunningServer(directory, {"example.com": ZONE}, "auto", settings)
    except RuntimeError as e:
        if "cannot attach" in str(e) or "refused to load" in str(e):
            pytest.skip(f"the kernel refuses XDP here: {e}")
        raise


@pytest.fixture(scope="module", params=["udp", "xdp"])
def server(request, network, tmp_path_factory):
    srv = start(tmp_path_factory.mktemp(f"rrl-{request.param}"), request.param, limited=True)
    yield srv
    srv.stop()


def flood(prefix: str, rate: int, seconds: float, *extra: str, port: int = PORT) -> dict:
    out = run(*in_ns(sys.executable, str(HERE / "flood.py"), NS_IF, mac(HOST_IF, False), mac(NS_IF, True),
                     HOST_V4, str(port), prefix, "big.example.com", "TXT", "--rate", str(rate),
                     "--seconds", str(seconds), "--edns", "4096", *extra), timeout=seconds + 30).stdout
    return json.loads(out.splitlines()[-1])


def client(*extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(in_ns(sys.executable, str(HERE / "client.py"), HOST_V4, str(PORT), "www.example.com",
                                  "A", *extra), stdout=subprocess.PIPE, text=True)


def stats(srv: RunningServer) -> dict:
    return json.loads(srv.cli("stats", "--json").stdout)["total"]


def amplification(result: dict) -> float:
    return result["reply_bytes"] / result["query_bytes"]


def test_a_flood_is_held_to_the_limit_and_others_are_answered(server):
    before = stats(server)
    normal = client("--seconds", str(FLOOD_SECONDS), "--count", "200", "--interval", "0.05", "--timeout", "1")
    tcp = client("--tcp", "--count", "20", "--source", TCP_SOURCE)
    result = flood(FLOOD_PREFIX, FLOOD_RATE, FLOOD_SECONDS)
    normal_out, _ = normal.communicate(timeout=30)
    tcp_out, _ = tcp.communicate(timeout=30)
    after = stats(server)
    answered = json.loads(normal_out.splitlines()[-1])
    print(f"\nflood: {result}; amplification {amplification(result):.2f}; the other client: {answered}")
    # A second of budget, then RATE a second, shared by the workers (each rounds its share up).
    assert 0 < result["full"] <= (RATE + 2) * (result["seconds"] + 1) + 2
    limited = result["sent"] - result["full"]
    assert abs(result["truncated"] - limited / SLIP) <= 0.05 * limited + 4  # every SLIP-th slips
    limited_counted = sum(after[k] - before[k] for k in after if k.startswith("rrl_") and k.endswith("_answer"))
    assert limited_counted >= 0.95 * limited
    assert answered["timeouts"] == 0 and answered["wrong"] == 0 and answered["answered"] > 20
    replies = json.loads(tcp_out)
    assert len(replies) == 20 and all(r["answer"] == ["192.0.2.80"] for r in replies)


def test_a_flooding_client_with_a_valid_cookie_is_not_limited(server):
    before = stats(server)
    result = flood(COOKIE_PREFIX, 500, 2.0, "--cookie")
    after = stats(server)
    assert result["full"] >= 0.99 * result["sent"] and result["truncated"] == result["badcookie"] == 0
    assert after["cookie_valid"] - before["cookie_valid"] >= 0.99 * result["sent"]


def test_amplification_without_the_limit(network, tmp_path):
    """The same flood against a server without rate limiting: for the note's comparison.
    (On another port: the AF_XDP run's program may still be attached to PORT.)"""
    srv = start(tmp_path, "udp", limited=False, port=PORT + 1)
    try:
        result = flood(FLOOD_PREFIX, 500, 2.0, port=PORT + 1)
    finally:
        srv.stop()
    print(f"\nwithout the limit: {result}; amplification {amplification(result):.2f}")
    assert result["full"] >= 0.99 * result["sent"] and amplification(result) > 10
