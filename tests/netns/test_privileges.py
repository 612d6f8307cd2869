# SPDX-License-Identifier: MIT
"""Least privilege with AF_XDP (docs/privileges.md), on a veth pair from a namespace.

`fastdns serve` is started as root with `user: nobody` and `backend: xdp`: it must answer
over AF_XDP with the control process running as nobody holding CAP_NET_RAW and CAP_IPC_LOCK
(for the workers it starts) only in its permitted, inheritable and ambient sets, and the
workers holding nothing once their socket is open; a killed worker must come back and
answer over AF_XDP again, and a reload must work.  Then it is started as systemd starts
it, unprivileged with ambient capabilities, and must lower them the same way.  First, what
the kernel requires of a worker is measured: each capability kept for it is needed.

The interpreter must be executable by nobody.  Where it lives under a directory others
cannot enter (pyenv under /root on a development VM), the server runs in a mount namespace
where that directory is a tmpfs holding only the interpreter's tree: nothing else changes.
"""

from __future__ import annotations

import json
import os
import platform
import pwd
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from fastdns.controlblock import ControlBlock
from fastdns.privileges import CAP_BPF, CAP_IPC_LOCK, CAP_NET_ADMIN, CAP_NET_RAW, mask, names
from fastdns.workerspec import WorkerSpec, XdpEndpoint
from tests.conftest import ROOT, fastdns_cli
from tests.netns.veth import VethNetwork
from tests.references import terminate

NETWORK = VethNetwork("fastdns-priv-test", "fpv0", "fpv1", "198.18.6.1", "198.18.6.2")
MEASURE = VethNetwork("fastdns-priv-measure", "fpm0", "fpm1", "198.18.6.5", "198.18.6.6")
SYSTEMD = VethNetwork("fastdns-priv-systemd", "fps0", "fps1", "198.18.6.9", "198.18.6.10")
PORT = 5300
CLIENT = str(Path(__file__).with_name("client.py"))
ZONE = """$TTL 300
@ IN SOA ns1 hostmaster {serial} 3600 900 604800 60
@ IN NS ns1
ns1 IN A 192.0.2.1
www IN A {www}
"""
USER = "nobody"


def kernel_needs_cap_bpf_for_maps() -> bool:
    """Before 6.5, kernel.unprivileged_bpf_disabled refused every bpf() call without CAP_BPF."""
    release = tuple(int(part) for part in platform.release().split("-")[0].split(".")[:2])
    disabled = Path("/proc/sys/kernel/unprivileged_bpf_disabled").read_text().strip()
    return release < (6, 5) and disabled != "0"


def worker_caps() -> int:
    """What the control process keeps for the AF_XDP workers on this machine."""
    caps = [CAP_NET_RAW]
    if resource.getrlimit(resource.RLIMIT_MEMLOCK)[0] != resource.RLIM_INFINITY:
        caps.append(CAP_IPC_LOCK)
    if kernel_needs_cap_bpf_for_maps():
        caps.append(CAP_BPF)
    return mask(caps)


def proc_status(pid: int) -> dict[str, object]:
    """Uids (real, effective, saved, fs) and capability masks of a process."""
    fields: dict[str, object] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == "Uid":
            fields[key] = {int(u) for u in value.split()}
        elif key.startswith("Cap"):
            fields[key] = int(value, 16)
    return fields


def held(pid: int) -> dict[str, str]:
    """A process's capability sets by name, for readable assertions."""
    status = proc_status(pid)
    return {key: names(status[key]) for key in ("CapEff", "CapPrm", "CapInh", "CapAmb")}  # type: ignore[arg-type]


