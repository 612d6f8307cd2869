# SPDX-License-Identifier: MIT
"""The machine's facts (CPUs we may run on, network interfaces) and where workers go.

Read only when serving: fastdns.config says what the file asks for, place() checks it
against this machine and decides one CPU (and with AF_XDP one RX queue) per worker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from fastdns.config import Config
from fastdns.errors import ConfigError

SYS_NET = Path("/sys/class/net")


@dataclass(frozen=True)
class Interface:
    rx_queues: int  #: RX queues (channels); an AF_XDP socket binds to one
    mtu: int  #: bytes: AF_XDP replies beyond it are truncated


@dataclass(frozen=True)
class Host:
    allowed_cpus: tuple[int, ...]  #: sorted: the CPUs this process may run on
    interfaces: Mapping[str, Interface] = field(default_factory=dict, hash=False)

    @classmethod
    def from_machine(cls, sys_net: Path = SYS_NET) -> Host:
        """This process's CPU affinity and the interfaces in sysfs."""
        interfaces = {}
        for path in sorted(sys_net.iterdir()) if sys_net.is_dir() else ():
            interface = _read_interface(path)
            if interface is not None:
                interfaces[path.name] = interface
        return cls(tuple(sorted(os.sched_getaffinity(0))), interfaces)


def _read_interface(path: Path) -> Interface | None:
    # Not every entry is an interface (bonding_masters), and one may vanish while we look.
    try:
        mtu = int((path / "mtu").read_text())
        rx_queues = sum(1 for _ in (path / "queues").glob("rx-*"))
    except (OSError, ValueError):
        return None
    return Interface(rx_queues, mtu)


@dataclass(frozen=True)
class Placement:
    cpus: tuple[int, ...]  #: one worker per CPU, in slot order
    queues: tuple[int, ...] | None  #: backend xdp: RX queue of each slot; None for udp
    mtu: int | None  #: backend xdp: interface MTU; None for udp


def place(config: Config, host: Host | None = None) -> Placement:
    """One CPU per worker (and one RX queue with AF_XDP), checked against the machine.

    :raises ConfigError: "file: key: reason" for what the file asks and the host lacks.
    """
    host = host if host is not None else Host.from_machine()
    if config.xdp is None:
        return Placement(_cpus(config, host), None, None)
    queues, mtu = _xdp_queues(config, host)
    cpus = _cpus(config, host)
    # One worker per queue, each on its own CPU: surplus CPUs stay idle.
    if len(cpus) < len(queues):
        raise _fail(config, "cpus", f"{len(queues)} queues on {config.xdp.interface} need as many "
                                    f"CPUs, only {len(cpus)} available: list fewer xdp.queues")
    return Placement(cpus[:len(queues)], queues, mtu)


def _xdp_queues(config: Config, host: Host) -> tuple[tuple[int, ...], int]:
    assert config.xdp is not None
    interface = host.interfaces.get(config.xdp.interface)
    if interface is None:
        raise _fail(config, "xdp.interface",
                    f"no network interface named {config.xdp.interface!r}")
    available = interface.rx_queues
    queues = config.xdp.queues if config.xdp.queues is not None else tuple(range(available))
    if not queues or not all(q < available for q in queues):
        raise _fail(config, "xdp.queues",
                    f"expected 'auto' or distinct queue numbers below {available}")
    return queues, interface.mtu


def _cpus(config: Config, host: Host) -> tuple[int, ...]:
    allowed = list(host.allowed_cpus)
    if config.cpus is not None:
        missing = [c for c in config.cpus if c not in allowed]
        if missing:
            raise _fail(config, "cpus", f"CPU {missing[0]} is not available (allowed: {allowed})")
        return config.cpus
    if config.workers is None:
        return tuple(allowed)
    if config.workers > len(allowed):
        raise _fail(config, "workers", f"{config.workers} workers but only {len(allowed)} CPUs: "
                                       "one worker per CPU")
    return tuple(allowed[:config.workers])


def _fail(config: Config, key: str, reason: str) -> ConfigError:
    return ConfigError(f"{config.path}: {key}: {reason}")
