# SPDX-License-Identifier: MIT
"""The bench network and CPU isolation: a namespace, veth pairs, threaded NAPI, cpuset cgroups."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

NETNS = "fdbench"  #: holds the load generator
LINK_PREFIX = "fb"  #: host side fb<i>, namespace side fb<i>p: short, so "napi/fb3p-NN" fits comm
CGROUP_NAME = "fastdns-bench"
CPUSET_V1 = Path("/sys/fs/cgroup/cpuset")
CGROUP_V2 = Path("/sys/fs/cgroup")
SYS_NET = Path("/sys/class/net")


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """A setup command, bounded in time; its stderr is in the exception."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=check)


def in_ns(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("ip", "netns", "exec", NETNS, *cmd, check=check)


@dataclass(frozen=True)
class Link:
    """One veth pair: the server listens on the host side, dnsperf sends from the namespace side.

    Every server gets its own pair (198.18.0.4i+1/30 host, .4i+2/30 namespace) so all can
    stay loaded between rounds and each XDP program has an interface to itself; the
    pairs are identical, so this changes nothing a server sees.
    """

    index: int
    queues: int

    @property
    def host_if(self) -> str:
        return f"{LINK_PREFIX}{self.index}"

    @property
    def ns_if(self) -> str:
        return f"{LINK_PREFIX}{self.index}p"

    @property
    def host_addr(self) -> str:
        return f"198.18.{self.index * 4 // 256}.{self.index * 4 % 256 + 1}"

    @property
    def ns_addr(self) -> str:
        return f"198.18.{self.index * 4 // 256}.{self.index * 4 % 256 + 2}"


def napi_threads(interface: str) -> list[int]:
    """PIDs of the kernel threads named napi/<interface>-<id>."""
    pids = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().startswith(f"napi/{interface}-"):
                pids.append(int(comm.parent.name))
        except OSError:
            continue  # a process that just exited
    return sorted(pids)


def _threaded_napi(interface: str, cpus: set[int], netns: bool) -> list[int]:
    """Threaded NAPI on one veth end, its threads pinned to `cpus`; returns their PIDs.

    A veth pair delivers a packet on the CPU that sent it unless the receiving end has
    NAPI threads: then the receive path runs (and is counted) on the receiver's CPU.
    veth has NAPI instances only with GRO on (or an XDP program attached), and hands a
    packet to them only if the sending end has TSO off (or the receiver does UDP GRO
    forwarding, which would change the UDP path): so GRO on, TSO off, on both ends.
    """
    wrap = (lambda *c: in_ns(*c)) if netns else run
    wrap("ethtool", "-K", interface, "gro", "on", "tso", "off")
    wrap("sh", "-c", f"echo 1 > {SYS_NET}/{interface}/threaded")
    deadline = time.monotonic() + 5
    while not (pids := napi_threads(interface)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if not pids:
        raise RuntimeError(f"no napi/{interface}-* kernel thread after enabling threaded NAPI")
    for pid in pids:
        os.sched_setaffinity(pid, cpus)
    return pids


def create_namespace() -> None:
    run("ip", "netns", "add", NETNS)
    in_ns("ip", "link", "set", "lo", "up")


def create_link(link: Link, server_cpus: set[int], generator_cpus: set[int]) -> None:
    q = str(link.queues)
    run("ip", "link", "add", link.host_if, "numtxqueues", q, "numrxqueues", q, "type", "veth",
        "peer", "name", link.ns_if, "numtxqueues", q, "numrxqueues", q, "netns", NETNS)
    run("ip", "addr", "add", f"{link.host_addr}/30", "dev", link.host_if)
    run("ip", "link", "set", link.host_if, "up")
    in_ns("ip", "addr", "add", f"{link.ns_addr}/30", "dev", link.ns_if)
    in_ns("ip", "link", "set", link.ns_if, "up")
    _threaded_napi(link.host_if, server_cpus, netns=False)
    _threaded_napi(link.ns_if, generator_cpus, netns=True)


def repin_napi(link: Link, server_cpus: set[int], generator_cpus: set[int]) -> None:
    """Attaching an XDP program re-creates a veth's NAPI threads: pin the new ones."""
    for pid in napi_threads(link.host_if):
        os.sched_setaffinity(pid, server_cpus)
    for pid in napi_threads(link.ns_if):
        os.sched_setaffinity(pid, generator_cpus)


def remove_network() -> None:
    """Delete the namespace and our links, from this run or a crashed one."""
    run("ip", "netns", "del", NETNS, check=False)
    for path in SYS_NET.glob(f"{LINK_PREFIX}[0-9]*"):
        if path.name[len(LINK_PREFIX):].isdigit():
            run("ip", "link", "del", path.name, check=False)


# -- cpuset cgroups ------------------------------------------------------------------------

def _cgroup_root() -> tuple[Path, str]:
    """Our parent cgroup and the hierarchy version ("v1" cpuset, or "v2")."""
    if (CPUSET_V1 / "cpuset.cpus").exists():
        return CPUSET_V1 / CGROUP_NAME, "v1"
    controllers = CGROUP_V2 / "cgroup.controllers"
    if controllers.exists() and "cpuset" in controllers.read_text().split():
        return CGROUP_V2 / CGROUP_NAME, "v2"
    raise RuntimeError("no cpuset cgroup hierarchy (/sys/fs/cgroup/cpuset or cgroup v2 with cpuset)")


def _write(path: Path, value: str) -> None:
    path.write_text(value)


class Cgroup:
    """A cpuset cgroup holding one server (or the load generator) and every task it forks.

    taskset is not enough: knotd re-pins its UDP workers, and a cpuset confines every
    thread whatever affinity it asks for.
    """

    def __init__(self, name: str, cpus: set[int]) -> None:
        root, self.version = _cgroup_root()
        if not root.exists():
            root.mkdir()
            if self.version == "v1":
                _write(root / "cpuset.cpus", (root.parent / "cpuset.cpus").read_text().strip())
                _write(root / "cpuset.mems", (root.parent / "cpuset.mems").read_text().strip())
            else:
                _write(CGROUP_V2 / "cgroup.subtree_control", "+cpuset")
                _write(root / "cgroup.subtree_control", "+cpuset")
        self.path = root / name
        self.path.mkdir(exist_ok=True)
        self.cpus = set(cpus)
        _write(self.path / "cpuset.cpus", ",".join(map(str, sorted(cpus))))
        if self.version == "v1":
            _write(self.path / "cpuset.mems", (root / "cpuset.mems").read_text().strip())

    def wrap(self, command: list[str]) -> list[str]:
        """The command, entering this cgroup before it execs (so children inherit it)."""
        return ["sh", "-c", f'echo $$ > {self.path}/cgroup.procs && exec "$@"', "sh", *command]

    def pids(self) -> list[int]:
        return _read_pids(self.path)

    def stray_threads(self) -> list[str]:
        """Threads allowed to run outside this cgroup's CPUs (expected: none)."""
        stray = []
        for pid in self.pids():
            for status in Path(f"/proc/{pid}/task").glob("*/status"):
                try:
                    allowed = _parse_cpu_list(_status_field(status, "Cpus_allowed_list"))
                except (OSError, KeyError):
                    continue
                if not allowed <= self.cpus:
                    stray.append(f"{pid}/{status.parent.name}: CPUs {sorted(allowed)}")
        return stray

    def kill(self, timeout: float = 5.0) -> None:
        kill_pids(self.pids(), timeout)

    def remove(self) -> None:
        self.kill()
        try:
            self.path.rmdir()
        except OSError:
            pass


def _read_pids(path: Path) -> list[int]:
    try:
        return [int(p) for p in (path / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _status_field(path: Path, key: str) -> str:
    for line in path.read_text().splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise KeyError(key)


def _parse_cpu_list(text: str) -> set[int]:
    cpus: set[int] = set()
    for part in text.split(","):
        if "-" in part:
            lo, hi = part.split("-")
            cpus.update(range(int(lo), int(hi) + 1))
        elif part:
            cpus.add(int(part))
    return cpus


def kill_pids(pids: list[int], timeout: float = 5.0) -> None:
    """SIGTERM these processes, then SIGKILL what is left after `timeout` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.05)
        if not any(alive(p) for p in pids):
            return


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def remove_cgroups() -> None:
    """Kill whatever is left in our cgroups (a crashed run's servers) and remove them."""
    for root in (CPUSET_V1 / CGROUP_NAME, CGROUP_V2 / CGROUP_NAME):
        if not root.is_dir():
            continue
        for child in [p for p in root.iterdir() if p.is_dir()]:
            kill_pids(_read_pids(child), timeout=5.0)
            try:
                child.rmdir()
            except OSError:
                pass
        try:
            root.rmdir()
        except OSError:
            pass


def cleanup_all() -> None:
    """Everything this benchmark may have left behind, from this run or an earlier one."""
    remove_cgroups()
    remove_network()
