# SPDX-License-Identifier: MIT
"""The servers under test, as a registry: name -> how to configure, start, observe and stop it."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from topology import NETNS, Cgroup, Link, alive, kill_pids

PROBE = Path(__file__).with_name("probe.py")
REPO = Path(__file__).resolve().parents[2]


@dataclass
class Context:
    """Where and how one server runs."""

    name: str
    work: Path  #: its own directory: configuration, zone copy, logs
    link: Link  #: it listens on link.host_addr
    port: int
    zone_file: Path
    origin: str
    cpus: set[int]
    wrapper: list[str] = field(default_factory=list)  #: e.g. valgrind, for the callgrind runs


class ServerKind:
    """How to run one kind of server; subclasses fill in the configuration and command."""

    name = ""
    label = ""
    binary = ""

    def unavailable(self) -> str | None:
        """Why this server cannot run here, or None."""
        if not shutil.which(self.binary) and not Path(self.binary).exists():
            return f"{self.binary} is not installed"
        return None

    def command(self, ctx: Context) -> list[str]:
        """Write the configuration under ctx.work; the command line that serves it."""
        raise NotImplementedError

    def full_command(self, ctx: Context) -> list[str]:
        """The command under ctx.wrapper (valgrind in the callgrind runs)."""
        return ctx.wrapper + self.command(ctx)

    def env(self, ctx: Context) -> dict[str, str]:
        return {}

    def zone_bytes(self, ctx: Context, log: str) -> int | None:
        """The size of the served zone in the server's own form, where it tells."""
        return None

    def counters(self, ctx: Context) -> dict[str, int] | None:
        """The server's own packet counters, where it has them."""
        return None

    def dnsperf_options(self) -> list[str]:
        """What dnsperf adds to each query for this server (an EDNS option)."""
        return []


#: dnsperf -E: a client cookie (RFC 7873) in every query, so the server makes a server
#: cookie for each reply: the rows with cookies on pay for them.
CLIENT_COOKIE_OPTION = ["-E", "10:0123456789abcdef"]


class Fastdns(ServerKind):
    name, label, binary = "fastdns", "fastdns (kernel UDP)", sys.executable

    def settings(self, ctx: Context) -> dict:
        return {}

    def command(self, ctx: Context) -> list[str]:
        config = {"listen": [f"{ctx.link.host_addr}@{ctx.port}"], "cpus": sorted(ctx.cpus),
                  "udp_payload": 1232, "run_dir": "run",
                  "zones": [{"name": ctx.origin, "file": ctx.zone_file.name}], **self.settings(ctx)}
        (ctx.work / "fastdns.yaml").write_text(yaml.safe_dump(config))
        return [sys.executable, "-m", "fastdns", "serve", "-c", str(ctx.work / "fastdns.yaml")]

    def full_command(self, ctx: Context) -> list[str]:
        return self.command(ctx)  # only the workers run under the wrapper: see env()

    def env(self, ctx: Context) -> dict[str, str]:
        # The same hash seed every run, so the worker's Python start-up executes the same
        # instructions in the idle and the loaded callgrind run.
        env = {"PYTHONHASHSEED": "0"}
        if ctx.wrapper:
            env["FASTDNS_WORKER_WRAPPER"] = shlex.join(ctx.wrapper)
        return env

    def zone_bytes(self, ctx: Context, log: str) -> int | None:
        images = [p for p in (ctx.work / "run").glob("image.*") if p.suffix[1:].isdigit()]
        return max(images, key=lambda p: int(p.suffix[1:])).stat().st_size if images else None

    def counters(self, ctx: Context) -> dict[str, int] | None:
        # Any CPU: the configuration check wants the workers' CPUs among the caller's, and
        # the bench itself is confined to dnsperf's.
        every_cpu = f"0-{os.cpu_count() - 1}"
        done = subprocess.run(["taskset", "-c", every_cpu, sys.executable, "-m", "fastdns", "stats",
                               "--json", "-c", str(ctx.work / "fastdns.yaml")],
                              capture_output=True, text=True, timeout=20)
        return json.loads(done.stdout)["total"] if done.returncode == 0 else None