def interpreter_wrapper() -> list[str]:
    """A command prefix under which USER can execute sys.executable: none where it already
    can; else a mount namespace where the directory that shuts others out is a tmpfs (mode
    755) holding only the subdirectory the interpreter lives in."""
    base = Path(os.path.realpath(sys.base_prefix))
    for closed in [*reversed(base.parents), base]:
        if os.stat(closed).st_mode & 0o001 == 0:
            break
    else:
        return []
    if closed == base:
        pytest.skip(f"{USER} cannot run {sys.executable}")
    exposed = closed / base.relative_to(closed).parts[0]
    script = ('set -e; d=$(mktemp -d); mount --bind "$1" "$d"; mount -t tmpfs -o mode=0755 tmpfs "$2"; '
              'mkdir "$1"; mount --move "$d" "$1"; rmdir "$d"; shift 2; exec "$@"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(exposed), str(closed)]


def setpriv(caps: int) -> list[str]:
    """Become USER with exactly caps as ambient capabilities (systemd's AmbientCapabilities)."""
    spec = ",".join(["-all"] + [f"+{n.lower().removeprefix('cap_')}" for n in names(caps).split(", ")
                                if n != "none"])
    return ["setpriv", f"--reuid={USER}", f"--regid={pwd.getpwnam(USER).pw_gid}", "--clear-groups",
            f"--inh-caps={spec}", f"--ambient-caps={spec}", f"--bounding-set={spec}", "--"]


def ask(network: VethNetwork, count: int = 1) -> list[str]:
    """The addresses of www.example.com, asked from network's namespace count times."""
    out = subprocess.run(network.in_ns(sys.executable, CLIENT, network.host_v4, str(PORT), "www.example.com", "A",
                                       "--count", str(count)), capture_output=True, text=True, timeout=30,
                         check=True).stdout
    return json.loads(out)[0]["answer"]


@pytest.fixture(scope="module")
def network() -> Iterator[None]:
    with NETWORK.up():
        yield


@pytest.fixture(scope="module")
def directory() -> Iterator[Path]:
    """Where nobody can read the configuration and zones (pytest's own is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="fastdns-priv-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Server:
    """`fastdns serve` with backend xdp on network, run as root (prefix: a way to start
    it otherwise) from directory."""

    def __init__(self, network: VethNetwork, directory: Path, settings: dict, prefix: list[str] | None = None,
                 wait: bool = True) -> None:
        self.network = network
        self.dir = directory
        self.config = directory / "fastdns.yaml"
        (directory / "example.com.zone").write_text(ZONE.format(serial=1, www="192.0.2.80"))
        self.config.write_text(yaml.safe_dump({
            "listen": [f"{network.host_v4}@{PORT}"], "backend": "xdp", "xdp": {"interface": network.host_if},
            "run_dir": "run", "zones": [{"name": "example.com", "file": "example.com.zone"}], **settings}))
        self.log = open(directory / "serve.log", "w+")
        self.proc = subprocess.Popen([*interpreter_wrapper(), *(prefix or []), sys.executable, "-m", "fastdns",
                                      "serve", "-c", str(self.config)],
                                     stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        if wait:
            self.wait_answering()

    def wait_answering(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"fastdns serve exited with {self.proc.returncode}: {self.output()}")
            try:
                if ask(self.network) and all(w["alive"] for w in self.status()["workers"]):
                    return
            except (subprocess.CalledProcessError, json.JSONDecodeError, KeyError):
                time.sleep(0.1)
        raise RuntimeError(f"fastdns serve did not answer within {timeout} s: {self.output()}")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return fastdns_cli(*args[:1], "-c", str(self.config), *args[1:])

    def status(self) -> dict:
        return json.loads(self.cli("status", "--json").stdout)

    def served(self) -> list[int]:
        """Replies sent by each worker (AF_XDP: the control process's fallback counts apart)."""
        return [w["tx"] for w in json.loads(self.cli("stats", "--json").stdout)["workers"]]

    def output(self) -> str:
        self.log.flush()
        return (self.dir / "serve.log").read_text()

    def stop(self) -> int:
        workers = [w["pid"] for w in self.status()["workers"]] if self.proc.poll() is None else []
        code = terminate(self.proc)
        self.log.close()
        for pid in workers:  # nothing may outlive its control process
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return code


def answered_by_workers(server: Server, slot: int | None = None) -> bool:
    """Queries from many source ports (veth spreads them over both queues by hash) are
    answered, and counted by the AF_XDP workers (by worker slot, when given)."""
    before = server.served()
    for _ in range(10):
        assert ask(server.network, 20)
        after = server.served()
        if (sum(after) - sum(before) if slot is None else after[slot] - before[slot]) > 0:
            return True
    return False


# -- what the kernel requires of a worker, measured -----------------------------------------

@pytest.fixture(scope="module")
def measured_program() -> Iterator[int]:
    """The XDP program attached (as root) on a veth pair of its own: its XSKMAP's fd."""
    from fastdns import _xdp

    with MEASURE.up():
        program = _xdp.XdpProgram(MEASURE.host_if, str(ROOT / "fastdns" / "xdp_dns.bpf.o"), PORT,
                                  [bytes(map(int, MEASURE.host_v4.split(".")))], [])
        try:
            yield program.xsks_map_fd
        finally:
            program.detach()


@pytest.mark.parametrize("without", [None, CAP_NET_RAW, CAP_IPC_LOCK], ids=["all", "no-net-raw", "no-ipc-lock"])
def test_a_worker_needs_each_capability_it_is_given(measured_program, directory, without):
    """A worker started as USER with the capabilities the control process keeps for it
    opens its AF_XDP socket (and so without CAP_BPF on kernels since 6.5); without any one
    of them it cannot (memlock: where RLIMIT_MEMLOCK is not unlimited)."""
    caps = worker_caps() & ~mask([without] if without is not None else [])
    if without is not None and not worker_caps() >> without & 1:
        pytest.skip(f"{names(mask([without]))} is not needed here")
    run = directory / "measure"
    run.mkdir(exist_ok=True)
    control = ControlBlock(str(run / "control.block"), 1)
    os.chown(control.path, pwd.getpwnam(USER).pw_uid, -1)
    spec = WorkerSpec(slot=0, cpu=os.sched_getaffinity(0).pop(), run_dir=str(run), control_block=control.path,
                      control_size=control.size, counters_offset=control.counters_offset(0), udp_payload=1232,
                      parent=os.getpid(), endpoint=XdpEndpoint(MEASURE.host_if, 0, measured_program, 1500, False))
    worker = subprocess.Popen([*interpreter_wrapper(), *setpriv(caps), *spec.command()], pass_fds=spec.pass_fds(),
                              cwd="/", env={**os.environ, "PYTHONPATH": str(ROOT)}, stderr=subprocess.PIPE, text=True)
    try:
        # The worker opens its socket, then exits: there is no image to map.
        error = worker.communicate(timeout=30)[1]
    finally:
        terminate(worker)
        control.close()
    opened = "AF_XDP copy mode" in error or "AF_XDP zero-copy mode" in error
    assert opened == (without is None), error
    if without is not None:
        assert {CAP_NET_RAW: "Operation not permitted", CAP_IPC_LOCK: "No buffer space"}[without] in error, error


# -- started as root with `user:` -----------------------------------------------------------

@pytest.fixture(scope="module")
def server(network, directory) -> Iterator[Server]:
    srv = Server(NETWORK, directory, {"user": USER})
    yield srv
    srv.stop()


def test_every_process_runs_as_the_user_with_only_what_it_needs(server):
    uid = pwd.getpwnam(USER).pw_uid
    keep = worker_caps()
    control = proc_status(server.proc.pid)
    assert control["Uid"] == {uid}
    assert held(server.proc.pid) == {"CapEff": "none", "CapPrm": names(keep), "CapInh": names(keep),
                                     "CapAmb": names(keep)}
    assert control["CapBnd"] == keep  # what an exec could ever regain
    workers = server.status()["workers"]
    assert len(workers) == 2
    for worker in workers:
        assert proc_status(worker["pid"])["Uid"] == {uid}
        assert held(worker["pid"]) == dict.fromkeys(("CapEff", "CapPrm", "CapInh", "CapAmb"), "none"), worker
    assert f"running as {USER}" in server.output() and names(keep) in server.output()


def test_it_answers_over_af_xdp(server):
    assert ask(NETWORK) == ["192.0.2.80"]
    assert answered_by_workers(server, 0) and answered_by_workers(server, 1)


def test_a_killed_worker_reopens_its_af_xdp_socket(server):
    victim = server.status()["workers"][1]
    opened = server.output().count("AF_XDP")
    os.kill(victim["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    replacement = victim
    while time.monotonic() < deadline:  # bounded; the supervisor polls every 100 ms
        replacement = server.status()["workers"][1]
        if replacement["pid"] != victim["pid"] and replacement["alive"] and server.output().count("AF_XDP") > opened:
            break
        time.sleep(0.05)
    assert replacement["pid"] != victim["pid"] and replacement["restarts"] == victim["restarts"] + 1, replacement
    assert "Traceback" not in server.output(), server.output()
    assert held(replacement["pid"]) == dict.fromkeys(("CapEff", "CapPrm", "CapInh", "CapAmb"), "none")
    assert answered_by_workers(server, 1), server.output()


def test_a_reload_reads_the_changed_zone_as_the_user(server):
    (server.dir / "example.com.zone").write_text(ZONE.format(serial=2, www="192.0.2.81"))
    result = server.cli("reload")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ask(NETWORK) == ["192.0.2.81"]
    assert answered_by_workers(server)
    assert held(server.proc.pid)["CapEff"] == "none"


def test_it_stops_and_detaches_as_the_user(server):
    assert server.stop() == 0
    link = json.loads(subprocess.run(["ip", "-j", "-d", "link", "show", NETWORK.host_if], capture_output=True,
                                     text=True, check=True).stdout)[0]
    assert "xdp" not in link, link


# -- started as systemd starts it: unprivileged, with ambient capabilities ------------------

ATTACH = mask([CAP_NET_ADMIN, CAP_BPF])


@pytest.fixture(scope="module")
def systemd_network() -> Iterator[None]:
    with SYSTEMD.up():
        yield


@pytest.fixture
def own_directory(directory) -> Iterator[Path]:
    """A directory of its own, the run directory in it writable by USER."""
    path = Path(tempfile.mkdtemp(prefix="fastdns-priv-", dir=directory))
    path.chmod(0o755)
    (path / "run").mkdir()
    os.chown(path / "run", pwd.getpwnam(USER).pw_uid, -1)
    yield path


def test_started_with_ambient_capabilities_it_keeps_only_the_workers(systemd_network, own_directory):
    """deploy/fastdns.service's capabilities for xdp: after the attach, none effective;
    kept for the workers, as with `user:`; the workers hold nothing once open."""
    server = Server(SYSTEMD, own_directory, {}, setpriv(ATTACH | worker_caps()))
    try:
        assert held(server.proc.pid) == {"CapEff": "none", "CapPrm": names(worker_caps()),
                                         "CapInh": names(worker_caps()), "CapAmb": names(worker_caps())}
        for worker in server.status()["workers"]:
            assert held(worker["pid"]) == dict.fromkeys(("CapEff", "CapPrm", "CapInh", "CapAmb"), "none")
        assert answered_by_workers(server)
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("without", [CAP_NET_ADMIN, CAP_BPF], ids=["no-net-admin", "no-bpf"])
def test_the_attach_needs_cap_net_admin_and_cap_bpf(systemd_network, own_directory, without):
    server = Server(SYSTEMD, own_directory, {}, setpriv(ATTACH & ~mask([without]) | worker_caps()), wait=False)
    try:
        assert server.proc.wait(timeout=30) != 0
        assert "the kernel refused to load" in server.output(), server.output()
    finally:
        server.stop()


def test_the_bpf_probe_tells_a_refused_map_use():
    """map_use_needs_cap_bpf's plumbing (libbpf through ctypes, errno): a map fd this
    process may not read (BPF_F_WRONLY) is refused as a kernel without CAP_BPF refuses any."""
    import ctypes
    import ctypes.util

    from fastdns.privileges import map_use_needs_cap_bpf

    if os.geteuid() != 0:
        pytest.skip("creating a BPF map needs CAP_BPF")
    libbpf = ctypes.CDLL(ctypes.util.find_library("bpf") or "libbpf.so.1", use_errno=True)

    class Options(ctypes.Structure):  # struct bpf_map_create_opts, up to map_flags
        _fields_ = [("sz", ctypes.c_size_t), *[(f, ctypes.c_uint32) for f in (
            "btf_fd", "btf_key_type_id", "btf_value_type_id", "btf_vmlinux_value_type_id", "inner_map_fd",
            "map_flags")]]

    array, wronly = 2, 1 << 4  # BPF_MAP_TYPE_ARRAY, BPF_F_WRONLY
    fds = []
    for flags in (0, wronly):
        options = Options(sz=ctypes.sizeof(Options), map_flags=flags)
        fd = libbpf.bpf_map_create(array, b"fastdns_probe", 4, 4, 1, ctypes.byref(options))
        assert fd >= 0, os.strerror(ctypes.get_errno())
        fds.append(fd)
    try:
        assert [map_use_needs_cap_bpf(fd) for fd in fds] == [kernel_needs_cap_bpf_for_maps(), True]
    finally:
        for fd in fds:
            os.close(fd)
