# SPDX-License-Identifier: MIT
"""A network namespace joined to the host by a veth pair with two queues each way, for
the tests that run the AF_XDP backend (addresses in 198.18.0.0/15 and 2001:2::/48 only)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class VethNetwork:
    ns: str  #: the namespace the clients run in
    host_if: str
    ns_if: str
    host_v4: str  #: /30 with ns_v4
    ns_v4: str
    host_v6: str | None = None  #: /64 with ns_v6
    ns_v6: str | None = None

    def in_ns(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *cmd]

    def teardown(self) -> None:
        _ip("netns", "del", self.ns, check=False)
        _ip("link", "del", self.host_if, check=False)

    @contextmanager
    def up(self) -> Iterator[None]:
        """Build it (removing leftovers of an interrupted run first), and remove it after;
        skip the test where this machine cannot (not root, no iproute2, no veth)."""
        if os.geteuid() != 0:
            pytest.skip("needs root for network namespaces and XDP")
        if shutil.which("ip") is None:
            pytest.skip("iproute2 is not installed")
        self.teardown()
        try:
            _ip("netns", "add", self.ns)
            _ip("link", "add", self.host_if, "numtxqueues", "2", "numrxqueues", "2", "type", "veth", "peer",
                "name", self.ns_if, "numtxqueues", "2", "numrxqueues", "2", "netns", self.ns)
            _ip("addr", "add", f"{self.host_v4}/30", "dev", self.host_if)
            if self.host_v6:
                _ip("-6", "addr", "add", f"{self.host_v6}/64", "dev", self.host_if, "nodad")
            _ip("link", "set", self.host_if, "up")
            _ip("netns", "exec", self.ns, "ip", "addr", "add", f"{self.ns_v4}/30", "dev", self.ns_if)
            if self.ns_v6:
                _ip("netns", "exec", self.ns, "ip", "-6", "addr", "add", f"{self.ns_v6}/64", "dev", self.ns_if,
                    "nodad")
            _ip("netns", "exec", self.ns, "ip", "link", "set", self.ns_if, "up")
            _ip("netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
        except subprocess.CalledProcessError as e:
            self.teardown()
            pytest.skip(f"cannot build the test network here: {e.stderr.strip()}")
        try:
            yield
        finally:
            self.teardown()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)
