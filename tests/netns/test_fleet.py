# SPDX-License-Identifier: MIT
"""A fleet: one Knot DNS primary and three fastdns secondaries, each in its own network
namespace, joined by a bridge (198.18.10.0/24 only; deploy/fleet.md is the recipe).

The primary generates a catalog zone (RFC 9432) listing its zones and sends NOTIFY to
every secondary; each secondary is configured with the catalog alone.  A record changed on
the primary is served by all three within a stated bound, and a zone added to the
primary's catalog is served by all three, with no fastdns command.  Nothing here follows
a referral: the zones' own addresses (192.0.2.x) never become packets.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.references import KNOTD, available, knot_catalog, knot_config, terminate

ROOT = Path(__file__).resolve().parent.parent.parent
PREFIX = "ffleet"
BRIDGE_NS = f"{PREFIX}-sw"
PRIMARY = ("p", "198.18.10.1")
SECONDARIES = [("s1", "198.18.10.11"), ("s2", "198.18.10.12"), ("s3", "198.18.10.13")]
NOTIFY_PORT = 5301
#: a change on the primary is served by every secondary within this many seconds
BOUND = 5.0

pytestmark = pytest.mark.skipif(not available(KNOTD), reason="Knot DNS (knotd) is not installed")


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


def ns(name: str) -> str:
    return f"{PREFIX}-{name}"


def teardown() -> None:
    for name, _ in [PRIMARY, *SECONDARIES]:
        ip("netns", "del", ns(name), check=False)
    ip("netns", "del", BRIDGE_NS, check=False)


@pytest.fixture
def fleet_network() -> Iterator[None]:
    """A bridge in a namespace of its own, and one namespace per server on it: a veth each,
    its address in 198.18.10.0/24, loopback up; removed after."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 for network namespaces")
    teardown()
    try:
        ip("netns", "add", BRIDGE_NS)
        ip("netns", "exec", BRIDGE_NS, "ip", "link", "add", "br0", "type", "bridge")
        ip("netns", "exec", BRIDGE_NS, "ip", "link", "set", "br0", "up")
        for name, address in [PRIMARY, *SECONDARIES]:
            ip("netns", "add", ns(name))
            ip("link", "add", f"{PREFIX}{name}a", "type", "veth", "peer", "name", f"{PREFIX}{name}b")
            ip("link", "set", f"{PREFIX}{name}a", "netns", ns(name))
            ip("link", "set", f"{PREFIX}{name}b", "netns", BRIDGE_NS)
            ip("netns", "exec", BRIDGE_NS, "ip", "link", "set", f"{PREFIX}{name}b", "master", "br0", "up")
            ip("netns", "exec", ns(name), "ip", "addr", "add", f"{address}/24", "dev", f"{PREFIX}{name}a")
            ip("netns", "exec", ns(name), "ip", "link", "set", f"{PREFIX}{name}a", "up")
            ip("netns", "exec", ns(name), "ip", "link", "set", "lo", "up")
    except subprocess.CalledProcessError as e:
        teardown()
        pytest.skip(f"cannot build the fleet network here: {e.stderr.strip()}")
    try:
        yield
    finally:
        teardown()


def zone_text(origin: str, serial: int, www: str = "192.0.2.80") -> str:
    return (f"$ORIGIN {origin}.\n$TTL 300\n@ IN SOA ns1 hostmaster {serial} 3600 900 604800 300\n"
            f"@ IN NS ns1\nns1 IN A 192.0.2.1\nwww IN A {www}\n")


