# SPDX-License-Identifier: MIT
"""The two ways UDP reaches the workers, as one type: kernel sockets (`backend: udp`) and
AF_XDP (`backend: xdp`).  The control process opens a backend before any worker starts
(binding, attaching: everything that can fail on bad input), asks it for each worker's
endpoint, and closes it after the workers have stopped.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import resource
import socket
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from fastdns import _dataplane
from fastdns.config import Config
from fastdns.controlblock import COUNTERS
from fastdns.errors import FastDNSError
from fastdns.host import Placement
from fastdns.policy import packed_address
from fastdns.privileges import CAP_BPF, CAP_IPC_LOCK, CAP_NET_RAW, map_use_needs_cap_bpf
from fastdns.publisher import Publisher
from fastdns.sockets import open_udp_group
from fastdns.workerspec import Endpoint, UdpEndpoint, XdpEndpoint

log = logging.getLogger("fastdns")


class Backend(ABC):
    name: ClassVar[str]

    def __init__(self, config: Config, placement: Placement) -> None:
        self.config = config
        self.placement = placement
        #: what a worker needs to open its endpoint, known once open() returns: kept by the
        #: control process for the workers it starts (fastdns/privileges.py)
        self.worker_capabilities: tuple[int, ...] = ()

    def notify_sockets(self) -> list[socket.socket]:
        """Sockets on the listen addresses that NOTIFY requests come to, for the control
        process (fastdns.transfer); none by default: the workers answer NOTIMP."""
        return []

    @abstractmethod
    def open(self) -> None:
        """Bind and attach what the workers will serve.

        :raises FastDNSError: naming the address or interface and the reason.
        """

    @abstractmethod
    def endpoint(self, slot: int) -> Endpoint:
        """What worker slot serves, for its WorkerSpec."""

    def queue(self, slot: int) -> int | None:
        """The NIC RX queue of worker slot, where the backend has one."""
        return None

    async def start(self, publisher: Publisher) -> None:  # noqa: B027 (most backends have nothing to start)
        """Start what the backend serves in the control process, once the event loop runs."""

    def fallback_counters(self) -> dict[str, int] | None:
        """Counters of the UDP the control process answers itself, else None."""
        return None

    def describe(self) -> str | None:
        """A line for the start-up log, where there is more to say than the addresses."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Release sockets and programs; after the workers have stopped."""


class UdpBackend(Backend):
    """One SO_REUSEPORT socket per worker and listen address (fastdns/sockets.py)."""

    name = "udp"

    def __init__(self, config: Config, placement: Placement) -> None:
        super().__init__(config, placement)
        self.groups: list[list[socket.socket]] = []
        #: secondary zones are served: NOTIFY requests go to a socket of the control process
        self.takes_notify = any(zone.secondary for zone in config.zones)

    def open(self) -> None:
        for address in self.config.listen:
            self.groups.append(open_udp_group(address, self.placement.cpus, self.takes_notify))

    def notify_sockets(self) -> list[socket.socket]:
        """The sockets NOTIFY requests to the listen addresses come to (none without
        secondary zones: the workers answer NOTIMP)."""
        return [group[len(self.placement.cpus)] for group in self.groups] if self.takes_notify else []

    def endpoint(self, slot: int) -> UdpEndpoint:
        return UdpEndpoint(tuple(group[slot].fileno() for group in self.groups))

    def close(self) -> None:
        _close_groups(self.groups)


