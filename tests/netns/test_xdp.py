# SPDX-License-Identifier: MIT
"""The AF_XDP backend on a veth pair with two queues, driven from a network namespace.

The test builds its own namespace and veth pair (198.18.0.0/15, and 2001:2::/48 for IPv6:
the benchmarking ranges), starts `fastdns serve` with `backend: xdp` on the host side, and
checks from inside the namespace that DNS is answered by the AF_XDP workers on both queues
while everything else (TCP DNS, ping, other UDP ports) still goes through the kernel; that
malformed frames are dropped and counted by reason; and that a killed worker is replaced on
its queue, and a killed control process leaves neither program nor workers behind.
It skips only where this machine cannot run it (not root, or the kernel refuses XDP).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import pytest

from tests import signing
from tests.conftest import RunningServer, free_port
from tests.netns.veth import VethNetwork

NS = "fastdns-xdp-test"
HOST_IF, NS_IF = "fxt0", "fxt1"
HOST_V4, NS_V4 = "198.18.5.1", "198.18.5.2"
HOST_V6, NS_V6 = "2001:2:0:5::1", "2001:2:0:5::2"
NETWORK = VethNetwork(NS, HOST_IF, NS_IF, HOST_V4, NS_V4, HOST_V6, NS_V6)
PORT = 5300
SIGNED_SOURCE = Path(__file__).resolve().parent.parent / "zones" / "diff.test.zone"
CLIENT = str(Path(__file__).with_name("client.py"))
BIG = """$TTL 300
@ IN SOA ns1 hostmaster 1 3600 900 604800 60
@ IN NS ns1
ns1 IN A 192.0.2.1
www IN A 192.0.2.80
www IN AAAA 2001:db8::80
""" + "".join(f'big IN TXT "{i:03d} {"x" * 200}"\n' for i in range(10))


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=check)


def in_ns(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("ip", "netns", "exec", NS, *cmd, check=check)


def ask(server: str, qname: str, qtype: str = "A", *extra: str) -> list[dict]:
    out = in_ns(sys.executable, CLIENT, server, str(PORT), qname, qtype, *extra).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def network():
    with NETWORK.up():
        yield


def start_server(directory: Path, metrics_port: int) -> RunningServer:
    """`fastdns serve` with backend xdp on HOST_IF, once the namespace gets answers."""
    try:
        from fastdns import _xdp  # noqa: F401
    except ImportError:
        pytest.fail("fastdns._xdp was not built: install libxdp-dev libbpf-dev clang (make test does)")
    zones = {"example.com": BIG}
    if signing.have_signers():  # a signed zone too: its DO=1 answers come from the workers
        zones["diff.test"] = signing.sign("nsec3", "diff.test", SIGNED_SOURCE, directory / "signed").read_text()
    try:
        srv = RunningServer(directory, zones, "auto", {
            "listen": [f"{HOST_V4}@{PORT}", f"{HOST_V6}@{PORT}"], "backend": "xdp",
            "xdp": {"interface": HOST_IF}, "udp_payload": 4096,
            "metrics": f"127.0.0.1@{metrics_port}",
        })
    except RuntimeError as e:
        if "cannot attach" in str(e) or "refused to load" in str(e):
            pytest.skip(f"the kernel refuses XDP here: {e}")
        raise
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if ask(HOST_V4, "www.example.com")[0]["answer"]:
                break
        except (subprocess.CalledProcessError, json.JSONDecodeError, IndexError):
            time.sleep(0.1)
    return srv


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(network, tmp_path_factory, metrics_port):
    srv = start_server(tmp_path_factory.mktemp("xdp"), metrics_port)
    yield srv
    srv.stop()


def stats(srv) -> dict:
    return json.loads(srv.cli("stats", "--json").stdout)


def counters(srv) -> list[dict]:
    return stats(srv)["workers"]


def status(srv) -> dict:
    return json.loads(srv.cli("status", "--json").stdout)


def delta(after: list[dict], before: list[dict], name: str) -> int:
    """How much counter name rose, summed over the workers."""
    return sum(a[name] - b[name] for a, b in zip(after, before))


def test_answers_over_ipv4_and_ipv6(server):
    assert ask(HOST_V4, "www.example.com", "A")[0]["answer"] == ["192.0.2.80"]
    assert ask(HOST_V4, "nothing.example.com")[0]["rcode"] == dns.rcode.NXDOMAIN
    # The control process answers UDP the XDP program passes to the kernel, so a reply alone
    # does not show the workers answered IPv6: their counters must account for every query.
    before = stats(server)
    replies = ask(HOST_V6, "www.example.com", "AAAA", "--count", "10")
    after = stats(server)
    assert [r["answer"] for r in replies] == [["2001:db8::80"]] * 10
    assert delta(after["workers"], before["workers"], "tx") == 10, (before, after)
    assert delta(after["workers"], before["workers"], "q_aaaa") == 10, (before, after)
    if "fallback" in after:  # backend xdp: what the control process answered itself
        assert after["fallback"]["tx"] == before["fallback"]["tx"], (before, after)


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig is not installed")
def test_dig_from_the_namespace(server):
    out = in_ns("dig", f"@{HOST_V4}", "-p", str(PORT), "www.example.com", "+time=2", "+tries=1").stdout
    assert "status: NOERROR" in out and "flags: qr aa" in out and "192.0.2.80" in out
    out = in_ns("dig", f"@{HOST_V6}", "-p", str(PORT), "+short", "www.example.com", "AAAA",
                "+time=2", "+tries=1").stdout
    assert out.strip() == "2001:db8::80"


@pytest.mark.skipif(shutil.which("dig") is None or not signing.have_signers(),
                    reason="dig or dnssec-signzone is not installed")
def test_a_signed_denial_is_answered_by_the_af_xdp_workers(server):
    before = stats(server)
    out = in_ns("dig", f"@{HOST_V4}", "-p", str(PORT), "nothing-here.diff.test", "A", "+dnssec",
                "+time=2", "+tries=1").stdout
    after = stats(server)
    assert "status: NXDOMAIN" in out, out
    authority = out.split(";; AUTHORITY SECTION:")[1].split(";;")[0]
    types = [line.split("IN", 1)[1].split()[0] for line in authority.strip().splitlines()]
    assert types.count("NSEC3") == 3 and types.count("RRSIG") == 4, out  # the SOA's too
    assert delta(after["workers"], before["workers"], "tx") == 1, (before, after)


def test_the_af_xdp_workers_answer_on_both_queues(server):
    before = counters(server)
    # Many source ports: veth spreads flows over its queues by hash.
    for _ in range(8):
        ask(HOST_V4, "www.example.com", "A", "--count", "20")
    after = counters(server)
    assert len(after) == 2
    served = [a["tx"] - b["tx"] for a, b in zip(after, before)]
    assert sum(served) >= 160, (before, after)   # answered by the workers, not the kernel
    assert all(n > 0 for n in served), f"a queue got no traffic: {served}"
    assert "AF_XDP copy mode" in server.output() or "AF_XDP zero-copy mode" in server.output()
    assert "queue 0 -> CPU" in server.output() and "queue 1 -> CPU" in server.output()


def test_tcp_dns_still_goes_through_the_kernel(server):
    reply = ask(HOST_V4, "www.example.com", "A", "--tcp")[0]
    assert reply["answer"] == ["192.0.2.80"]


def test_ping_is_still_answered(server):
    if shutil.which("ping") is None:
        pytest.skip("ping (iputils-ping) is not installed")
    assert in_ns("ping", "-c", "2", "-W", "2", HOST_V4, check=False).returncode == 0
    assert in_ns("ping", "-6", "-c", "2", "-W", "2", HOST_V6, check=False).returncode == 0


def test_another_udp_port_is_unaffected(server):
    code = ("import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
            f"s.bind(('{HOST_V4}', 7777)); s.settimeout(10); d, a = s.recvfrom(100); "
            "s.sendto(d[::-1], a)")
    echo = subprocess.Popen([sys.executable, "-c", code])
    try:
        time.sleep(0.3)
        out = in_ns(sys.executable, "-c",
                    "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
                    f"s.settimeout(3); s.sendto(b'abc', ('{HOST_V4}', 7777)); print(s.recv(10))").stdout
        assert "b'cba'" in out
    finally:
        echo.kill()
        echo.wait()


def test_replies_beyond_the_mtu_are_truncated(server):
    reply = ask(HOST_V4, "big.example.com", "TXT", "--edns", "4096")[0]
    assert reply["flags"] & dns.flags.TC and not reply["answer"]
    full = ask(HOST_V4, "big.example.com", "TXT", "--tcp")[0]
    assert len(full["answer"]) == 10


def test_malformed_datagrams_are_dropped_and_counted(server):
    before = sum(w["dropped"] + w["formerr"] for w in counters(server))
    assert json.loads(in_ns(sys.executable, CLIENT, HOST_V4, str(PORT), "x", "A", "--raw",
                            "00010100").stdout)["reply"] is None          # shorter than a header
    response = "abcd8180000100000000000003777777076578616d706c6503636f6d0000010001"
    assert json.loads(in_ns(sys.executable, CLIENT, HOST_V4, str(PORT), "x", "A", "--raw",
                            response).stdout)["reply"] is None            # QR=1: never answered
    after = sum(w["dropped"] + w["formerr"] for w in counters(server))
    assert after - before == 2


def mac_address(ifname: str, namespace: bool) -> bytes:
    cmd = ("ip", "-j", "link", "show", ifname)
    out = (in_ns(*cmd) if namespace else run(*cmd)).stdout
    return bytes.fromhex(json.loads(out)[0]["address"].replace(":", ""))


def ipv4_checksum(header: bytes) -> int:
    """RFC 791 header checksum: one's complement of the one's complement sum of the words."""
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def query_frame(sport: int, version_ihl: int = 0x45, total_length_extra: int = 0,
                udp_length_extra: int = 0, ip_checksum_extra: int = 0) -> bytes:
    """An Ethernet frame from the namespace carrying a DNS query for www.example.com A to
    the served address and port, with the IPv4 Total Length, the UDP Length, the
    version/IHL byte or the IPv4 header checksum made wrong on request."""
    message = dns.message.make_query("www.example.com", "A").to_wire()
    udp_length = 8 + len(message)
    ip = struct.pack("!BBHHHBBH4s4s", version_ihl, 0, 20 + udp_length + total_length_extra,
                     0x1234, 0x4000, 64, 17, 0, socket.inet_aton(NS_V4), socket.inet_aton(HOST_V4))
    ip = ip[:10] + struct.pack("!H", (ipv4_checksum(ip) + ip_checksum_extra) & 0xFFFF) + ip[12:]
    udp = struct.pack("!HHHH", sport, PORT, udp_length + udp_length_extra, 0)  # no UDP checksum
    ethernet = mac_address(HOST_IF, False) + mac_address(NS_IF, True) + b"\x08\x00"
    return ethernet + ip + udp + message


def metric(port: int, name: str, label: str) -> float:
    """The sum over the workers of one Prometheus sample family's samples carrying label."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") and label in line)


