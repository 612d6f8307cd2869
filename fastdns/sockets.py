# SPDX-License-Identifier: MIT
"""Kernel-socket backend setup: one SO_REUSEPORT UDP socket per worker and listen address,
steered so that a datagram goes to the socket of the worker pinned to the receiving CPU.

The control process creates and holds every socket, so a restarted worker inherits the
same socket at the same place in the reuseport group: its queue is never left dark and
the steering never reshuffles.
"""

from __future__ import annotations

import ctypes
import errno
import socket
import struct

from fastdns.config import ListenAddress
from fastdns.errors import ConfigError

SO_ATTACH_REUSEPORT_CBPF = 51  # <asm-generic/socket.h>
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32
SOCKET_BUFFER = 4 << 20  # bytes; absorbs bursts while a worker is between batches

# Classic BPF (<linux/filter.h>): load the receiving CPU, map it to a socket index.
_BPF_LD_W_ABS = 0x20
_BPF_LD_B_ABS = 0x30
_BPF_ALU_AND_K = 0x54
_BPF_JEQ_K = 0x15
_BPF_RET_K = 0x06
_BPF_ALU_MOD_K = 0x94
_BPF_RET_A = 0x16
_SKF_AD_CPU = -0x1000 + 36
_SOCK_FILTER = struct.Struct("HBBI")


#: the DNS header's third byte (QR, OPCODE) of a NOTIFY request: QR=0, OPCODE=4 (RFC 1996)
_NOTIFY_BITS, _NOTIFY_MASK = 0x20, 0xF8


def steering_program(cpus: tuple[int, ...], notify: bool = False) -> bytes:
    """cBPF returning the index (in the reuseport group) of the socket owned by the worker
    pinned to the CPU that received the datagram; other CPUs spread by CPU number.  With
    notify, a NOTIFY request goes to the socket after the workers' (the control process's
    for the secondary zones); the program sees the datagram from its UDP payload on."""
    insns = []
    if notify:
        insns += [(_BPF_LD_B_ABS, 0, 0, 2), (_BPF_ALU_AND_K, 0, 0, _NOTIFY_MASK),
                  (_BPF_JEQ_K, 0, 1, _NOTIFY_BITS), (_BPF_RET_K, 0, 0, len(cpus))]
    insns.append((_BPF_LD_W_ABS, 0, 0, _SKF_AD_CPU & 0xFFFFFFFF))
    for index, cpu in enumerate(cpus):
        insns.append((_BPF_JEQ_K, 0, 1, cpu))
        insns.append((_BPF_RET_K, 0, 0, index))
    insns.append((_BPF_ALU_MOD_K, 0, 0, len(cpus)))
    insns.append((_BPF_RET_A, 0, 0, 0))
    return b"".join(_SOCK_FILTER.pack(*insn) for insn in insns)


def _attach_steering(sock: socket.socket, cpus: tuple[int, ...], notify: bool) -> None:
    program = steering_program(cpus, notify)
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("@HP", len(program) // _SOCK_FILTER.size, ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)


def _grow_buffers(sock: socket.socket) -> None:
    for force, plain in ((SO_RCVBUFFORCE, socket.SO_RCVBUF), (SO_SNDBUFFORCE, socket.SO_SNDBUF)):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force, SOCKET_BUFFER)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, plain, SOCKET_BUFFER)  # capped by sysctl


def open_udp_group(address: ListenAddress, cpus: tuple[int, ...], notify: bool = False) -> list[socket.socket]:
    """Bind one socket per worker to address, in worker order, steered by CPU; with notify,
    one more after them, which NOTIFY requests go to (steering_program).

    :raises ConfigError: when the address cannot be bound (in use, not local, ...).
    """
    sockets: list[socket.socket] = []
    try:
        for index in range(len(cpus) + (1 if notify else 0)):
            sock = socket.socket(address.family, socket.SOCK_DGRAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if address.family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            _grow_buffers(sock)
            sock.bind((address.host, address.port))
            if index == 0:
                _attach_steering(sock, cpus, notify)
    except OSError as e:
        for sock in sockets:
            sock.close()
        reason = "address in use (another server?)" if e.errno == errno.EADDRINUSE else e.strerror
        raise ConfigError(f"listen {address}: cannot bind UDP: {reason}") from None
    return sockets