class XdpBackend(Backend):
    """The XDP program on the interface, one AF_XDP socket per RX queue (opened by each
    worker), and one kernel socket per address for what the program passes to the kernel."""

    name = "xdp"

    def __init__(self, config: Config, placement: Placement) -> None:
        super().__init__(config, placement)
        assert config.xdp is not None and placement.queues is not None and placement.mtu is not None
        self.xdp = config.xdp
        self.queues = placement.queues
        self.mtu = placement.mtu
        self.groups: list[list[socket.socket]] = []
        self.program: Any = None  # fastdns._xdp.XdpProgram once attached
        self.fallback: UdpFallback | None = None

    def open(self) -> None:
        # One plain socket per address answers, from the control process, whatever the XDP
        # program passes to the kernel (fragments, IP options, a queue whose worker is
        # restarting).
        self.groups = [open_udp_group(address, (0,)) for address in self.config.listen]
        self.program = attach_xdp(self.config)
        self.worker_capabilities = xdp_worker_capabilities(self.program.xsks_map_fd)

    def endpoint(self, slot: int) -> XdpEndpoint:
        return XdpEndpoint(self.xdp.interface, self.queues[slot], self.program.xsks_map_fd,
                           self.mtu, self.xdp.busy_poll)

    def queue(self, slot: int) -> int | None:
        return self.queues[slot]

    async def start(self, publisher: Publisher) -> None:
        self.fallback = UdpFallback(publisher)
        await self.fallback.start([group[0] for group in self.groups])

    def fallback_counters(self) -> dict[str, int] | None:
        return self.fallback.counters() if self.fallback is not None else None

    def describe(self) -> str:
        return (f"AF_XDP on {self.xdp.interface} ({self.program.mode} XDP, MTU {self.mtu}): "
                + ", ".join(f"queue {q} -> CPU {c}" for q, c in zip(self.queues, self.placement.cpus)))

    def close(self) -> None:
        _close_groups(self.groups)
        if self.program is not None:
            self.program.detach()  # after the workers: the interface is as we found it


#: `backend:` in the configuration -> its implementation.
BACKENDS: dict[str, type[Backend]] = {b.name: b for b in (UdpBackend, XdpBackend)}


def backend_for(config: Config, placement: Placement) -> Backend:
    return BACKENDS[config.backend](config, placement)


def attach_xdp(config: Config) -> Any:  # -> fastdns._xdp.XdpProgram
    """Load the XDP program and attach it to the configured interface.

    :raises FastDNSError: when the extension is missing or the kernel refuses.
    """
    try:
        from fastdns import _xdp
    except ImportError:
        raise FastDNSError("backend xdp needs the AF_XDP extension: install libxdp-dev, "
                           "libbpf-dev and clang, then rebuild (make build)") from None
    xdp = config.xdp
    assert xdp is not None
    addresses = [ipaddress.ip_address(a.host) for a in config.listen]
    unspecified = any(a.is_unspecified for a in addresses)
    v4 = [] if unspecified else [a.packed for a in addresses if a.version == 4]
    v6 = [] if unspecified else [a.packed for a in addresses if a.version == 6]
    obj = os.path.join(os.path.dirname(__file__), "xdp_dns.bpf.o")
    try:
        return _xdp.XdpProgram(xdp.interface, obj, config.listen[0].port, v4, v6,
                               generic=xdp.mode == "generic")
    except (OSError, ValueError) as e:
        raise FastDNSError(str(e)) from None


def xdp_worker_capabilities(xsks_map_fd: int) -> tuple[int, ...]:
    """What an AF_XDP worker needs to open its socket, as measured (docs/privileges.md):
    CAP_NET_RAW to create it; CAP_IPC_LOCK to register its UMEM (16 MiB pinned, charged to
    the user's RLIMIT_MEMLOCK otherwise: not needed when that is unlimited); CAP_BPF to
    register it in the XSKMAP only where the kernel wants it for any use of a map."""
    caps = [CAP_NET_RAW]
    if resource.getrlimit(resource.RLIMIT_MEMLOCK)[0] != resource.RLIM_INFINITY:
        caps.append(CAP_IPC_LOCK)
    if map_use_needs_cap_bpf(xsks_map_fd):
        caps.append(CAP_BPF)
    return tuple(caps)


class UdpFallback:
    """Answers, in the control process, the datagrams the XDP program leaves to the kernel,
    with an engine (and counters) of its own: these are UDP queries, not TCP ones."""

    def __init__(self, publisher: Publisher) -> None:
        self.engine = publisher.engine()
        publisher.subscribe(self.engine.set_image)

    async def start(self, sockets: list[socket.socket]) -> None:
        loop = asyncio.get_running_loop()
        for sock in sockets:
            await loop.create_datagram_endpoint(lambda: _FallbackProtocol(self.engine), sock=sock)

    def counters(self) -> dict[str, int]:
        return dict(zip(COUNTERS, self.engine.counters()))


class _FallbackProtocol(asyncio.DatagramProtocol):
    def __init__(self, engine: _dataplane.Engine) -> None:
        self.engine = engine
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        reply = self.engine.answer(data, client=packed_address(addr[0]))
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


def _close_groups(groups: list[list[socket.socket]]) -> None:
    for group in groups:
        for sock in group:
            sock.close()
