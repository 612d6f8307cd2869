# SPDX-License-Identifier: MIT
"""sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET, when systemd set it."""

from __future__ import annotations

import os
import socket


def notify(*states: str) -> bool:
    """Send states such as "READY=1" to systemd; False when not run by systemd (Type=notify)."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    address = "\0" + path[1:] if path.startswith("@") else path  # '@': abstract namespace
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        try:
            sock.sendto("\n".join(states).encode(), address)
        except OSError:
            return False
    return True