def test_metrics_export_the_kernel_fallback(server, metrics_port):
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as response:
        text = response.read().decode()
    fallback = [line for line in text.splitlines()
                if line.startswith("fastdns_queries_total{") and 'worker="fallback"' in line]
    assert len(fallback) == 1, text
    assert float(fallback[0].rsplit(" ", 1)[1]) == stats(server)["fallback"]["rx"]


@pytest.mark.parametrize("sport, reason, wrong", [
    pytest.param(40001, None, {}, id="well-formed"),    # the control: answered
    pytest.param(40002, "length", {"udp_length_extra": 100}, id="udp-length-beyond-ip"),
    pytest.param(40003, "length", {"total_length_extra": 100}, id="ip-length-beyond-frame"),
    pytest.param(40004, "ip_header", {"version_ihl": 0x65}, id="ip-version-6-in-ipv4"),
    pytest.param(40005, "ip_header", {"ip_checksum_extra": 1}, id="ipv4-header-checksum"),
])
def test_malformed_frames_are_counted_by_reason(server, metrics_port, sport, reason, wrong):
    """The XDP program checks only IHL, protocol, address and port, so these reach the
    workers, which must drop them unanswered and count why."""
    frame = query_frame(sport, **wrong)
    before = counters(server)
    by_metric = metric(metrics_port, "fastdns_dropped_frames_by_reason_total", f'reason="{reason}"')
    out = in_ns(sys.executable, CLIENT, HOST_V4, str(PORT), "x", "A", "--frame", frame.hex(),
                "--ifname", NS_IF, "--sport", str(sport)).stdout
    after = counters(server)
    assert delta(after, before, "rx") == 1, (before, after)   # it reached an AF_XDP worker
    if reason is None:
        assert json.loads(out)["reply"] is not None
        assert delta(after, before, "tx") == 1 and delta(after, before, "dropped") == 0
        return
    assert json.loads(out)["reply"] is None
    assert delta(after, before, "tx") == 0
    assert delta(after, before, "dropped") == 1                # the total keeps counting
    for name in ("drop_short", "drop_not_ip", "drop_ip_header", "drop_length"):
        assert delta(after, before, name) == (name == f"drop_{reason}"), (name, before, after)
    assert metric(metrics_port, "fastdns_dropped_frames_by_reason_total",
                  f'reason="{reason}"') == by_metric + 1
    table = server.cli("stats").stdout
    assert any(line.split()[:2] == [f"drop_{reason}", str(sum(w[f"drop_{reason}"] for w in after))]
               for line in table.splitlines()), table


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """One line of proc's stdout, or "" when none comes within timeout seconds."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    return proc.stdout.readline() if ready else ""


def test_a_killed_worker_is_restarted_on_its_cpu_and_queue(server):
    """While queries keep coming, kill -9 one AF_XDP worker: its queue's datagrams go to the
    kernel (the XSKMAP entry goes with the socket) until the restarted worker takes it back."""
    victim = status(server)["workers"][1]
    asker = subprocess.Popen(
        ["ip", "netns", "exec", NS, sys.executable, CLIENT, HOST_V4, str(PORT),
         "www.example.com", "A", "--seconds", "4", "--count", "4000", "--timeout", "1",
         "--interval", "0.002"], stdout=subprocess.PIPE, text=True)
    try:
        assert "started" in read_line(asker, 10)
        time.sleep(0.5)
        os.kill(victim["pid"], signal.SIGKILL)
        killed = time.time()
        replacement = None
        while time.time() - killed < 10:   # bounded; the supervisor polls every 100 ms
            replacement = status(server)["workers"][1]
            if replacement["pid"] != victim["pid"] and replacement["alive"]:
                break
            time.sleep(0.05)
        # When it started, by its uptime (0.1 s steps): what `fastdns status` itself costs
        # on a busy machine is not the supervisor's delay.
        restart_s = time.time() - replacement["uptime"] - killed
        served_at_restart = counters(server)[1]["tx"]
        out = asker.communicate(timeout=30)[0]
    finally:
        if asker.poll() is None:
            asker.kill()
            asker.wait()
    assert replacement is not None and replacement["pid"] != victim["pid"], replacement
    assert restart_s < 2.0, f"restarted {restart_s:.1f} s after the kill"
    assert (replacement["cpu"], replacement["queue"], replacement["restarts"]) == \
        (victim["cpu"], victim["queue"], victim["restarts"] + 1), (victim, replacement)
    result = json.loads(out.splitlines()[-1])
    assert result["wrong"] == 0 and result["timeouts"] <= 5, result
    assert result["answered"] >= 50, result
    # The replacement answers on its queue again (many source ports: both queues get some).
    for _ in range(8):
        if counters(server)[1]["tx"] > served_at_restart:
            break
        ask(HOST_V4, "www.example.com", "A", "--count", "20")
    assert counters(server)[1]["tx"] > served_at_restart


def attached_xdp(ifname: str) -> dict | None:
    """The XDP attachment `ip -d link show` reports on ifname (prog id, mode), if any."""
    return json.loads(run("ip", "-j", "-d", "link", "show", ifname).stdout)[0].get("xdp")


def test_the_program_is_gone_after_shutdown(server):
    """Runs after the other tests of the module's server: it stops that server."""
    assert attached_xdp(HOST_IF) is not None
    assert server.stop() == 0
    assert attached_xdp(HOST_IF) is None, run("ip", "-d", "link", "show", HOST_IF).stdout


def process_gone(pid: int) -> bool:
    """Exited: no such process, or a zombie nobody has reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return True


def test_a_killed_control_process_leaves_no_program_and_no_worker(network, tmp_path):
    """Runs after the module's server stopped: kill -9 the control process of a new one.
    The kernel closes its BPF link (detaching the program) and the workers' parent-death
    signal stops them."""
    srv = start_server(tmp_path, free_port())
    workers: list[int] = []
    try:
        workers = [w["pid"] for w in status(srv)["workers"]]
        assert len(workers) == 2 and attached_xdp(HOST_IF) is not None
        os.kill(srv.proc.pid, signal.SIGKILL)
        srv.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # bounded; done at once when all is well
            if attached_xdp(HOST_IF) is None and all(process_gone(pid) for pid in workers):
                break
            time.sleep(0.05)
        assert attached_xdp(HOST_IF) is None, run("ip", "-d", "link", "show", HOST_IF).stdout
        assert [pid for pid in workers if not process_gone(pid)] == []
    finally:
        srv.stop()
        for pid in workers:  # nothing may outlive its control process, even when this fails
            if not process_gone(pid):
                os.kill(pid, signal.SIGKILL)
