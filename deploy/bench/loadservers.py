# SPDX-License-Identifier: MIT
"""The servers of servers.py as the load benchmark runs them: on loopback, with many zones,
and with each one's own reload command."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from servers import Context, Fastdns, Knot, Nsd, ServerKind
from topology import Link

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Loopback(Link):
    """Control-plane measurements need no namespace: the servers listen on 127.0.0.1."""

    @property
    def host_addr(self) -> str:
        return LOOPBACK


@dataclass
class LoadContext(Context):
    """A Context whose server also serves `more_zones`: (origin, file name under work)."""

    more_zones: list[tuple[str, str]] = field(default_factory=list)

    def zones(self) -> list[tuple[str, str]]:
        """Every zone, the measured one (ctx.origin) last."""
        return [*self.more_zones, (self.origin, self.zone_file.name)]


def _zones(ctx: Context) -> list[tuple[str, str]]:
    return ctx.zones() if isinstance(ctx, LoadContext) else [(ctx.origin, ctx.zone_file.name)]


class Reloadable(ServerKind):
    """A server kind that can be told to re-read one zone file."""

    def reload_command(self, ctx: Context, zone: str) -> list[str]:
        raise NotImplementedError

    def scratch_dirs(self, ctx: Context) -> list[Path]:
        """Directories outside ctx.work the server writes, removed after it stops."""
        return []


class LoadFastdns(Fastdns, Reloadable):
    """fastdns as `pip install` builds it: ldns reads the zone files."""

    label = "fastdns"

    def env(self, ctx: Context) -> dict[str, str]:
        return {**super().env(ctx), "FASTDNS_PARSER": "ldns"}  # even where _zscanner is built

    def settings(self, ctx: Context) -> dict:
        # The run directory on tmpfs, as the default configuration's /run/fastdns is: the
        # images live there (on a disk file system each reload's image is written back too).
        return {"zones": [{"name": origin, "file": name} for origin, name in _zones(ctx)],
                "run_dir": str(self.scratch_dirs(ctx)[0])}

    def scratch_dirs(self, ctx: Context) -> list[Path]:
        return [Path("/run") / f"fastdns-{ctx.name}"]

    def reload_command(self, ctx: Context, zone: str) -> list[str]:
        return [sys.executable, "-m", "fastdns", "reload", zone, "-c", str(ctx.work / "fastdns.yaml")]


class LoadFastdnsZscanner(LoadFastdns):
    """fastdns built with FASTDNS_ZSCANNER=1: libzscanner reads the records (a GPL-3+ build,
    docs/zone-parser.md); `make bench-load` builds it."""

    name, label = "fastdns-zscanner", "fastdns + libzscanner"

    def env(self, ctx: Context) -> dict[str, str]:
        return Fastdns.env(self, ctx)

    def unavailable(self) -> str | None:
        done = subprocess.run([sys.executable, "-c", "import fastdns._zscanner"], capture_output=True,
                              text=True, timeout=20)
        return None if done.returncode == 0 else "fastdns._zscanner is not built (FASTDNS_ZSCANNER=1)"


class LoadKnot(Knot, Reloadable):
    label = "Knot DNS"

    def command(self, ctx: Context) -> list[str]:
        cmd = super().command(ctx)
        # The configuration ends with the measured zone's entry in the zone list.
        with open(ctx.work / "knot.conf", "a") as conf:
            conf.writelines(f"  - domain: {origin}\n    file: {name}\n" for origin, name in _zones(ctx)[:-1])
        return cmd

    def reload_command(self, ctx: Context, zone: str) -> list[str]:
        # knotd's control socket is knot.sock in its rundir (ctx.work).
        return [shutil.which("knotc") or "knotc", "-s", str(ctx.work / "knot.sock"), "zone-reload", zone]


class LoadNsd(Nsd, Reloadable):
    label = "NSD"

    def command(self, ctx: Context) -> list[str]:
        cmd = super().command(ctx)
        conf = ctx.work / "nsd.conf"
        # nsd-control over a Unix socket: no TLS keys to set up.
        text = conf.read_text().replace(
            "control-enable: no", f"control-enable: yes\n    control-interface: {ctx.work}/nsd.ctl")
        text += "".join(f"zone:\n    name: {origin}\n    zonefile: {name}\n" for origin, name in _zones(ctx)[:-1])
        conf.write_text(text)
        return cmd

    def reload_command(self, ctx: Context, zone: str) -> list[str]:
        return [shutil.which("nsd-control") or "nsd-control", "-c", str(ctx.work / "nsd.conf"), "reload", zone]


#: The servers this benchmark can run, in table order; Knot DNS is the baseline of the ratios.
LOAD_REGISTRY: dict[str, Reloadable] = {"fastdns": LoadFastdns(), "fastdns-zscanner": LoadFastdnsZscanner(),
                                         "knot": LoadKnot(), "nsd": LoadNsd()}


def free_port() -> int:
    """An unprivileged port free for both UDP and TCP on loopback (the servers take both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((LOOPBACK, 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((LOOPBACK, port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")

