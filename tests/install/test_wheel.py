# SPDX-License-Identifier: MIT
"""fastdns as a user installs it: an sdist of the checkout, a wheel built from it, installed
into a fresh venv, then `fastdns serve` from an unrelated working directory that holds a copy
of the (unbuilt) source package, over both backends.

Catches: a wheel without the XDP program or the bundled configuration; a default
configuration looked up in the checkout; workers importing the source in the working
directory instead of the installed package (they would crash-loop, restarting forever).
The AF_XDP part builds its own namespace and veth pair, and skips where this machine cannot
run it (not root, no AF_XDP extension, or the kernel refuses XDP), as tests/netns/ does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import pytest
import yaml

from tests.conftest import free_port
from tests.netns.veth import VethNetwork

ROOT = Path(__file__).resolve().parent.parent.parent
CLIENT = str(ROOT / "tests" / "netns" / "client.py")
BUNDLED_PORT = 5300  # of zones/fastdns.yaml
NS = "fastdns-wheel-test"
HOST_IF, NS_IF = "fwt0", "fwt1"
HOST_V4, NS_V4 = "198.18.7.1", "198.18.7.2"
NETWORK = VethNetwork(NS, HOST_IF, NS_IF, HOST_V4, NS_V4)
SETTLE_S = 2.0  # long enough for a crash-looping worker to have been restarted


def run(*cmd: str | Path, check: bool = True, timeout: float = 120, **kw) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kw)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def xdp_buildable() -> bool:
    """As setup.py decides: libxdp/libbpf headers and clang."""
    return (Path("/usr/include/xdp/xsk.h").exists() and Path("/usr/include/bpf/libbpf.h").exists()
            and shutil.which("clang") is not None)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """sdist of the checkout (so MANIFEST.in is tested too), then a wheel from the sdist: built
    in a clean unpacked tree, never from stale files of the checkout's build/."""
    dist = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(dist)!r})",
        cwd=ROOT, timeout=300)
    sdist = next(dist.glob("fastdns-*.tar.gz"))
    # the wheel a user gets: without the opt-in libzscanner reader make test builds in place
    default_build = {k: v for k, v in os.environ.items() if k != "FASTDNS_ZSCANNER"}
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-build-isolation", "--no-deps", "-w", dist, sdist,
        timeout=600, env=default_build)
    return next(dist.glob("fastdns-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel (its dependencies from the package index); its bin/."""
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", venv, timeout=120)
    run(venv / "bin" / "pip", "install", "-q", wheel, timeout=600)
    return venv / "bin"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """An unrelated working directory holding the source package, unbuilt: what a user who
    installed fastdns and then cloned it, or unpacked the sdist, may well be standing in."""
    where = tmp_path_factory.mktemp("cwd")
    shutil.copytree(ROOT / "fastdns", where / "fastdns",
                    ignore=shutil.ignore_patterns("*.so", "*.o", "__pycache__", "zones"))
    return where


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    expected = ["fastdns/_dataplane*.so", "fastdns/zones/fastdns.yaml", "fastdns/zones/example.com.zone",
                "fastdns/zones/example.net.zone"]
    if xdp_buildable():
        expected += ["fastdns/_xdp*.so", "fastdns/xdp_dns.bpf.o"]
    expected += [f"fastdns/{p.name}" for p in (ROOT / "fastdns").glob("*.pyi")]  # the extensions' stubs
    for pattern in expected:
        assert any(Path(n).match(pattern) for n in names), f"{pattern} missing from {wheel.name}: {names}"
    sources = [n for n in names if n.endswith((".c", ".pyx", ".pxd", ".pxi"))]
    assert not sources, f"build sources in the wheel: {sources}"
    gpl = [n for n in names if Path(n).match("fastdns/_zscanner*.so")]
    assert not gpl, f"the default wheel links libzscanner (GPL-3+): {gpl}"


def test_check_uses_the_bundled_configuration(installed, workdir):
    """`fastdns check` without -c: the wheel's fastdns/zones/fastdns.yaml."""
    result = run(installed / "fastdns", "check", cwd=workdir, check=False)
    assert result.returncode == 0, f"fastdns check (bundled configuration):\n{result.stdout}{result.stderr}"


def port_free(port: int) -> bool:
    """UDP and TCP on 127.0.0.1 and ::1 (the bundled configuration's listen addresses)."""
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(family, kind) as s:
                try:
                    s.bind((host, port))
                except OSError:
                    return False
    return True


def bundled_config(bin_dir: Path) -> Path:
    out = run(bin_dir / "python", "-c", "import fastdns.config as c; print(c.DEFAULT_CONFIG)", cwd="/")
    return Path(out.stdout.strip())


def write_config(directory: Path, bin_dir: Path, **settings) -> Path:
    """The bundled configuration with settings replaced, its zones from the installed package,
    and a run_dir of its own."""
    bundled = bundled_config(bin_dir)
    config = yaml.safe_load(bundled.read_text())
    for zone in config["zones"]:
        zone["file"] = str(bundled.parent / zone["file"])
    config.update(run_dir=str(directory / "run"), **settings)
    path = directory / "fastdns.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Served:
    """An installed `fastdns serve` in workdir; stopped (with its workers, by PID) always."""

    def __init__(self, bin_dir: Path, workdir: Path, config: Path | None) -> None:
        self.bin, self.workdir = bin_dir, workdir
        self.config_args = ["-c", str(config)] if config else []
        self.log = workdir / "serve.log"
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([str(bin_dir / "fastdns"), "serve", *self.config_args],
                                         cwd=workdir, stdout=log, stderr=subprocess.STDOUT)

    def cli(self, *args: str) -> dict:
        out = run(self.bin / "fastdns", *args, *self.config_args, "--json", cwd=self.workdir, timeout=30)
        return json.loads(out.stdout)

    def output(self) -> str:
        return self.log.read_text()[-4000:]

    def workers(self) -> list[dict]:
        return self.cli("status")["workers"]

    def wait_until(self, answered, timeout: float = 20.0) -> bool:
        """Polls answered() until it is true, the server exits, or timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            if answered():
                return True
            time.sleep(0.2)
        return False

    def assert_workers_steady(self) -> None:
        """Every worker alive and never restarted, SETTLE_S after start."""
        time.sleep(SETTLE_S)
        workers = self.workers()
        restarting = [w for w in workers if w["restarts"] or not w["alive"]]
        assert not restarting, f"workers restarting: {restarting}\n{self.output()}"

    def stop(self) -> None:
        children = run("pgrep", "-P", str(self.proc.pid), check=False).stdout.split()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for pid in children:  # nothing may outlive its control process
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


def udp_answer(host: str, port: int) -> list[str]:
    try:
        reply = dns.query.udp(dns.message.make_query("www.example.com", "A"), host, port=port, timeout=0.5)
    except (dns.exception.Timeout, OSError):
        return []
    return [rd.to_text() for rrset in reply.answer for rd in rrset]


def test_serve_from_unrelated_directory(installed, workdir, tmp_path):
    """Kernel sockets; the bundled configuration itself when its port is free."""
    config, port = None, BUNDLED_PORT
    if not port_free(BUNDLED_PORT):  # a `make run`, say: the same settings on another port
        port = free_port()
        config = write_config(tmp_path, installed, listen=[f"127.0.0.1@{port}", f"::1@{port}"])
    served = Served(installed, workdir, config)
    try:
        answered = served.wait_until(lambda: udp_answer("127.0.0.1", port), timeout=15)
        assert served.proc.poll() is None, f"fastdns serve exited:\n{served.output()}"
        served.assert_workers_steady()
        assert answered, f"no answer on 127.0.0.1@{port}:\n{served.output()}"
        assert udp_answer("127.0.0.1", port) and udp_answer("::1", port)
    finally:
        served.stop()
    assert served.proc.returncode == 0, served.output()


@pytest.fixture
def network() -> Iterator[None]:
    with NETWORK.up():
        yield


def in_ns() -> list[str]:
    return NETWORK.in_ns()


def ns_answer() -> list[str]:
    """www.example.com A, asked from inside the namespace."""
    result = run(*in_ns(), sys.executable, CLIENT, HOST_V4, str(BUNDLED_PORT), "www.example.com", "A",
                 check=False, timeout=30)
    try:
        return json.loads(result.stdout)[0]["answer"]
    except (json.JSONDecodeError, IndexError, KeyError):
        return []


def test_serve_xdp_from_unrelated_directory(installed, workdir, network, tmp_path):
    """backend: xdp from the installed package: its _xdp and its XDP program."""
    if run(installed / "python", "-c", "import fastdns._xdp", cwd="/", check=False).returncode != 0:
        pytest.skip("the wheel has no AF_XDP extension (libxdp-dev, libbpf-dev or clang missing)")
    config = write_config(tmp_path, installed, listen=[f"{HOST_V4}@{BUNDLED_PORT}"], backend="xdp",
                          xdp={"interface": HOST_IF})
    served = Served(installed, workdir, config)
    try:
        answered = served.wait_until(ns_answer)
        output = served.output()
        if served.proc.poll() is not None and ("cannot attach" in output or "refused to load" in output):
            pytest.skip(f"the kernel refuses XDP here: {output}")
        assert served.proc.poll() is None, f"fastdns serve exited:\n{output}"
        served.assert_workers_steady()
        assert answered, f"no answer from inside {NS}:\n{served.output()}"

        def by_the_workers() -> bool:
            # The first answers may come from the kernel fallback while the workers bind
            # their AF_XDP sockets (a busy machine): ask until the workers' counters move.
            return bool(ns_answer()) and sum(w["rx"] for w in served.cli("stats")["workers"]) > 0

        served.wait_until(by_the_workers)
        rx = [w["rx"] for w in served.cli("stats")["workers"]]
        assert sum(rx) > 0, f"answered, but not by the AF_XDP workers: rx {rx}"
    finally:
        served.stop()
    assert served.proc.returncode == 0, served.output()
