# SPDX-License-Identifier: MIT
"""Shared fixtures: engines compiled from zone text, and real `fastdns serve` processes."""

from __future__ import annotations

import importlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.query
import dns.rdatatype
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ZONES = ROOT / "zones"

from fastdns import _dataplane  # noqa: E402
from fastdns.compiler import compile_zones  # noqa: E402
from fastdns.zone import load_zone  # noqa: E402
from tests.references import terminate  # noqa: E402


def write_zone(directory: Path, origin: str, body: str) -> Path:
    path = directory / f"{origin.rstrip('.') or 'root'}.zone"
    path.write_text(body)
    return path


def zone_names(zones: list) -> set[dns.name.Name]:
    """Every owner of the zones (loaded by fastdns.zone.load_zone) and the empty
    non-terminals between them and their apex."""
    names: set[dns.name.Name] = set()
    for zone in zones:
        for name in zone.zone.keys():
            while name not in names:
                names.add(name)
                if name == zone.origin:
                    break
                name = name.parent()
    return names


def names_around(names: set[dns.name.Name]) -> set[dns.name.Name]:
    """Names the questions of a corpus ask beside those: a child of each (absent), and two
    labels below each wildcard's parent (synthesised)."""
    around = {dns.name.Name((b"child-x",) + name.labels) for name in names}
    around |= {dns.name.Name((b"a", b"b") + name.labels[1:]) for name in names if name.labels[0] == b"*"}
    return around


def make_engine(directory: Path, zones: dict[str, str], udp_payload: int = 1232) -> _dataplane.Engine:
    """Compile zone texts ({origin: text}) into an image file and map it."""
    loaded = [load_zone(origin, str(write_zone(directory, origin, text))) for origin, text in zones.items()]
    path = directory / f"image.{random.getrandbits(32)}"
    path.write_bytes(compile_zones(loaded).image)
    return _dataplane.Engine(_dataplane.Image(str(path)), udp_payload)


def ask(engine: _dataplane.Engine, qname: str, qtype: str = "A", tcp: bool = False,
        **kwargs) -> dns.message.Message:
    """Send a dnspython-built query through the engine and parse the reply."""
    query = dns.message.make_query(qname, qtype, **kwargs)
    wire = engine.answer(query.to_wire(), tcp=tcp)
    assert wire is not None, "query was dropped"
    return dns.message.from_wire(wire)


@pytest.fixture
def engine_for(tmp_path):
    return lambda zones, **kw: make_engine(tmp_path, zones, **kw)


@pytest.fixture(scope="session")
def bundled_engine(tmp_path_factory) -> _dataplane.Engine:
    loaded = [load_zone("example.com", str(ZONES / "example.com.zone")),
              load_zone("example.net", str(ZONES / "example.net.zone"))]
    path = tmp_path_factory.mktemp("image") / "bundled.image"
    path.write_bytes(compile_zones(loaded).image)
    return _dataplane.Engine(_dataplane.Image(str(path)))


def free_port() -> int:
    """A port free for UDP and TCP on 127.0.0.1 and ::1, below the kernel's ephemeral range
    (from 32768 on Linux: an outgoing connection's port could take it before the server
    the port is for binds it)."""
    for _ in range(100):
        port = random.randint(20000, 32000)
        try:
            for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(family, kind) as s:
                        s.bind((host, port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


def fastdns_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fastdns", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


class RunningServer:
    """A `fastdns serve` started as an operator would, on loopback."""

    def __init__(self, directory: Path, zones: dict[str, str] | None, workers: int | str,
                 settings: dict | None = None) -> None:
        self.dir = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.run_dir = directory / "run"
        zone_entries = []
        if zones is None:
            for name in ("example.com", "example.net"):
                shutil.copy(ZONES / f"{name}.zone", directory / f"{name}.zone")
                zone_entries.append({"name": name, "file": f"{name}.zone"})
        else:
            for origin, text in zones.items():
                zone_entries.append({"name": origin, "file": write_zone(directory, origin, text).name})
        self.config = directory / "fastdns.yaml"
        config = {"listen": [f"127.0.0.1@{self.port}", f"::1@{self.port}"],
                  "workers": workers, "run_dir": "run", "zones": zone_entries, **(settings or {})}
        self.config.write_text(yaml.safe_dump(config))
        host, _, port = config["listen"][0].rpartition("@")
        self.host, self.port = host, int(port)
        self.log = open(directory / "serve.log", "w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "fastdns", "serve", "-c", str(self.config)],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fastdns serve exited: {self.output()}")
            try:
                self.query("example.com" if "example.com" in self.config.read_text() else ".", "SOA",
                           timeout=0.2)
                return
            except (dns.exception.Timeout, OSError):
                time.sleep(0.05)
        raise RuntimeError(f"fastdns serve did not answer within {timeout} s: {self.output()}")

    def query(self, qname: str, qtype: str = "A", v6: bool = False, timeout: float = 2.0,
              **kwargs) -> dns.message.Message:
        query = dns.message.make_query(qname, qtype, **kwargs)
        return dns.query.udp(query, "::1" if v6 else self.host, port=self.port, timeout=timeout)

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return fastdns_cli(*args[:1], "-c", str(self.config), *args[1:])

    def output(self) -> str:
        self.log.flush()
        return (self.dir / "serve.log").read_text()

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid), "-f", "fastdns.worker"],
                             capture_output=True, text=True).stdout
        return sorted(int(p) for p in out.split())

    def stop(self) -> int:
        code = terminate(self.proc)
        self.log.close()
        return code


@pytest.fixture
def serve(tmp_path):
    """Start `fastdns serve` (bundled zones by default); stopped after the test."""
    servers: list[RunningServer] = []

    def start(zones: dict[str, str] | None = None, workers: int | str = "auto",
              **settings) -> RunningServer:
        server = RunningServer(tmp_path, zones, workers, settings)
        servers.append(server)
        return server

    yield start
    for server in servers:
        pids = server.worker_pids()
        server.stop()
        for pid in pids:  # nothing may outlive its control process
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def zscanner_module() -> Any:
    """fastdns._zscanner, the opt-in libzscanner reader: required where FASTDNS_ZSCANNER=1
    (`make test` builds it and says so), else the test is skipped."""
    if os.environ.get("FASTDNS_ZSCANNER") == "1":
        return importlib.import_module("fastdns._zscanner")
    return pytest.importorskip("fastdns._zscanner", reason="built without FASTDNS_ZSCANNER=1")
