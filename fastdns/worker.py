# SPDX-License-Identifier: MIT
"""A worker process: pinned to one CPU, it serves its sockets from the published image.

Started by the control process as `python -m fastdns.worker ...` with its sockets passed
as inherited file descriptors.  All per-packet work happens inside UdpWorker.run, without
the GIL; this module only maps images when the generation changes.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import struct
import sys

from fastdns import _dataplane


def image_path(run_dir: str, generation: int) -> str:
    return os.path.join(run_dir, f"image.{generation}")


def _map_published(worker: _dataplane.UdpWorker, run_dir: str) -> None:
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


#: How long a worker blocked in recvmmsg waits before returning to Python (to notice a new
#: image while idle); seconds.
RECEIVE_TIMEOUT_S = 0.25


def _set_receive_timeout(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                        struct.pack("@ll", 0, int(RECEIVE_TIMEOUT_S * 1_000_000)))
    finally:
        sock.detach()


def _backend_module(name: str):  # -> the fastdns._dataplane or fastdns._xdp module
    if name == "xdp":
        from fastdns import _xdp

        return _xdp
    return _dataplane


def _open_backend(args: argparse.Namespace):  # -> UdpWorker | XdpWorker
    if args.backend == "xdp":
        from fastdns import _xdp

        worker = _xdp.XdpWorker(args.ifname, args.queue, args.xsks_map_fd, args.mtu,
                                args.udp_payload, args.control_block, args.control_size,
                                args.counters_offset, args.busy_poll)
        mode = "zero-copy" if worker.zero_copy else "copy"
        print(f"fastdns worker {args.slot}: {args.ifname} queue {args.queue} on CPU {args.cpu}, "
              f"AF_XDP {mode} mode", file=sys.stderr, flush=True)
        return worker
    for fd in args.fd:
        _set_receive_timeout(fd)
    return _dataplane.UdpWorker(args.fd, args.udp_payload, args.control_block, args.slot,
                                args.control_size, args.counters_offset)


def serve(args: argparse.Namespace) -> int:
    os.sched_setaffinity(0, {args.cpu})
    backend = _backend_module(args.backend)
    backend.install_stop_handler()  # the flag lives in the module whose loop runs
    backend.set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != args.parent:
        return 0  # the control process died before the death signal was armed
    worker = _open_backend(args)
    _map_published(worker, args.run_dir)
    while True:
        status = worker.run()
        if status == backend.STOP:
            return 0
        if worker.published_generation != worker.generation:
            _map_published(worker, args.run_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fastdns.worker")
    parser.add_argument("--slot", type=int, required=True, help="worker index")
    parser.add_argument("--cpu", type=int, required=True)
    parser.add_argument("--backend", choices=("udp", "xdp"), default="udp")
    parser.add_argument("--fd", type=int, action="append", default=[], help="udp: sockets")
    parser.add_argument("--ifname", help="xdp: interface")
    parser.add_argument("--queue", type=int, help="xdp: RX queue")
    parser.add_argument("--xsks-map-fd", type=int, help="xdp: the XSKMAP to register in")
    parser.add_argument("--mtu", type=int, default=1500, help="xdp: interface MTU")
    parser.add_argument("--busy-poll", action="store_true", help="xdp: spin when idle")
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("--control-block", required=True)
    parser.add_argument("--control-size", type=int, required=True)
    parser.add_argument("--counters-offset", type=int, required=True)
    parser.add_argument("--udp-payload", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    return serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
