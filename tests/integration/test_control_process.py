# SPDX-License-Identifier: MIT
"""The control process's rooms driven in-process: reload bookkeeping, the UDP fallback of
backend xdp (which otherwise needs an XDP-capable interface and root), supervision, and the
worker spec both sides share."""

import asyncio
import os
import shutil
import subprocess
import sys
import time

import dns.message
import dns.query
import pytest

from fastdns import cli
from fastdns import control as control_protocol
from fastdns import reload as reload_module
from fastdns.backends import UdpFallback
from fastdns.config import load_config
from fastdns.host import place
from fastdns.server import Server
from fastdns.supervisor import Supervisor, WorkerHandle
from fastdns.workerspec import UdpEndpoint, WorkerSpec, XdpEndpoint
from tests.conftest import ZONES, free_port


@pytest.fixture
def control(tmp_path):
    port = free_port()
    for name in ("example.com", "example.net"):
        shutil.copy(ZONES / f"{name}.zone", tmp_path)
    (tmp_path / "fastdns.yaml").write_text(
        f"listen: [127.0.0.1@{port}]\nworkers: 1\nrun_dir: run\nzones:\n"
        "  - {name: example.com, file: example.com.zone}\n"
        "  - {name: example.net, file: example.net.zone}\n")
    config = load_config(tmp_path / "fastdns.yaml")
    server = Server(config, place(config))
    server.prepare()  # zones loaded, image published, sockets bound; no worker started
    server.port = port
    yield server
    server.cleanup()


def test_a_touched_but_unchanged_zone_is_parsed_once_then_skipped(control, monkeypatch):
    loads = []
    real_load = reload_module.load_native_zone
    monkeypatch.setattr(reload_module, "load_native_zone", lambda *a: loads.append(a[0]) or real_load(*a))
    path = control.zones.zones["example.com"].filename
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    first = control.zones.reload_sync(None, control.publisher)
    assert first["ok"] and not any(c["changed"] for c in first["changes"])
    assert loads == ["example.com"]  # read again: its mtime changed
    second = control.zones.reload_sync(None, control.publisher)
    assert second["ok"] and loads == ["example.com"]  # the new mtime was kept: not read again
    assert control.publisher.generation == 1  # nothing was published


def test_reload_of_an_unknown_zone_names_the_configuration(control):
    reply = control.zones.reload_sync(["example.org"], control.publisher)
    assert not reply["ok"] and reply["errors"] == [f"example.org: no such zone in {control.config.path}"]


