# SPDX-License-Identifier: MIT
"""The control process's Server driven in-process: reload bookkeeping, supervision, and
the UDP fallback of backend xdp (which otherwise needs an XDP-capable interface and root)."""

import asyncio
import os
import shutil
import subprocess
import time

import dns.message
import dns.query
import pytest

from fastdns import cli, server as server_module
from fastdns.config import load_config
from fastdns.server import Server, WorkerHandle
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
    server = Server(load_config(tmp_path / "fastdns.yaml"))
    server.prepare()  # zones loaded, image published, sockets bound; no worker started
    server.port = port
    yield server
    server._cleanup()


def test_a_touched_but_unchanged_zone_is_parsed_once_then_skipped(control, monkeypatch):
    loads = []
    real_load = server_module.load_zone
    monkeypatch.setattr(server_module, "load_zone", lambda *a: loads.append(a[0]) or real_load(*a))
    path = control.zones["example.com"].filename
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    first = control._reload_sync(None)
    assert first["ok"] and not any(c["changed"] for c in first["changes"])
    assert loads == ["example.com"]  # read again: its mtime changed
    second = control._reload_sync(None)
    assert second["ok"] and loads == ["example.com"]  # the new mtime was kept: not read again
    assert control.generation == 1  # nothing was published


def test_udp_fallback_is_counted_apart_from_tcp_and_follows_reloads(control, monkeypatch, capsys):
    zone = control.config.zones[0].file

    def ask() -> str:
        query = dns.message.make_query("www.example.com", "A")
        reply = dns.query.udp(query, "127.0.0.1", port=control.port, timeout=2)
        return reply.answer[0][0].to_text()

    async def run() -> tuple[str, str]:
        # what _main does for backend xdp, short of attaching an XDP program
        control.tcp = server_module.TcpServer(
            server_module._dataplane.Engine(control._engine.image), 10, 10)
        await control._serve_udp_fallback()
        before = await asyncio.to_thread(ask)
        with open(zone) as f:
            text = f.read()
        with open(zone, "w") as f:
            f.write(text.replace("2026112201", "2026112202").replace("192.0.2.80", "192.0.2.81"))
        assert (await asyncio.to_thread(control._reload_sync, None))["ok"]
        return before, await asyncio.to_thread(ask)

    assert asyncio.run(run()) == ("192.0.2.80", "192.0.2.81")
    stats = control.stats()
    assert stats["fallback"]["rx"] == 2 and stats["fallback"]["noerror"] == 2
    assert stats["tcp"]["rx"] == 0
    monkeypatch.setattr(cli, "control_request", lambda *a, **kw: stats)
    assert cli.main(["stats", "--socket", "unused"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[-2:] == ["tcp", "fallback"]
    assert next(line for line in lines if line.startswith("rx ")).split()[-2:] == ["0", "2"]


def _supervise_for(server: Server, seconds: float, until=lambda: False) -> None:
    async def run() -> None:
        task = asyncio.create_task(server._supervise())
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not until():
            await asyncio.sleep(0.02)
        assert not task.done(), "the supervisor died"
        task.cancel()

    asyncio.run(run())


def test_a_restart_that_fails_is_retried_with_a_growing_delay(control, monkeypatch, caplog):
    attempts = []

    def spawn(slot: int) -> subprocess.Popen:
        attempts.append(time.monotonic())
        if len(attempts) < 4:
            raise OSError("fork failed")
        return subprocess.Popen(["sleep", "30"])

    monkeypatch.setattr(control, "_spawn", spawn)
    worker = WorkerHandle(0, 0, subprocess.Popen(["true"]), time.time())
    control.workers = [worker]
    _supervise_for(control, 5, until=lambda: len(attempts) == 4)
    try:
        assert len(attempts) == 4 and worker.process.poll() is None and worker.restarts == 1
        gaps = [b - a for a, b in zip(attempts, attempts[1:])]
        assert gaps[0] < gaps[2] and gaps[2] >= 0.7, gaps  # 0.2, 0.4, 0.8 s (+ one poll)
        assert caplog.text.count("cannot restart: fork failed; retrying in") == 3
    finally:
        worker.process.kill()
        worker.process.wait()


def test_a_worker_that_keeps_crashing_is_restarted_ever_more_slowly(control, monkeypatch):
    monkeypatch.setattr(control, "_spawn", lambda slot: subprocess.Popen(["true"]))
    worker = WorkerHandle(0, 0, subprocess.Popen(["true"]), time.time())
    control.workers = [worker]
    _supervise_for(control, 2.0)
    # delays 0.1, 0.2, 0.4, 0.8 s: four or five restarts in 2 s, not one per 100 ms poll
    assert 3 <= worker.restarts <= 6, worker.restarts
    assert worker.backoff >= 0.4
