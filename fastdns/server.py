# SPDX-License-Identifier: MIT
"""The control process: puts the rooms together and runs them.

    rundir.py       lock, image paths, control block, socket, cleanup
    reload.py       the served zones: loaded, re-read when they change
    publisher.py    compile, write, check, publish; tells TCP and the fallback
    backends.py     kernel sockets or AF_XDP: what each worker serves
    supervisor.py   one worker process per CPU, restarted when it dies
    control.py      the control socket: reload, status, stats
    state.py        what status, stats and metrics read

It never touches a DNS packet: the workers answer from the image it publishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from typing import Any

import dns.name

from fastdns import systemd
from fastdns._compiler import NativeZone
from fastdns.backends import Backend, backend_for
from fastdns.catalog import member_config, member_of
from fastdns.catalog import members as catalog_members
from fastdns.config import Config, ZoneConfig, zone_origin
from fastdns.control import ControlServer, ReloadReply, StatsReply, StatusReply, reload_report
from fastdns.errors import FastDNSError
from fastdns.host import Placement
from fastdns.policy import Policy
from fastdns.privileges import drop_privileges, keep_capabilities
from fastdns.publisher import CompileOptions, Publisher
from fastdns.reload import ServedZones
from fastdns.rundir import RunDir
from fastdns.state import StateView
from fastdns.supervisor import Supervisor, spawn_worker
from fastdns.tcp import TcpServer, open_tcp_listener
from fastdns.transfer import (
    Transfers,
    fetch_missing,
    first_copy,
    listen_for_notify,
    notify_keyring,
    open_notify_sockets,
)
from fastdns.workerspec import WorkerSpec
from fastdns.xfrout import TransfersOut, notify_secondaries

log = logging.getLogger("fastdns")
SOA = 6


class Server:
    """One fastdns appliance instance, as configured and placed on this machine."""

    def __init__(self, config: Config, placement: Placement) -> None:
        self.config = config
        self.placement = placement
        self.run_dir = RunDir(config.run_dir, config.control_socket)
        self.zones = ServedZones(config.zones, config.path)
        self.backend: Backend = backend_for(config, placement)
        self.supervisor = Supervisor(placement.cpus, self.spawn)
        self.publisher: Publisher | None = None
        self.tcp: TcpServer | None = None
        self.tcp_sockets: list[socket.socket] = []
        self.state: StateView | None = None
        self.transfers: Transfers | None = None
        self.notify_sockets: list[socket.socket] = []
        self._notifying: set[asyncio.Task[dict[str, str]]] = set()
        self.started = time.time()
        self.policy = Policy(config.rate_limit, config.cookies, len(placement.cpus))

    # -- start-up --------------------------------------------------------------------------

    def prepare(self) -> None:
        """Everything that can fail on bad input, before any worker starts.

        :raises FastDNSError: a zone does not load, the run directory is taken, or a listen
            address or the interface cannot be used.
        """
        try:
            self._prepare()
        except BaseException:
            self.cleanup()
            raise

    def _prepare(self) -> None:
        cfg = self.config
        self.run_dir.lock()
        control = self.run_dir.open_control_block(len(self.placement.cpus))
        options = CompileOptions(cfg.version, cfg.identity, cfg.minimal_responses)
        publisher = self.publisher = Publisher(self.run_dir, control, options, cfg.udp_payload,
                                               readers=self._worker_pids)
        publisher.set_policy(self.policy.packed())  # before the first image: workers take it
        # What needs privileges first: the service sockets and the XDP program.  Then they
        # are dropped (docs/privileges.md), before any zone file is read or primary asked.
        self.backend.open()
        self.tcp_sockets = [open_tcp_listener(address) for address in cfg.listen]
        self.notify_sockets = open_notify_sockets(cfg.notify_listen)
        if cfg.user is not None:  # the workers' capabilities kept for them
            drop_privileges(cfg.user, self.run_dir, self.backend.worker_capabilities)
        else:
            keep_capabilities(self.backend.worker_capabilities)
        fetch_missing(cfg.zones, self.zones.preloaded)  # a secondary zone without a copy: transferred first
        self.zones.configured = cfg.zones + self._catalog_members(cfg.zones)
        self.zones.start(publisher)
        self.transfers = Transfers(self.zones.configured, self._soa_of, self._reload_zones, self._set_expired,
                                   self._transferred, self.zones.preloaded)
        tcp = self.tcp = TcpServer(publisher.engine(), cfg.tcp_idle_timeout, cfg.tcp_max_connections,
                                   TransfersOut(self._zone_to_transfer, cfg.tsig))
        publisher.subscribe(tcp.engine.set_image)  # TCP switches with the workers
        self.zones.on_replaced = lambda _, old, new: tcp.transfers.record_change(old.origin, old.native, new.native) \
            if tcp.transfers is not None else None
        self.state = StateView(cfg.listen, self.zones, publisher, control, self.supervisor, self.backend,
                               tcp, self.started, self.transfers)

    def _worker_pids(self) -> list[int]:
        return [w.process.pid for w in self.supervisor.workers]

    def spawn(self, slot: int) -> subprocess.Popen[bytes]:
        """Start the worker of slot: its CPU, counters and the backend's endpoint."""
        control = self.run_dir.control
        assert control is not None
        spec = WorkerSpec(slot=slot, cpu=self.placement.cpus[slot], run_dir=self.run_dir.path,
                          control_block=control.path, control_size=control.size,
                          counters_offset=control.counters_offset(slot), udp_payload=self.config.udp_payload,
                          parent=os.getpid(), endpoint=self.backend.endpoint(slot))
        return spawn_worker(spec)

    # -- running ---------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit code."""
        try:
            asyncio.run(self._main())
        finally:
            self.cleanup()
        return 0

    async def _main(self) -> None:
        assert self.publisher is not None and self.tcp is not None and self.state is not None
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self._reload_logged()))
        self.run_dir.remove_stale_socket()
        control = ControlServer(self.config.control_socket, self)
        await control.start()
        await self.tcp.start(self.tcp_sockets)
        await self.backend.start(self.publisher)
        if self.config.metrics is not None:
            self._start_metrics()
        self.supervisor.start()
        supervising = loop.create_task(self.supervisor.run())
        spare = loop.create_task(self.zones.make_spare(self.publisher))
        notify: list[asyncio.BaseTransport | asyncio.Server] = []
        if self.transfers is not None:
            self.transfers.start()
            notify = await listen_for_notify(self.notify_sockets + self.backend.notify_sockets(), self.transfers,
                                             self.config.tsig)
            transfers, keyring = self.transfers, notify_keyring(self.config.tsig)
            self.tcp.notify = lambda wire, peer: transfers.notify(wire, peer, keyring)
        systemd.notify("READY=1", f"STATUS=serving {len(self.zones.zones)} zones with "
                                  f"{len(self.supervisor.workers)} workers", f"MAINPID={os.getpid()}")
        described = self.backend.describe()
        if described:
            log.info("%s", described)
        log.info("serving %s on %s with %d workers (CPUs %s)", _zones_line(self.state.zone_serials()),
                 ", ".join(map(str, self.config.listen)), len(self.supervisor.workers),
                 ", ".join(map(str, self.placement.cpus)))
        await stop.wait()
        log.info("stopping")
        systemd.notify("STOPPING=1")
        supervising.cancel()
        spare.cancel()
        if self.transfers is not None:
            self.transfers.stop()
        for transport in notify:
            transport.close()
        control.close()
        self.tcp.close()
        await self.supervisor.stop()

    def _start_metrics(self) -> None:
        from fastdns.metrics import start_metrics

        address = self.config.metrics
        assert address is not None and self.state is not None
        try:
            start_metrics(self.state, address.host, address.port)
        except OSError as e:
            raise FastDNSError(f"metrics {address}: cannot serve HTTP: {e.strerror}") from None
        log.info("Prometheus metrics on http://%s/metrics", str(address).replace("@", ":"))

    def cleanup(self) -> None:
        """Close sockets, detach the backend (after the workers), and clear the run directory."""
        for sock in self.tcp_sockets + self.notify_sockets:
            sock.close()
        self.backend.close()
        generations = self.publisher.kept_generations() if self.publisher is not None else ()
        self.run_dir.cleanup(generations)

    # -- the control socket's commands (control.Handlers) ----------------------------------

    async def reload(self, zones: list[str] | None) -> ReloadReply:
        """`fastdns reload`: the cookie secrets rotated, then the zones reloaded."""
        assert self.publisher is not None
        generation = self.publisher.generation
        try:
            self.policy.rotate()
            rotated = None
        except FastDNSError as e:
            rotated = f"cookie secrets kept: {e}"
        self.publisher.set_policy(self.policy.packed())
        try:
            reply = await self._reload(zones)
        finally:
            if self.publisher.generation == generation:
                self.publisher.republish()  # no zone changed: the workers still take the new secret
        if rotated is not None:
            log.error("reload: %s", rotated)
            reply["ok"] = False
            reply.setdefault("errors", []).append(rotated)
        return reply

    async def _reload(self, zones: list[str] | None) -> ReloadReply:
        """Re-read the zones (all, or those named), publish, and NOTIFY the secondaries of
        the zones that changed."""
        assert self.publisher is not None
        reply = await self.zones.reload(zones, self.publisher)
        self._notify_changed(reply)
        return reply

    def _notify_changed(self, reply: ReloadReply) -> None:
        by_name = {z.name: z for z in self.config.zones}
        for change in reply.get("changes", []):
            zone = by_name.get(change["zone"])
            if change["changed"] and zone is not None and zone.notify:
                task = asyncio.get_running_loop().create_task(notify_secondaries(zone, change["new_serial"]))
                self._notifying.add(task)  # held until done: the loop keeps only weak references
                task.add_done_callback(self._notifying.discard)

    def status(self) -> StatusReply:
        assert self.state is not None
        return self.state.status()

    async def transfer(self, zone: str) -> dict[str, Any]:
        assert self.transfers is not None
        secondary = self.transfers.find(zone)
        if secondary is None:
            return {"ok": False, "errors": [f"{zone}: not a secondary zone of {self.config.path}"]}
        return {"ok": True, **await self.transfers.check(secondary)}

    async def _reload_zones(self, names: list[str]) -> dict[str, Any]:
        return dict(await self._reload(names))  # a transfer's: the cookie secrets stay

    def _zone_to_transfer(self, origin: dns.name.Name) -> tuple[ZoneConfig, NativeZone] | None:
        """The zone served at origin, for a transfer out, with its configuration."""
        for zone in self.config.zones:
            if zone_origin(zone.name) == origin:
                served = self.zones.zones.get(zone.name)
                return (zone, served.native) if served is not None else None
        return None

    def _catalog_members(self, configured: tuple[ZoneConfig, ...]) -> tuple[ZoneConfig, ...]:
        """At start: the member zones of the catalogs' copies, each with a copy (transferred
        now when it has none; one no primary gives is left for the next catalog check)."""
        taken = {zone_origin(z.name) for z in configured}
        found: list[ZoneConfig] = []
        for catalog in (z for z in configured if z.catalog):
            for name in catalog_members(catalog):
                member = member_config(catalog, name)
                if zone_origin(name) in taken:
                    continue
                if not os.path.exists(member.file):
                    failed = first_copy(member, self.zones.preloaded)
                    if failed is not None:
                        log.warning("catalog %s: member %s left out for now: %s", catalog.name, name, failed)
                        continue
                taken.add(zone_origin(name))
                found.append(member)
        return tuple(found)

    async def _transferred(self, zone: ZoneConfig) -> None:
        """A zone was transferred: a catalog's members follow it (RFC 9432 5)."""
        if zone.catalog:
            await self._follow_catalog(zone)

    async def _follow_catalog(self, catalog: ZoneConfig) -> None:
        """Serve the zones the catalog lists now, and only those of it."""
        assert self.publisher is not None and self.transfers is not None
        configured = self.zones.configured
        current = {z.name: z for z in configured if member_of(z, catalog)}
        others = {zone_origin(z.name) for z in configured if z.name not in current}
        wanted = [member_config(catalog, m) for m in catalog_members(catalog) if zone_origin(m) not in others]
        added = [m for m in wanted if m.name not in current]
        removed = [z for name, z in current.items() if name not in {m.name for m in wanted}]
        if not added and not removed:
            return
        ready = []
        for member in added:
            failed = await asyncio.to_thread(first_copy, member, self.zones.preloaded) \
                if not os.path.exists(member.file) else None
            if failed is None:
                ready.append(member)
            else:
                log.warning("catalog %s: member %s not added yet: %s", catalog.name, member.name, failed)
        gone = {z.name for z in removed}
        errors = await self.zones.update_set(tuple(z for z in configured if z.name not in gone) + tuple(ready),
                                             self.publisher)
        for error in errors:
            log.error("catalog %s: %s", catalog.name, error)
        for member in ready:
            if member.name in self.zones.zones:
                self.transfers.add(member)
                log.info("catalog %s: member %s added (serial %d)", catalog.name, member.name,
                         self.zones.zones[member.name].serial)
        for zone in removed:
            self.transfers.remove(zone.name)
            for path in (zone.file, zone.file + ".timers"):
                with contextlib.suppress(OSError):
                    os.unlink(path)
            log.info("catalog %s: member %s removed", catalog.name, zone.name)

    async def _set_expired(self, name: str, expired: bool) -> None:
        assert self.publisher is not None
        await self.zones.set_expired(name, expired, self.publisher)

    def _soa_of(self, name: str) -> bytes | None:
        zone = self.zones.zones.get(name)
        found = zone.native.apex_rdata(SOA) if zone is not None else None
        return found[0] if found is not None else None

    def stats(self) -> StatsReply:
        assert self.state is not None
        return self.state.stats()

    async def _reload_logged(self) -> None:
        reply = await self.reload(None)
        for line in reload_report(reply):
            (log.info if reply["ok"] else log.error)("reload: %s", line)


#: zones named one by one in the "serving" line; a hoster's thousands are counted
LOGGED_ZONES = 10


def _zones_line(serials: list[tuple[str, int]]) -> str:
    named = ", ".join(f"{zone} serial {serial}" for zone, serial in serials[:LOGGED_ZONES])
    more = len(serials) - LOGGED_ZONES
    return f"{len(serials)} zones: {named} and {more} more" if more > 0 else named