def test_udp_fallback_is_counted_apart_from_tcp_and_follows_reloads(control, monkeypatch, capsys):
    zone = control.config.zones[0].file
    # the worker's socket of the kernel backend, answered here as backend xdp's fallback is
    sock = control.backend.groups[0][0]

    def ask() -> str:
        query = dns.message.make_query("www.example.com", "A")
        reply = dns.query.udp(query, "127.0.0.1", port=control.port, timeout=2)
        return reply.answer[0][0].to_text()

    async def run() -> tuple[str, str]:
        await fallback.start([sock])
        before = await asyncio.to_thread(ask)
        with open(zone) as f:
            text = f.read()
        with open(zone, "w") as f:
            f.write(text.replace("2026112201", "2026112202").replace("192.0.2.80", "192.0.2.81"))
        assert (await asyncio.to_thread(control.zones.reload_sync, None, control.publisher))["ok"]
        return before, await asyncio.to_thread(ask)

    fallback = UdpFallback(control.publisher)
    assert asyncio.run(run()) == ("192.0.2.80", "192.0.2.81")
    stats = {**control.stats(), "fallback": fallback.counters()}
    assert stats["fallback"]["rx"] == 2 and stats["fallback"]["noerror"] == 2
    assert stats["tcp"]["rx"] == 0
    monkeypatch.setattr(control_protocol, "request", lambda *a, **kw: stats)
    assert cli.main(["stats", "--socket", "unused"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-2:] == ["tcp", "fallback"]
    assert next(line for line in lines if line.startswith("rx ")).split()[-2:] == ["0", "2"]


def test_the_control_socket_answers_typed_requests_and_rejects_the_rest(control, tmp_path):
    path = str(tmp_path / "c.sock")

    async def run() -> tuple:
        server = control_protocol.ControlServer(path, control)
        await server.start()
        try:
            status = await asyncio.to_thread(control_protocol.request, path, control_protocol.StatusRequest())
            reload = await asyncio.to_thread(control_protocol.request, path,
                                             control_protocol.ReloadRequest(("example.net",)))
            raw = await asyncio.to_thread(_raw_request, path, b'{"command": "shutdown"}\n')
            bad = await asyncio.to_thread(_raw_request, path, b'{"command": "reload", "zones": 7}\n')
        finally:
            server.close()
        return status, reload, raw, bad

    status, reload, raw, bad = asyncio.run(run())
    assert status["ok"] and [z["zone"] for z in status["zones"]] == ["example.com", "example.net"]
    assert reload["ok"] and reload["changes"][0]["zone"] == "example.net"
    assert raw == {"ok": False, "errors": ["unknown command 'shutdown' (reload, status, stats, transfer)"]}
    assert not bad["ok"] and "zones must be a list" in bad["errors"][0]


def _raw_request(path: str, line: bytes) -> dict:
    import json
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(line)
        return json.loads(s.makefile("rb").readline())


@pytest.mark.parametrize("endpoint", [UdpEndpoint((5, 6)), XdpEndpoint("eth1", 3, 9, 1500, True)])
def test_a_worker_spec_reads_back_as_written(endpoint):
    spec = WorkerSpec(slot=1, cpu=0, run_dir="/run/x", control_block="/run/x/control.block",
                      control_size=576, counters_offset=320, udp_payload=1232, parent=42, endpoint=endpoint)
    command = spec.command()
    assert command[:4] == [sys.executable, "-P", "-m", "fastdns.worker"]
    assert WorkerSpec.from_argv(command[4:]) == spec
    assert spec.pass_fds() == ((5, 6) if isinstance(endpoint, UdpEndpoint) else (9,))


def _supervise_for(supervisor: Supervisor, seconds: float, until=lambda: False) -> None:
    async def run() -> None:
        task = asyncio.create_task(supervisor.run())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until():
            await asyncio.sleep(0.02)
        assert not task.done(), "the supervisor died"
        task.cancel()

    asyncio.run(run())


def test_a_restart_that_fails_is_retried_with_a_growing_delay(caplog):
    attempts = []

    def spawn(slot: int) -> subprocess.Popen:
        attempts.append(time.monotonic())
        if len(attempts) < 4:
            raise OSError("fork failed")
        return subprocess.Popen(["sleep", "30"])

    supervisor = Supervisor((0,), spawn)
    worker = WorkerHandle(0, 0, subprocess.Popen(["true"]), time.time())
    supervisor.workers = [worker]
    _supervise_for(supervisor, 5, until=lambda: len(attempts) == 4)
    try:
        assert len(attempts) == 4 and worker.process.poll() is None and worker.restarts == 1
        gaps = [b - a for a, b in zip(attempts, attempts[1:])]
        assert gaps[0] < gaps[2] and gaps[2] >= 0.7, gaps  # 0.2, 0.4, 0.8 s (+ one poll)
        assert caplog.text.count("cannot restart: fork failed; retrying in") == 3
    finally:
        worker.process.kill()
        worker.process.wait()


def test_a_worker_that_keeps_crashing_is_restarted_ever_more_slowly():
    supervisor = Supervisor((0,), lambda slot: subprocess.Popen(["true"]))
    worker = WorkerHandle(0, 0, subprocess.Popen(["true"]), time.time())
    supervisor.workers = [worker]
    _supervise_for(supervisor, 2.0)
    # delays 0.1, 0.2, 0.4, 0.8 s: four or five restarts in 2 s, not one per 100 ms poll
    assert 3 <= worker.restarts <= 6, worker.restarts
    assert worker.backoff >= 0.4


def test_stop_terminates_then_kills(monkeypatch):
    from fastdns import supervisor as supervisor_module

    monkeypatch.setattr(supervisor_module, "STOP_GRACE_S", 0.5)
    stubborn = subprocess.Popen([sys.executable, "-c",
                                 "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                                 "print(flush=True); time.sleep(30)"], stdout=subprocess.PIPE)
    stubborn.stdout.readline()  # SIGTERM ignored from here on
    polite = subprocess.Popen(["sleep", "30"])
    supervisor = Supervisor((0, 1), lambda slot: None)
    supervisor.workers = [WorkerHandle(0, 0, polite, time.time()), WorkerHandle(1, 1, stubborn, time.time())]
    asyncio.run(supervisor.stop())
    assert polite.returncode == -15 and stubborn.returncode == -9


def test_status_shows_a_reload_under_way(control, monkeypatch, capsys, caplog):
    from fastdns.progress import LoadProgress

    caplog.set_level("INFO", logger="fastdns")
    progress = control.zones.loading = LoadProgress()
    progress.parsing("big.example")
    progress.parsed("big.example", 1_500_000, 2.4)
    progress.compiling("big.example", 400_000, 1_000_000)
    status = control.status()
    assert status["loading"]["phase"] == "compiling" and status["loading"]["records"] == 1_500_000
    assert "big.example: 1500000 records parsed in 2.40 s" in caplog.text
    monkeypatch.setattr(control_protocol, "request", lambda *a, **kw: status)
    assert cli.main(["status", "--socket", "unused"]) == 0
    assert ("reloading (compiling big.example): 1,500,000 records parsed, 400,000/1,000,000 names compiled"
            in capsys.readouterr().out)
    control.zones.loading = None
    assert "loading" not in control.status()