class Primary:
    """Knot DNS in its namespace: the zones, the catalog it generates, NOTIFY to every
    secondary, AXFR for the fleet's prefix."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True)
        self.dir = directory
        self.zones: dict[str, str] = {}

    def start(self, zones: dict[str, str]) -> None:
        self.zones = dict(zones)
        self._write()
        self.log = open(self.dir / "knot.log", "w")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns(PRIMARY[0]), KNOTD, "-c", str(self.dir / "knot.conf")],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def update(self, zones: dict[str, str]) -> None:
        self.zones = dict(zones)
        self._write()
        self.proc.send_signal(signal.SIGHUP)

    def _write(self) -> None:
        remotes = "".join(f"  - id: {name}\n    address: {address}@{NOTIFY_PORT}\n" for name, address in SECONDARIES)
        zones = knot_catalog(self.dir, self.zones, ", ".join(name for name, _ in SECONDARIES))
        sections = (f"remote:\n{remotes}"
                    "acl:\n  - id: fleet\n    address: [198.18.10.0/24]\n    action: transfer\n")
        (self.dir / "knot.conf").write_text(knot_config(self.dir, f"{PRIMARY[1]}@53", sections, zones,
                                                        "    acl: [fleet]\n"))

    def stop(self) -> None:
        terminate(self.proc)
        self.log.close()


class Secondary:
    """fastdns in its namespace, configured with the primary's catalog alone."""

    def __init__(self, directory: Path, name: str, address: str) -> None:
        directory.mkdir(parents=True)
        self.dir, self.name, self.address = directory, name, address
        config = {"listen": [f"{address}@53"], "workers": 1, "run_dir": "run",
                  "notify_listen": [f"{address}@{NOTIFY_PORT}"],
                  "zones": [{"name": "catalog.invalid", "file": "catalog.invalid.zone",
                             "primaries": [f"{PRIMARY[1]}@53"], "catalog": True}]}
        self.config = directory / "fastdns.yaml"
        self.config.write_text(yaml.safe_dump(config))
        self.log = open(directory / "serve.log", "w")
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns(name), sys.executable, "-m", "fastdns", "serve",
                                      "-c", str(self.config)], stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)

    def ask(self, qname: str, qtype: str = "A") -> str:
        """dig from the primary's namespace (the network path a resolver would take)."""
        out = subprocess.run(["ip", "netns", "exec", ns(PRIMARY[0]), "dig", f"@{self.address}", "+short", "+norec",
                              "+time=1", "+tries=1", qname, qtype], capture_output=True, text=True, timeout=10)
        return out.stdout.strip()

    def output(self) -> str:
        self.log.flush()
        return (self.dir / "serve.log").read_text()

    def stop(self) -> None:
        terminate(self.proc)
        self.log.close()


def wait_all(secondaries: list[Secondary], qname: str, expected: str, timeout: float) -> float:
    """Seconds until every secondary answers qname with expected."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if all(s.ask(qname) == expected for s in secondaries):
            return time.monotonic() - started
        time.sleep(0.05)
    answers = {s.name: s.ask(qname) for s in secondaries}
    raise AssertionError(f"{qname}: not {expected} everywhere within {timeout} s: {answers}\n"
                         + "\n".join(s.output()[-2000:] for s in secondaries))


def test_a_fleet_follows_its_primary_and_its_catalog(fleet_network, tmp_path):
    primary = Primary(tmp_path / "primary")
    primary.start({"one.test": zone_text("one.test", 1)})
    secondaries: list[Secondary] = []
    try:
        time.sleep(1)  # Knot DNS binds
        secondaries = [Secondary(tmp_path / name, name, address) for name, address in SECONDARIES]
        wait_all(secondaries, "www.one.test", "192.0.2.80", 30)  # first start: catalog, then its member

        primary.update({"one.test": zone_text("one.test", 2, www="192.0.2.81")})
        took = wait_all(secondaries, "www.one.test", "192.0.2.81", BOUND)

        primary.update({"one.test": zone_text("one.test", 2, www="192.0.2.81"),
                        "two.test": zone_text("two.test", 1, www="192.0.2.82")})
        added = wait_all(secondaries, "www.two.test", "192.0.2.82", BOUND)
        print(f"change served by all three in {took:.2f} s; new zone by all three in {added:.2f} s")
    finally:
        for s in secondaries:
            s.stop()
        primary.stop()
