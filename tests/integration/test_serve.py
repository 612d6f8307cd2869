# SPDX-License-Identifier: MIT
"""`fastdns serve` as an operator runs it: answers on loopback, reloads, supervision, stop."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import dns.rcode
import pytest

from tests.conftest import fastdns_cli

CPUS = sorted(os.sched_getaffinity(0))


def test_answers_over_ipv4_and_ipv6(serve):
    server = serve()
    for v6 in (False, True):
        reply = server.query("www.example.com", "A", v6=v6)
        assert reply.rcode() == dns.rcode.NOERROR
        assert [rd.to_text() for rd in reply.answer[0]] == ["192.0.2.80"]
    assert server.query("nx.example.net", "A").rcode() == dns.rcode.NXDOMAIN
    assert server.query("www.example.org", "A").rcode() == dns.rcode.REFUSED


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig is not installed")
def test_dig_gets_an_authoritative_answer(serve):
    server = serve()
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(server.port), "www.example.com", "A"],
                         capture_output=True, text=True, timeout=10).stdout
    assert "status: NOERROR" in out and "flags: qr aa" in out
    assert "192.0.2.80" in out
    out = subprocess.run(["dig", "@::1", "-p", str(server.port), "+short", "example.com", "MX"],
                         capture_output=True, text=True, timeout=10).stdout
    assert out.strip() == "10 mail.example.com."


def test_one_worker_per_cpu_each_pinned(serve):
    server = serve()
    pids = server.worker_pids()
    assert len(pids) == len(CPUS)
    deadline = time.monotonic() + 5  # a worker pins itself as it starts: the first answer may come first
    while not all(len(os.sched_getaffinity(pid)) == 1 for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(next(iter(os.sched_getaffinity(pid))) for pid in pids) == CPUS
    assert all(len(os.sched_getaffinity(pid)) == 1 for pid in pids)
    status = json.loads(server.cli("status", "--json").stdout)
    assert [w["cpu"] for w in status["workers"]] == CPUS


def _rx_by_worker(server) -> list[int]:
    stats = json.loads(server.cli("stats", "--json").stdout)
    return [w["rx"] for w in stats["workers"]]


@pytest.mark.skipif(len(CPUS) < 2, reason="needs two CPUs")
def test_a_query_is_answered_by_the_worker_of_the_cpu_that_received_it(serve):
    server = serve()
    for slot, cpu in enumerate(CPUS[:2]):
        before = _rx_by_worker(server)
        code = (f"import os, dns.message, dns.query; os.sched_setaffinity(0, {{{cpu}}}); "
                f"[dns.query.udp(dns.message.make_query('www.example.com', 'A'), '127.0.0.1', "
                f"port={server.port}, timeout=2) for _ in range(20)]")
        subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
        after = _rx_by_worker(server)
        assert after[slot] - before[slot] == 20, (before, after)
        assert sum(after) - sum(before) == 20


def test_reload_publishes_an_edited_zone_and_reports_the_serial(serve):
    server = serve()
    zone = server.dir / "example.com.zone"
    text = zone.read_text().replace("2026112201", "2026112202").replace("192.0.2.80", "192.0.2.81")
    zone.write_text(text)
    result = server.cli("reload")
    assert result.returncode == 0, result.stderr
    assert "example.com: serial 2026112201 -> 2026112202" in result.stdout
    assert "example.net: serial 2026112201, unchanged" in result.stdout
    assert "(recompiled: example.com (2 of 18 names))" in result.stdout  # www and what leads to it
    # published before the command returned: the very next query sees it
    assert [rd.to_text() for rd in server.query("www.example.com").answer[0]] == ["192.0.2.81"]
    assert server.query("example.com", "SOA").answer[0][0].serial == 2026112202


def test_reload_of_one_zone_by_name(serve):
    server = serve()
    result = server.cli("reload", "example.net")
    assert result.returncode == 0 and "example.com" not in result.stdout
    result = server.cli("reload", "example.invalid")
    assert result.returncode == 1 and "no such zone" in result.stderr


def test_broken_zone_on_reload_keeps_the_old_zone_serving(serve):
    server = serve()
    zone = server.dir / "example.com.zone"
    zone.write_text(zone.read_text() + "broken IN A 192.0.2.999\n")
    lines = zone.read_text().count("\n")
    result = server.cli("reload")
    assert result.returncode == 1
    assert f"{zone}:{lines}: " in result.stderr
    assert "keeps serving serial 2026112201" in result.stderr
    assert [rd.to_text() for rd in server.query("www.example.com").answer[0]] == ["192.0.2.80"]


def test_sighup_reloads(serve):
    server = serve()
    zone = server.dir / "example.net.zone"
    zone.write_text(zone.read_text().replace("203.0.113.10", "203.0.113.11"))
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if server.query("www.example.net").answer[0][0].to_text() == "203.0.113.11":
            break
        time.sleep(0.05)
    assert server.query("www.example.net").answer[0][0].to_text() == "203.0.113.11"


def test_a_killed_worker_is_restarted_on_its_cpu_within_a_second(serve):
    server = serve()
    before = json.loads(server.cli("status", "--json").stdout)["workers"]
    slot = len(before) - 1  # the last slot: not simply the first CPU
    victim, cpu = before[slot]["pid"], before[slot]["cpu"]
    assert os.sched_getaffinity(victim) == {cpu}
    others = {w["pid"] for w in before} - {victim}
    os.kill(victim, signal.SIGKILL)
    killed = time.monotonic()
    replacement = None
    while replacement is None and time.monotonic() < killed + 5:
        new = set(server.worker_pids()) - others - {victim}
        replacement = new.pop() if new else None
        time.sleep(0.01)
    assert replacement is not None, "no replacement worker"
    assert time.monotonic() - killed < 1.2, "restart took more than a second"
    after = json.loads(server.cli("status", "--json").stdout)["workers"]
    assert after[slot]["pid"] == replacement and after[slot]["cpu"] == cpu
    assert after[slot]["restarts"] == 1 and sum(w["restarts"] for w in after) == 1
    assert {w["pid"] for i, w in enumerate(after) if i != slot} == others
    deadline = time.monotonic() + 10  # the worker pins itself once Python has started
    while os.sched_getaffinity(replacement) != {cpu} and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.sched_getaffinity(replacement) == {cpu}
    assert "exited with signal SIGKILL; restarting" in server.output()
    for _ in range(10):
        assert server.query("www.example.com").rcode() == dns.rcode.NOERROR


def test_sigterm_stops_everything_cleanly(serve):
    server = serve()
    pids = server.worker_pids()
    assert server.stop() == 0
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or "zombie" in open(f"/proc/{pid}/status").read().lower()
    assert not (server.run_dir / "control.sock").exists()
    assert not list(server.run_dir.glob("image.*"))


def test_workers_die_with_the_control_process(serve):
    server = serve()
    pids = server.worker_pids()
    server.proc.kill()
    server.proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in pids):
        time.sleep(0.05)
    assert not any(os.path.exists(f"/proc/{p}") for p in pids)


def test_a_second_server_on_the_same_run_dir_is_refused(serve):
    server = serve()
    result = fastdns_cli("serve", "-c", str(server.config), timeout=30)
    assert result.returncode == 1
    assert "another fastdns is running" in result.stderr
    # the refused one left the running one's files alone: its control socket still answers
    status = fastdns_cli("status", "-c", str(server.config), timeout=30)
    assert status.returncode == 0, status.stderr


def test_a_broken_zone_stops_start_up_with_file_and_line(tmp_path):
    (tmp_path / "e.zone").write_text(
        "$TTL 300\n@ IN SOA ns1.example.com. h 1 2 3 4 5\n@ IN NS ns1\nns1 IN AAAA 192.0.2.1\n")
    (tmp_path / "fastdns.yaml").write_text(
        "listen: [127.0.0.1@5399]\nrun_dir: run\nzones:\n  - {name: example.com, file: e.zone}\n")
    result = fastdns_cli("serve", "-c", str(tmp_path / "fastdns.yaml"), timeout=30)
    assert result.returncode == 1
    assert f"{tmp_path}/e.zone:4: " in result.stderr


def test_bad_config_is_reported_before_anything_starts(tmp_path):
    (tmp_path / "fastdns.yaml").write_text("listen: [127.0.0.1@5399]\nwrokers: 2\nzones: []\n")
    result = fastdns_cli("serve", "-c", str(tmp_path / "fastdns.yaml"), timeout=30)
    assert result.returncode == 1
    assert "wrokers: unknown setting" in result.stderr
    assert not (tmp_path / "run").exists()
