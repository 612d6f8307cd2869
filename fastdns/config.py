# SPDX-License-Identifier: MIT
"""The configuration file (YAML): what to serve, where, on which CPUs."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import yaml

from fastdns.errors import ConfigError

#: The ready-to-run configuration for the bundled zones, used when no -c is given.
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "zones" / "fastdns.yaml"
DEFAULT_PORT = 53
DEFAULT_UDP_PAYLOAD = 1232  # RFC 6891 6.2.5 guidance as of DNS Flag Day 2020
KNOWN_KEYS = {"listen", "workers", "cpus", "udp_payload", "run_dir", "control_socket", "zones",
              "backend", "xdp", "metrics", "user",
              "tcp_idle_timeout", "tcp_max_connections", "version", "identity",
              "minimal_responses"}
ZONE_KEYS = {"name", "file"}
XDP_KEYS = {"interface", "queues", "mode", "busy_poll"}
SYS_NET = Path("/sys/class/net")


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def __str__(self) -> str:
        return f"{self.host}@{self.port}"


@dataclass(frozen=True)
class ZoneConfig:
    name: str  #: the apex, as written in the configuration
    file: str  #: absolute path of the master file


@dataclass(frozen=True)
class XdpConfig:
    interface: str
    queues: tuple[int, ...]  #: RX queues served, one worker each, in CPU order
    mode: str  #: "native" (driver) or "generic" (SKB) XDP
    busy_poll: bool  #: spin on the rings instead of sleeping when idle
    mtu: int  #: of the interface, bytes: replies beyond it are truncated


@dataclass(frozen=True)
class Config:
    path: str
    listen: tuple[ListenAddress, ...]
    cpus: tuple[int, ...]  #: one worker per CPU, pinned to it
    udp_payload: int
    run_dir: str
    control_socket: str
    zones: tuple[ZoneConfig, ...]
    tcp_idle_timeout: float = 10.0  #: seconds a TCP connection may sit idle (RFC 7766 6.2.3)
    tcp_max_connections: int = 256
    version: str | None = None  #: answered to CH TXT version.bind; None refuses
    identity: str | None = None  #: answered to CH TXT id.server; None refuses
    minimal_responses: bool = True  #: no NS RRset in the authority of positive answers
    backend: str = "udp"  #: "udp" (kernel sockets) or "xdp" (AF_XDP)
    xdp: XdpConfig | None = None
    metrics: ListenAddress | None = None  #: Prometheus endpoint; None = off
    user: str | None = None  #: switch to this user once the sockets are bound


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a configuration file.

    :param path: the YAML file; the bundled zones/fastdns.yaml when None.
    :raises ConfigError: naming the file, the key and what is wrong with it.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read configuration: {e.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    return parse_config(data, path)


def parse_config(data: Any, path: Path) -> Config:
    def fail(key: str, reason: str) -> ConfigError:
        return ConfigError(f"{path}: {key}: {reason}")

    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise fail(unknown[0], f"unknown setting (known: {', '.join(sorted(KNOWN_KEYS))})")
    base = path.resolve().parent

    listen_raw = data.get("listen", ["127.0.0.1@5300"])
    if isinstance(listen_raw, str):
        listen_raw = [listen_raw]
    if not isinstance(listen_raw, list) or not listen_raw:
        raise fail("listen", "expected a list of addresses like 127.0.0.1@5300 or ::1@5300")
    listen = tuple(_parse_listen(item, fail) for item in listen_raw)
    if len(set(listen)) != len(listen):
        raise fail("listen", "an address is listed twice")

    backend = data.get("backend", "udp")
    if backend not in ("udp", "xdp"):
        raise fail("backend", f"expected udp or xdp, not {backend!r}")
    xdp = None
    if backend == "xdp":
        xdp = _parse_xdp(data.get("xdp"), fail)
        if len({a.port for a in listen}) != 1:
            raise fail("listen", "with backend xdp every address must use the same port")
    elif "xdp" in data:
        raise fail("xdp", "set backend: xdp to use these settings")
    cpus = _parse_cpus(data.get("workers", "auto"), data.get("cpus"), fail)
    if xdp is not None:
        if len(cpus) < len(xdp.queues):
            raise fail("cpus", f"{len(xdp.queues)} queues on {xdp.interface} need as many CPUs, "
                               f"only {len(cpus)} available: list fewer xdp.queues")
        cpus = cpus[:len(xdp.queues)]

    udp_payload = data.get("udp_payload", DEFAULT_UDP_PAYLOAD)
    if not isinstance(udp_payload, int) or isinstance(udp_payload, bool) or not 512 <= udp_payload <= 4096:
        raise fail("udp_payload", f"expected a number of bytes from 512 to 4096, not {udp_payload!r}")

    run_dir = data.get("run_dir", "/run/fastdns")
    if not isinstance(run_dir, str) or not run_dir:
        raise fail("run_dir", "expected a directory path")
    run_dir = str(base / run_dir)
    control_socket = data.get("control_socket", os.path.join(run_dir, "control.sock"))
    if not isinstance(control_socket, str) or not control_socket:
        raise fail("control_socket", "expected a path")
    control_socket = str(base / control_socket)
    if len(control_socket.encode()) > 107:
        raise fail("control_socket", "path longer than a unix socket allows (107 bytes)")

    zones_raw = data.get("zones")
    if not isinstance(zones_raw, list) or not zones_raw:
        raise fail("zones", "expected a list of zones, each with a name and a file")
    zones = tuple(_parse_zone(i, item, base, fail) for i, item in enumerate(zones_raw))
    names = [dns.name.from_text(z.name) for z in zones]
    if len(set(names)) != len(names):
        raise fail("zones", "a zone is listed twice")
    idle = data.get("tcp_idle_timeout", 10.0)
    if isinstance(idle, bool) or not isinstance(idle, (int, float)) or not 0 < idle <= 3600:
        raise fail("tcp_idle_timeout", f"expected seconds from 0 to 3600, not {idle!r}")
    max_conn = data.get("tcp_max_connections", 256)
    if isinstance(max_conn, bool) or not isinstance(max_conn, int) or not 1 <= max_conn <= 65536:
        raise fail("tcp_max_connections", f"expected a number from 1 to 65536, not {max_conn!r}")
    chaos = {}
    for key in ("version", "identity"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise fail(key, f"expected text for CH TXT {key} queries, not {value!r}")
        chaos[key] = value
    minimal = data.get("minimal_responses", True)
    if not isinstance(minimal, bool):
        raise fail("minimal_responses", f"expected true or false, not {minimal!r}")
    metrics = None
    if data.get("metrics") is not None:
        metrics = _parse_listen(data["metrics"], lambda key, reason: fail("metrics", reason))
    user = data.get("user")
    if user is not None and (not isinstance(user, str) or not user):
        raise fail("user", "expected a user name")
    if user is not None and backend == "xdp":
        raise fail("user", "the AF_XDP workers need CAP_NET_RAW and CAP_BPF: run as root, or "
                           "under systemd with deploy/fastdns.service's capabilities")
    return Config(str(path), listen, cpus, udp_payload, run_dir, control_socket, zones,
                  float(idle), max_conn, chaos["version"], chaos["identity"], minimal,
                  backend, xdp, metrics, user)


def rx_queue_count(interface: str) -> int:
    """RX queues (channels) of an interface, from sysfs."""
    return len(list((SYS_NET / interface / "queues").glob("rx-*")))


def _parse_xdp(data: Any, fail: Any) -> XdpConfig:
    if not isinstance(data, dict):
        raise fail("xdp", "expected a mapping with at least interface:")
    unknown = sorted(set(data) - XDP_KEYS)
    if unknown:
        raise fail(f"xdp.{unknown[0]}", f"unknown setting (known: {', '.join(sorted(XDP_KEYS))})")
    interface = data.get("interface")
    if not isinstance(interface, str) or not (SYS_NET / interface).exists():
        raise fail("xdp.interface", f"no network interface named {interface!r}")
    available = rx_queue_count(interface)
    queues = data.get("queues", "auto")
    if queues == "auto":
        queues = list(range(available))
    if (not isinstance(queues, list) or not queues
            or not all(isinstance(q, int) and not isinstance(q, bool) and 0 <= q < available
                       for q in queues) or len(set(queues)) != len(queues)):
        raise fail("xdp.queues", f"expected 'auto' or distinct queue numbers below {available}")
    mode = data.get("mode", "native")
    if mode not in ("native", "generic"):
        raise fail("xdp.mode", f"expected native or generic, not {mode!r}")
    busy_poll = data.get("busy_poll", False)
    if not isinstance(busy_poll, bool):
        raise fail("xdp.busy_poll", "expected true or false")
    mtu = int((SYS_NET / interface / "mtu").read_text())
    return XdpConfig(interface, tuple(queues), mode, busy_poll, mtu)


def _parse_listen(item: Any, fail: Any) -> ListenAddress:
    if not isinstance(item, str):
        raise fail("listen", f"expected an address like 127.0.0.1@5300, not {item!r}")
    host, sep, port_text = item.rpartition("@")
    if not sep:
        host, port_text = item, str(DEFAULT_PORT)
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise fail("listen", f"'{host}' is not an IPv4 or IPv6 address") from None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise fail("listen", f"'{port_text}' is not a port number")
    return ListenAddress(str(address), int(port_text))


def _parse_cpus(workers: Any, cpus: Any, fail: Any) -> tuple[int, ...]:
    allowed = sorted(os.sched_getaffinity(0))
    if cpus is not None:
        if (not isinstance(cpus, list) or not cpus
                or not all(isinstance(c, int) and not isinstance(c, bool) for c in cpus)):
            raise fail("cpus", "expected a list of CPU numbers")
        missing = [c for c in cpus if c not in allowed]
        if missing:
            raise fail("cpus", f"CPU {missing[0]} is not available (allowed: {allowed})")
        if len(set(cpus)) != len(cpus):
            raise fail("cpus", "a CPU is listed twice: each worker owns its CPU")
        if workers not in ("auto", len(cpus)):
            raise fail("workers", "give either workers or cpus, or make them agree")
        return tuple(cpus)
    if workers == "auto":
        return tuple(allowed)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise fail("workers", f"expected 'auto' or a positive number, not {workers!r}")
    if workers > len(allowed):
        raise fail("workers", f"{workers} workers but only {len(allowed)} CPUs: one worker per CPU")
    return tuple(allowed[:workers])


def _parse_zone(index: int, item: Any, base: Path, fail: Any) -> ZoneConfig:
    key = f"zones[{index}]"
    if not isinstance(item, dict):
        raise fail(key, "expected a mapping with name and file")
    unknown = sorted(set(item) - ZONE_KEYS)
    if unknown:
        raise fail(f"{key}.{unknown[0]}", "unknown setting (known: file, name)")
    name, file = item.get("name"), item.get("file")
    if not isinstance(name, str) or not name:
        raise fail(f"{key}.name", "expected the zone's name, like example.com")
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException as e:
        raise fail(f"{key}.name", f"'{name}' is not a domain name: {e}") from None
    if not isinstance(file, str) or not file:
        raise fail(f"{key}.file", "expected the path of the zone file")
    return ZoneConfig(name, str(base / file))
