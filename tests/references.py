# SPDX-License-Identifier: MIT
"""Knot DNS and NSD, started on loopback with the same zones as fastdns, as references.

Each server gets its own directory and a free port; stop() ends it by PID.  Their settings
follow what an operator comparing servers would use: Knot with defaults, NSD with
response-rate limiting off (Debian enables it) and minimal responses on.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import dns.exception
import dns.message
import dns.query

KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
NSD = shutil.which("nsd") or "/usr/sbin/nsd"


def terminate(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL if it has not exited within timeout; returns the exit code."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def available(binary: str) -> bool:
    return Path(binary).exists()


def knot_config(directory: Path, listen: str, sections: str, zones: str, template: str = "") -> str:
    """A Knot DNS configuration for a transfer test: one worker each, on listen
    (`address@port`), its files in directory, logging at info; sections (keys, remotes,
    ACLs) as given; the default template writing no zone file and keeping no journal, with
    template's lines added; then zones."""
    return f"""\
server:
    listen: [{listen}]
    rundir: {directory}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: {directory}/db
log:
  - target: stderr
    any: info
{sections}template:
  - id: default
    storage: {directory}
    zonefile-sync: -1
    journal-content: none
{template}zone:
{zones}"""


def knot_catalog(directory: Path, members: dict[str, str], notify: str) -> str:
    """The zones section of a Knot DNS primary generating catalog.invalid (RFC 9432) for
    members ({origin: zone file text}, written into directory), every zone sending NOTIFY
    to the remotes notify names (`a, b`)."""
    zones = f"  - domain: catalog.invalid\n    catalog-role: generate\n    notify: [{notify}]\n"
    for origin, text in members.items():
        (directory / f"{origin}.zone").write_text(text)
        zones += (f"  - domain: {origin}\n    file: {origin}.zone\n    notify: [{notify}]\n"
                  "    catalog-role: member\n    catalog-zone: catalog.invalid\n")
    return zones


class ReferenceServer:
    name = "reference"

    def __init__(self, directory: Path, zones: dict[str, Path], port: int) -> None:
        self.dir = directory
        self.port = port
        self.zones = zones
        directory.mkdir(parents=True, exist_ok=True)
        for origin, path in zones.items():
            shutil.copy(path, directory / f"{origin}.zone")
        self.log = open(directory / "server.log", "w+")
        self.proc = subprocess.Popen(self.command(), stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=directory)
        self._wait_ready(next(iter(zones)))

    def command(self) -> list[str]:
        raise NotImplementedError

    def _wait_ready(self, origin: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        query = dns.message.make_query(origin, "SOA")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.output()}")
            try:
                reply = dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.2)
                if reply.answer:
                    return
            except (dns.exception.Timeout, OSError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} did not serve {origin} within {timeout} s: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        return (self.dir / "server.log").read_text()

    def stop(self) -> None:
        terminate(self.proc)
        self.log.close()


class Knot(ReferenceServer):
    name = "knot"

    def command(self) -> list[str]:
        zones = "".join(f"  - domain: {origin}\n    file: {origin}.zone\n" for origin in self.zones)
        (self.dir / "knot.conf").write_text(f"""\
server:
    listen: [127.0.0.1@{self.port}, ::1@{self.port}]
    rundir: {self.dir}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: {self.dir}/db
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: {self.dir}
    zonefile-sync: -1
    journal-content: none
zone:
{zones}""")
        return [KNOTD, "-c", str(self.dir / "knot.conf")]


class Nsd(ReferenceServer):
    name = "nsd"

    def command(self) -> list[str]:
        zones = "".join(f"zone:\n    name: {origin}\n    zonefile: {origin}.zone\n"
                        for origin in self.zones)
        (self.dir / "nsd.conf").write_text(f"""\
server:
    ip-address: 127.0.0.1@{self.port}
    ip-address: ::1@{self.port}
    port: {self.port}
    username: ""
    chroot: ""
    zonesdir: "{self.dir}"
    database: ""
    pidfile: "{self.dir}/nsd.pid"
    xfrdfile: "{self.dir}/xfrd.state"
    xfrdir: "{self.dir}"
    zonelistfile: "{self.dir}/zone.list"
    server-count: 1
    tcp-count: 32
    minimal-responses: yes
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
    verbosity: 1
remote-control:
    control-enable: no
{zones}""")
        return [NSD, "-d", "-c", str(self.dir / "nsd.conf")]