class FastdnsXdp(Fastdns):
    """fastdns with its AF_XDP backend on the host side of the veth pair."""

    name, label = "fastdns-xdp", "fastdns (AF_XDP)"

    def unavailable(self) -> str | None:
        done = subprocess.run([sys.executable, "-c", "import fastdns._xdp"], capture_output=True,
                              text=True, timeout=20)
        return None if done.returncode == 0 else "fastdns._xdp is not built (needs libxdp-dev)"

    def settings(self, ctx: Context) -> dict:
        return {"backend": "xdp", "xdp": {"interface": ctx.link.host_if, "mode": "native"}}


class FastdnsGuarded(Fastdns):
    """fastdns with response rate limiting at a rate far above the benchmark's (nothing is
    limited: what the checks cost) and DNS cookies, every query carrying a client cookie."""

    name, label = "fastdns-rrl", "fastdns (kernel UDP), RRL + cookies"

    def settings(self, ctx: Context) -> dict:
        return {"rate_limit": {"rate": 1_000_000}, "cookies": True}

    def dnsperf_options(self) -> list[str]:
        return CLIENT_COOKIE_OPTION


class Knot(ServerKind):
    """Knot DNS with its defaults; one UDP worker per server CPU, as the others get."""

    name, label, binary = "knot", "Knot DNS (UDP)", "knotd"
    xdp = False
    rrl = ""  #: the mod-rrl section, and the template's line that loads it

    def command(self, ctx: Context) -> list[str]:
        xdp = f"xdp:\n    listen: {ctx.link.host_if}@{ctx.port}\n" if self.xdp else ""
        rrl, rrl_module = (self.rrl, "    global-module: mod-rrl/default\n") if self.rrl else ("", "")
        (ctx.work / "knot.conf").write_text(f"""\
server:
    listen: {ctx.link.host_addr}@{ctx.port}
    rundir: {ctx.work}
    udp-workers: {len(ctx.cpus)}
    tcp-workers: 1
    background-workers: 1
{xdp}database:
    storage: {ctx.work}/db
log:
  - target: stderr
    any: info
{rrl}template:
  - id: default
    storage: {ctx.work}
    zonefile-sync: -1
    journal-content: none
{rrl_module}zone:
  - domain: {ctx.origin}
    file: {ctx.zone_file.name}
""")
        return [shutil.which(self.binary) or self.binary, "-c", str(ctx.work / "knot.conf")]

    def zone_bytes(self, ctx: Context, log: str) -> int | None:
        m = re.search(r"loaded, serial .* (\d+) bytes", log)
        return int(m.group(1)) if m else None


class KnotXdp(Knot):
    """Knot DNS's XDP mode on the host side of the veth pair (the kernel path stays for TCP)."""

    name, label = "knot-xdp", "Knot DNS (XDP)"
    xdp = True


class KnotRrl(Knot):
    """Knot DNS with its response rate limiting (mod-rrl) at a rate far above the
    benchmark's, given the same queries (client cookie included) as fastdns-rrl."""

    name, label = "knot-rrl", "Knot DNS (UDP), RRL"
    rrl = "mod-rrl:\n  - id: default\n    rate-limit: 1000000\n    slip: 2\n"

    def dnsperf_options(self) -> list[str]:
        return CLIENT_COOKIE_OPTION


class Nsd(ServerKind):
    """NSD with response-rate limiting off (Debian turns it on) and minimal responses."""

    name, label, binary = "nsd", "NSD", "nsd"

    def command(self, ctx: Context) -> list[str]:
        reuseport = "    reuseport: yes\n" if len(ctx.cpus) > 1 else ""
        (ctx.work / "nsd.conf").write_text(f"""\
server:
    ip-address: {ctx.link.host_addr}@{ctx.port}
    port: {ctx.port}
    username: ""
    chroot: ""
    zonesdir: "{ctx.work}"
    database: ""
    pidfile: "{ctx.work}/nsd.pid"
    xfrdfile: "{ctx.work}/xfrd.state"
    xfrdir: "{ctx.work}"
    zonelistfile: "{ctx.work}/zone.list"
    server-count: {len(ctx.cpus)}
{reuseport}    tcp-count: 32
    minimal-responses: yes
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    verbosity: 1
remote-control:
    control-enable: no
zone:
    name: {ctx.origin}
    zonefile: {ctx.zone_file.name}
""")
        return [shutil.which(self.binary) or self.binary, "-d", "-c", str(ctx.work / "nsd.conf")]


