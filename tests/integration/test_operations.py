# SPDX-License-Identifier: MIT
"""Running as a service: systemd readiness notification, and dropping privileges."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dns.rcode
import pytest

from tests.conftest import ROOT, ZONES, RunningServer, free_port


def test_systemd_hears_ready_once_serving_and_stopping_at_the_end(tmp_path):
    notify_path = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(notify_path)
    listener.settimeout(20)
    port = free_port()
    for name in ("example.com", "example.net"):
        shutil.copy(ZONES / f"{name}.zone", tmp_path)
    (tmp_path / "fastdns.yaml").write_text(
        f"listen: [127.0.0.1@{port}]\nworkers: 1\nrun_dir: run\nzones:\n"
        "  - {name: example.com, file: example.com.zone}\n")
    env = {**os.environ, "NOTIFY_SOCKET": notify_path}
    proc = subprocess.Popen([sys.executable, "-m", "fastdns", "serve", "-c", str(tmp_path / "fastdns.yaml")],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        message = listener.recv(4096).decode()
        assert "READY=1" in message and f"MAINPID={proc.pid}" in message
        proc.send_signal(signal.SIGTERM)
        assert "STOPPING=1" in listener.recv(4096).decode()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        listener.close()


def _runnable_by(user: str) -> bool:
    result = subprocess.run(["runuser", "-u", user, "--", sys.executable, "-c", "import fastdns"],
                            capture_output=True, cwd="/", timeout=30)
    return result.returncode == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")
def test_user_setting_drops_privileges_after_binding():
    nobody = pwd.getpwnam("nobody")
    if not _runnable_by("nobody"):
        pytest.skip(f"nobody cannot run {sys.executable} here (an interpreter under /root)")
    directory = Path(tempfile.mkdtemp(prefix="fastdns-user-"))
    directory.chmod(0o755)  # the zone files must be readable by the unprivileged user
    try:
        server = RunningServer(directory, None, "auto", {"user": "nobody"})
        try:
            for pid in [server.proc.pid] + server.worker_pids():
                uids = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                            if line.startswith("Uid:")).split()[1:]
                assert set(map(int, uids)) == {nobody.pw_uid}, (pid, uids)
            assert server.query("www.example.com").rcode() == dns.rcode.NOERROR
            zone = directory / "example.com.zone"
            zone.write_text(zone.read_text().replace("2026112201", "2026112202"))
            result = server.cli("reload")
            assert result.returncode == 0, result.stderr  # images are written as nobody
            assert "running as nobody" in server.output()
        finally:
            assert server.stop() == 0
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_sigterm_during_a_long_reload_stops_at_once(serve, monkeypatch):
    monkeypatch.setenv("FASTDNS_COMPILER", "spec")  # the native one is done before SIGTERM arrives
    lines = ["$TTL 300", "@ IN SOA ns1 h 1 2 3 4 5", "@ IN NS ns1", "ns1 IN A 192.0.2.1"]
    lines += [f"h{i} IN TXT \"{i}\"" for i in range(20000)]
    server = serve(zones={"example.com": "\n".join(lines) + "\n"}, workers=1)
    zone = server.dir / "example.com.zone"
    zone.write_text(zone.read_text().replace("SOA ns1 h 1", "SOA ns1 h 2"))
    at_start = server.output().count("compiling example.com")  # start-up compiled it too
    reload = subprocess.Popen([sys.executable, "-m", "fastdns", "reload", "-c", str(server.config)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while server.output().count("compiling example.com") == at_start and time.monotonic() < deadline:
            time.sleep(0.05)  # the reload is under way once it reports progress
        assert server.output().count("compiling example.com") > at_start
        started = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - started < 3, "stop waited for the compile"
    finally:
        reload.kill()
        reload.wait()
