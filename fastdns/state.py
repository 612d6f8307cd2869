# SPDX-License-Identifier: MIT
"""What a running server can say about itself: one read-only view of the zones, image,
workers and counters, which `fastdns status`, `fastdns stats` and the metrics endpoint all
read, so that they cannot disagree."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from fastdns.backends import Backend
from fastdns.config import ListenAddress
from fastdns.control import StatsReply, StatusReply, WorkerStatus, ZoneStatus
from fastdns.controlblock import ControlBlock
from fastdns.publisher import Publisher
from fastdns.reload import ServedZones
from fastdns.supervisor import Supervisor
from fastdns.tcp import TcpServer
from fastdns.transfer import Transfers


@dataclass
class StateView:
    listen: tuple[ListenAddress, ...]
    zones: ServedZones
    publisher: Publisher
    control: ControlBlock
    supervisor: Supervisor
    backend: Backend
    tcp: TcpServer
    started: float  #: time.time() of the start
    transfers: Transfers | None = None  #: the secondary zones' transfer state

    @property
    def generation(self) -> int:
        return self.publisher.generation

    def zone_serials(self) -> list[tuple[str, int]]:
        """(apex without the trailing dot, serial served) per zone."""
        return [(z.origin.to_text(True), z.serial) for z in self.zones.zones.values()]

    def signature_expiries(self) -> list[tuple[str, int]]:
        """(apex, seconds until its first RRSIG expires; negative: expired) per signed zone."""
        now = int(time.time())
        found = []
        for z in self.zones.zones.values():
            left = z.native.earliest_expiration(now & 0xFFFFFFFF)
            if left is not None:
                found.append((z.origin.to_text(True), left))
        return found

    def worker_counters(self) -> list[tuple[str, dict[str, int]]]:
        """(slot, counters) per worker, from the control block."""
        return [(str(w.slot), self.control.counters(w.slot)) for w in self.supervisor.workers]

    def counter_sources(self) -> list[tuple[str, dict[str, int]]]:
        """Every answering path's counters: the workers by slot, "tcp", and "fallback" (the
        UDP the control process answers itself with backend xdp)."""
        sources = self.worker_counters() + [("tcp", self.tcp.stats())]
        fallback = self.backend.fallback_counters()
        if fallback is not None:
            sources.append(("fallback", fallback))
        return sources

    def status(self) -> StatusReply:
        now = time.time()
        reply = StatusReply(
            ok=True, pid=os.getpid(), uptime=round(now - self.started, 1), generation=self.generation,
            listen=[str(a) for a in self.listen],
            zones=[ZoneStatus(zone=z.origin.to_text(True), serial=z.serial, file=z.filename)
                   for z in self.zones.zones.values()],
            workers=[WorkerStatus(slot=w.slot, cpu=w.cpu, pid=w.process.pid, queue=self.backend.queue(w.slot),
                                  alive=w.alive, restarts=w.restarts, uptime=round(now - w.started, 1))
                     for w in self.supervisor.workers],
        )
        expiries = dict(self.signature_expiries())
        secondaries = {s.origin.to_text(True): s for s in self.transfers.zones.values()} if self.transfers else {}
        for z in reply["zones"]:
            if z["zone"] in secondaries:
                z.update(secondaries[z["zone"]].status())
            if z["zone"] in expiries:
                z["signatures_expire_in"] = expiries[z["zone"]]
                z["signatures_expire_at"] = int(now) + expiries[z["zone"]]
        loading = self.zones.loading
        if loading is not None:
            reply["loading"] = loading.report()
        return reply

    def stats(self) -> StatsReply:
        reply = StatsReply(ok=True, total=self.control.totals(),
                           workers=[counts for _, counts in self.worker_counters()], tcp=self.tcp.stats())
        fallback = self.backend.fallback_counters()
        if fallback is not None:
            reply["fallback"] = fallback
        return reply