#: The registry, in table order.  Each entry says how to configure and start one server;
#: starting, pinning, measuring and stopping are the same for all (Running below).
#: A new server is one class above and one line here; one whose unavailable() gives a
#: reason is left out of the run and listed with that reason.
REGISTRY: dict[str, ServerKind] = {
    "fastdns": Fastdns(),
    # fastdns-xdp: fastdns with `backend: xdp` on the host-side veth (issue 5); it is
    # listed when fastdns._xdp is built and the kernel lets it attach.
    "fastdns-xdp": FastdnsXdp(),
    # fastdns-rrl and knot-rrl: rate limiting (and cookies) on, nothing limited (issue 14)
    "fastdns-rrl": FastdnsGuarded(),
    "knot": Knot(),
    "knot-xdp": KnotXdp(),
    "knot-rrl": KnotRrl(),
    "nsd": Nsd(),
}


class Running:
    """One started server: its process tree lives in its own cpuset cgroup."""

    def __init__(self, kind: ServerKind, ctx: Context) -> None:
        self.kind, self.ctx = kind, ctx
        ctx.work.mkdir(parents=True, exist_ok=True)
        shutil.copy(ctx.zone_file, ctx.work / ctx.zone_file.name)
        ctx.zone_file = ctx.work / ctx.zone_file.name
        self.cgroup = Cgroup(ctx.name, ctx.cpus)
        self.log_path = ctx.work / "server.log"
        self.log = open(self.log_path, "w")
        # The command first: it writes the server's configuration (10,000 zones in YAML
        # take the harness a second), which is no part of the server's load.
        command = self.cgroup.wrap(kind.full_command(ctx))
        env = {**_base_env(), **self.kind.env(ctx)}
        self.started = time.time()
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, cwd=ctx.work, env=env)
        self.load_seconds: float | None = None
        self.probe_answers = 0

    def wait_ready(self, timeout: float, retry: float = 0.2, drain: float = 0.0) -> None:
        """Block until it answers SOA from the namespace; records the load time."""
        cmd = ["ip", "netns", "exec", NETNS, sys.executable, str(PROBE), self.ctx.link.host_addr,
               str(self.ctx.port), self.ctx.origin, f"{timeout:g}", f"{retry:g}", f"{drain:g}"]
        probe = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout + drain + 10
        while probe.poll() is None and time.monotonic() < deadline:
            if self.proc.poll() is not None:  # the server died: no point waiting
                probe.kill()
                probe.wait()
                raise RuntimeError(f"{self.kind.name} exited ({self.proc.returncode}): {self.output()[-1500:]}")
            time.sleep(0.05)
        if probe.poll() is None:
            probe.kill()
        out, _ = probe.communicate()
        result = json.loads(out or "{}")
        if not result.get("ready"):
            raise RuntimeError(f"{self.kind.name} did not answer within {timeout:g} s: {self.output()[-1500:]}")
        self.load_seconds = result["at"] - self.started
        self.probe_answers = result["answers"]

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def pids(self) -> list[int]:
        return self.cgroup.pids()

    def zone_bytes(self) -> int | None:
        return self.kind.zone_bytes(self.ctx, self.output())

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the server, wait, then kill whatever is left in its cgroup."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        kill_pids([p for p in self.pids() if alive(p)], timeout=5.0)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.log.close()
        self.cgroup.remove()


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("FASTDNS_WORKER_WRAPPER", None)  # only the callgrind runs set it
    return env
