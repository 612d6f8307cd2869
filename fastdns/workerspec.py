# SPDX-License-Identifier: MIT
"""What a worker process is told when it starts: one WorkerSpec, written into its command
line by the supervisor and read back by the worker entry (fastdns/worker.py).

The spec travels as one JSON argument, so the two sides share this definition and nothing
else: no argv built in one file and re-declared in another.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

SPEC_OPTION = "--spec"


@dataclass(frozen=True)
class UdpEndpoint:
    """Kernel sockets: the worker's socket in each address's SO_REUSEPORT group."""

    kind: ClassVar[str] = "udp"
    fds: tuple[int, ...]  #: inherited file descriptors, one per listen address

    def pass_fds(self) -> tuple[int, ...]:
        return self.fds


@dataclass(frozen=True)
class XdpEndpoint:
    """AF_XDP: the RX queue the worker opens its socket on, and the XSKMAP to register in."""

    kind: ClassVar[str] = "xdp"
    interface: str
    queue: int  #: NIC RX queue
    xsks_map_fd: int  #: inherited file descriptor of the XDP program's XSKMAP
    mtu: int  #: of the interface, bytes: replies beyond it are truncated
    busy_poll: bool  #: spin on the rings instead of sleeping when idle

    def pass_fds(self) -> tuple[int, ...]:
        return (self.xsks_map_fd,)


Endpoint = UdpEndpoint | XdpEndpoint
ENDPOINTS: dict[str, type[UdpEndpoint] | type[XdpEndpoint]] = {e.kind: e for e in (UdpEndpoint, XdpEndpoint)}


@dataclass(frozen=True)
class WorkerSpec:
    slot: int  #: worker index: its counter slot and its place in each socket group
    cpu: int  #: the CPU it is pinned to
    run_dir: str  #: where image.<generation> files are published
    control_block: str  #: path of the control block
    control_size: int  #: bytes of the control block
    counters_offset: int  #: offset of this worker's counter slot in the control block
    udp_payload: int  #: our EDNS UDP payload size
    parent: int  #: pid of the control process: the worker exits when it is gone
    endpoint: Endpoint

    def command(self, wrapper: list[str] | None = None) -> list[str]:
        """The worker's command line.  `-P`: the working directory is not put on sys.path,
        so a `fastdns/` source folder there cannot shadow the installed package."""
        return [*(wrapper or []), sys.executable, "-P", "-m", "fastdns.worker", *self.to_argv()]

    def pass_fds(self) -> tuple[int, ...]:
        return self.endpoint.pass_fds()

    def to_argv(self) -> list[str]:
        fields = asdict(self)
        fields["endpoint"] = {"kind": self.endpoint.kind, **fields["endpoint"]}
        return [SPEC_OPTION, json.dumps(fields, separators=(",", ":"))]

    @classmethod
    def from_argv(cls, argv: list[str]) -> WorkerSpec:
        """:raises ValueError: the arguments are not one spec written by to_argv."""
        if len(argv) != 2 or argv[0] != SPEC_OPTION:
            raise ValueError(f"usage: fastdns.worker {SPEC_OPTION} JSON (started by fastdns serve)")
        try:
            fields: dict[str, Any] = json.loads(argv[1])
            endpoint = dict(fields.pop("endpoint"))
            endpoint_type = ENDPOINTS[endpoint.pop("kind")]
            if endpoint_type is UdpEndpoint:
                endpoint["fds"] = tuple(endpoint["fds"])
            return cls(**fields, endpoint=endpoint_type(**endpoint))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(f"fastdns.worker: not a worker spec: {e}") from None
