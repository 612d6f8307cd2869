# SPDX-License-Identifier: MIT
"""A worker process: pinned to one CPU, it serves its endpoint from the published image.

Started by the supervisor as `python -P -m fastdns.worker --spec JSON` (fastdns/workerspec.py)
with its sockets passed as inherited file descriptors.  All per-packet work happens inside
the extension's run(), without the GIL; this module only maps images when the generation
changes.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import struct
import sys
from collections.abc import Callable
from types import ModuleType
from typing import NamedTuple, Protocol

from fastdns import _dataplane
from fastdns.privileges import drop_capabilities
from fastdns.rundir import image_path
from fastdns.workerspec import UdpEndpoint, WorkerSpec, XdpEndpoint

#: How long a worker blocked in recvmmsg waits before returning to Python (to notice a new
#: image while idle); seconds.
RECEIVE_TIMEOUT_S = 0.25



class DataPlaneWorker(Protocol):
    """What _dataplane.UdpWorker and _xdp.XdpWorker have in common (ext/core.pxi WorkerBase)."""

    @property
    def published_generation(self) -> int: ...
    @property
    def generation(self) -> int: ...
    def set_image(self, image: _dataplane.Image, generation: int) -> None: ...
    def run(self, max_batches: int = ...) -> int: ...


def _map_published(worker: DataPlaneWorker, run_dir: str) -> None:
    # The control process keeps the previous image file too, so the generation read here
    # still has its file unless two reloads overtook us: then read the generation again.
    for _ in range(100):
        generation = worker.published_generation
        try:
            image = _dataplane.Image(image_path(run_dir, generation))
        except FileNotFoundError:
            continue
        worker.set_image(image, generation)
        return
    raise RuntimeError(f"no image file for the published generation in {run_dir}")


def _set_receive_timeout(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                        struct.pack("@ll", 0, int(RECEIVE_TIMEOUT_S * 1_000_000)))
    finally:
        sock.detach()


def _open_udp(spec: WorkerSpec, endpoint: UdpEndpoint) -> DataPlaneWorker:
    for fd in endpoint.fds:
        _set_receive_timeout(fd)
    worker = _dataplane.UdpWorker(list(endpoint.fds), spec.udp_payload, spec.control_block, spec.slot,
                                  spec.control_size, spec.counters_offset)
    return worker


def _xdp_module() -> ModuleType:
    from fastdns import _xdp

    return _xdp


def _open_xdp(spec: WorkerSpec, endpoint: XdpEndpoint) -> DataPlaneWorker:
    _xdp = _xdp_module()
    try:
        worker = _xdp.XdpWorker(endpoint.interface, endpoint.queue, endpoint.xsks_map_fd, endpoint.mtu,
                                spec.udp_payload, spec.control_block, spec.control_size,
                                spec.counters_offset, endpoint.busy_poll)
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOBUFS):
            raise
        raise OSError(e.errno, f"{e.strerror}: {os.strerror(e.errno)} (an AF_XDP worker needs CAP_NET_RAW, "
                               "and CAP_IPC_LOCK or an unlimited RLIMIT_MEMLOCK: docs/privileges.md)") from None
    mode = "zero-copy" if worker.zero_copy else "copy"
    print(f"fastdns worker {spec.slot}: {endpoint.interface} queue {endpoint.queue} on CPU {spec.cpu}, "
          f"AF_XDP {mode} mode", file=sys.stderr, flush=True)
    return worker


class Transport(NamedTuple):
    module: Callable[[], ModuleType]  #: the extension whose loop (and stop flag) runs
    open: Callable  #: (spec, endpoint) -> DataPlaneWorker


#: Each kind of endpoint and how it becomes a running data-plane worker.
TRANSPORTS: dict[type, Transport] = {
    UdpEndpoint: Transport(lambda: _dataplane, _open_udp),
    XdpEndpoint: Transport(_xdp_module, _open_xdp),
}


def serve(spec: WorkerSpec) -> int:
    os.sched_setaffinity(0, {spec.cpu})
    transport = TRANSPORTS[type(spec.endpoint)]
    module = transport.module()
    module.install_stop_handler()  # the flag lives in the module whose loop runs
    module.set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != spec.parent:
        return 0  # the control process died before the death signal was armed
    worker = transport.open(spec, spec.endpoint)
    drop_capabilities()  # those it was started with served only to open the endpoint
    _map_published(worker, spec.run_dir)
    while True:
        status = worker.run()
        if status == module.STOP:
            return 0
        if worker.published_generation != worker.generation:
            _map_published(worker, spec.run_dir)


def main(argv: list[str] | None = None) -> int:
    return serve(WorkerSpec.from_argv(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
