# SPDX-License-Identifier: MIT
"""The served zones: loaded from their files at start-up, re-read when they change on
disk, and published through the Publisher.  A zone that fails to load keeps its previous
version serving; the reply says which file, line and reason.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dns.name

from fastdns import _zonefile
from fastdns.config import ZoneConfig
from fastdns.control import ReloadReply, ZoneChange
from fastdns.errors import FastDNSError, ZoneError
from fastdns.progress import LoadProgress
from fastdns.publisher import Publisher
from fastdns.zone import NativeLoadedZone, load_native_zone

#: threads that read zone files at start-up: the records after a file's header are read
#: without the GIL (fastdns._zonefile.parse_text), so a hoster's thousands of zones load
#: on every CPU; nothing is served yet, so the workers lose nothing
LOAD_THREADS = 4

#: zones a load thread reads per task: a task per zone costs two thread switches, as much
#: as reading a small zone
LOAD_BATCH = 64

#: nice value of the thread that loads and compiles zones on reload: a long compile shares
#: a CPU with a worker, and the worker must win.
COMPILE_NICE = 10


class ServedZones:
    """The configured zones and the versions of them being served."""

    def __init__(self, configured: tuple[ZoneConfig, ...], config_path: str) -> None:
        self.configured = configured
        self.config_path = config_path
        self.zones: dict[str, NativeLoadedZone] = {}  #: by configured name, as published
        self.loading: LoadProgress | None = None  #: the reload under way, if any
        self.expired: set[str] = set()  #: secondary zones past their SOA EXPIRE: answered SERVFAIL
        #: zones already read from their files (a transfer checks what it wrote): taken by the
        #: next load of that zone instead of reading the file again, if it is unchanged
        self.preloaded: dict[str, NativeLoadedZone] = {}
        #: told of each zone a reload replaced, once published (name, old, new): for IXFR out
        self.on_replaced: Callable[[str, NativeLoadedZone, NativeLoadedZone], None] | None = None
        self._lock = asyncio.Lock()

    def load_all(self, progress: LoadProgress) -> dict[str, NativeLoadedZone]:
        """Load every zone file, for start-up: nothing is served yet.

        :raises FastDNSError: listing every zone that failed (file:line: reason).
        """
        zones, errors = {}, []
        batches = [self.configured[i:i + LOAD_BATCH] for i in range(0, len(self.configured), LOAD_BATCH)]
        threads = min(LOAD_THREADS, len(os.sched_getaffinity(0)), len(batches))
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="fastdns-load") as pool:
            for batch in pool.map(self._try_read_all, batches):
                for zc, loaded, seconds in batch:
                    if isinstance(loaded, ZoneError):
                        errors.append(str(loaded))
                        continue
                    progress.parsing(zc.name)  # this thread alone writes the progress
                    progress.parsed(zc.name, loaded.record_count, seconds)
                    zones[zc.name] = loaded
        if errors:
            raise FastDNSError("\n".join(errors))
        return zones

    def start(self, publisher: Publisher) -> None:
        """Load and publish generation 1."""
        publisher.progress = LoadProgress()
        gc.disable()  # a few objects per zone, none freed: a collection would only rescan them
        try:
            zones = self.load_all(publisher.progress)
            publisher.publish(zones.values(), self.expired_origins(zones))
        finally:
            gc.enable()
        self.zones = zones

    async def reload(self, names: list[str] | None, publisher: Publisher) -> ReloadReply:
        """Reload on a daemon thread, one reload at a time: a compile of minutes neither
        blocks the control socket nor holds up the process when SIGTERM stops it halfway."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[ReloadReply] = loop.create_future()

            def work() -> None:
                try:
                    result = self.reload_sync(names, publisher)
                except Exception as e:  # reported to the client, never lost in a thread
                    result = ReloadReply(ok=False, errors=[f"reload failed: {e}"], changes=[])
                loop.call_soon_threadsafe(_resolve, done, result)

            threading.Thread(target=work, name="fastdns-reload", daemon=True).start()
            return await done

    async def make_spare(self, publisher: Publisher) -> None:
        """publisher.make_spare, one at a time with reloads, on a daemon thread at the
        reload's low priority: the workers answer meanwhile."""
        async with self._lock:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[None] = loop.create_future()

            def work() -> None:
                _lower_thread_priority()
                try:
                    publisher.make_spare()
                    _zonefile.trim_heap()  # what the start's load and compile freed, once serving
                finally:
                    loop.call_soon_threadsafe(_resolve, done, None)

            threading.Thread(target=work, name="fastdns-spare", daemon=True).start()
            await done

    def reload_sync(self, names: list[str] | None, publisher: Publisher) -> ReloadReply:
        """Re-read the zone files that changed on disk and publish the result."""
        _lower_thread_priority()
        self.loading = publisher.progress = LoadProgress()
        try:
            return self._reload(names, publisher, self.loading)
        finally:
            self.loading = None
            _zonefile.trim_heap()  # the new image is published: what its compile freed goes back

    def _reload(self, names: list[str] | None, publisher: Publisher, progress: LoadProgress) -> ReloadReply:
        started = time.monotonic()
        try:
            wanted = self._select(names)
        except FastDNSError as e:
            return ReloadReply(ok=False, errors=[str(e)], changes=[])
        zones = dict(self.zones)
        changes: list[ZoneChange] = []
        errors: list[str] = []
        for zc in wanted:
            old = self.zones[zc.name]
            if old.file_unchanged():
                changes.append(ZoneChange(zone=zc.name, old_serial=old.serial, new_serial=old.serial,
                                          changed=False))
                continue
            try:
                new = self._take_preloaded(zc) or _load(zc, progress, old)
            except ZoneError as e:
                errors.append(f"{e} ({zc.name} keeps serving serial {old.serial})")
                continue
            changed = not new.same_content(old)
            changes.append(ZoneChange(zone=zc.name, old_serial=old.serial, new_serial=new.serial,
                                      changed=changed))
            if changed:
                zones[zc.name] = new
            else:  # touched, same content: remember the file as it is now, and skip it next time
                old.mtime_ns, old.size = new.mtime_ns, new.size
        if any(c["changed"] for c in changes):
            try:
                publisher.publish(zones.values(), self.expired_origins(zones))
            except (FastDNSError, ValueError) as e:
                return ReloadReply(ok=False, errors=errors + [f"compile failed, nothing changed: {e}"],
                                   changes=[])
            replaced = [(name, self.zones[name], zone) for name, zone in zones.items()
                        if name in self.zones and self.zones[name] is not zone]
            self.zones = zones
            for name, old_zone, new_zone in replaced:
                if self.on_replaced is not None:
                    self.on_replaced(name, old_zone, new_zone)
        return ReloadReply(ok=not errors, changes=changes, errors=errors, generation=publisher.generation,
                           seconds=round(time.monotonic() - started, 3),
                           compile=publisher.last_compile.as_dict())

    def _take_preloaded(self, zc: ZoneConfig) -> NativeLoadedZone | None:
        loaded = self.preloaded.pop(zc.name, None)
        return loaded if loaded is not None and loaded.file_unchanged() else None

    def _try_read_all(self, batch: tuple[ZoneConfig, ...]
                      ) -> list[tuple[ZoneConfig, NativeLoadedZone | ZoneError, float]]:
        return [(zc, loaded, 0.0) if (loaded := self._take_preloaded(zc)) is not None else _try_read(zc)
                for zc in batch]

    def expired_origins(self, zones: dict[str, NativeLoadedZone] | None = None) -> frozenset[dns.name.Name]:
        zones = self.zones if zones is None else zones
        return frozenset(zones[name].origin for name in self.expired if name in zones)

    async def update_set(self, configured: tuple[ZoneConfig, ...], publisher: Publisher) -> list[str]:
        """Serve these zones from now on: those new to the set loaded from their files, those
        gone dropped, and the result published; returns the zones that failed to load
        (they are left out)."""
        async with self._lock:

            def work() -> tuple[dict[str, NativeLoadedZone], list[str]]:
                zones = {zc.name: self.zones[zc.name] for zc in configured if zc.name in self.zones}
                errors = []
                for zc in configured:
                    if zc.name not in zones:
                        try:
                            zones[zc.name] = self._take_preloaded(zc) or load_native_zone(zc.name, zc.file)
                        except ZoneError as e:
                            errors.append(str(e))
                publisher.publish(zones.values(), self.expired_origins(zones))
                return zones, errors

            zones, errors = await asyncio.to_thread(work)
            self.zones = zones
            self.configured = tuple(zc for zc in configured if zc.name in zones)
            self.expired &= set(zones)
            return errors

    async def set_expired(self, name: str, expired: bool, publisher: Publisher) -> None:
        """Answer SERVFAIL for the zone (expired), or its data again; published at once,
        one at a time with reloads."""
        if (name in self.expired) == expired:
            return
        async with self._lock:
            (self.expired.add if expired else self.expired.discard)(name)
            await asyncio.to_thread(publisher.publish, self.zones.values(), self.expired_origins())

    def _select(self, names: list[str] | None) -> tuple[ZoneConfig, ...]:
        if names is None:
            return self.configured
        known = {_canonical(z.name): z for z in self.configured}
        unknown = [n for n in names if _canonical(n) not in known]
        if unknown:
            raise FastDNSError(f"{unknown[0]}: no such zone in {self.config_path}")
        return tuple(known[_canonical(n)] for n in names)


def _try_read(zc: ZoneConfig) -> tuple[ZoneConfig, NativeLoadedZone | ZoneError, float]:
    """One zone of a start-up load (on a pool thread): the zone or its error, and seconds."""
    started = time.monotonic()
    try:
        return zc, load_native_zone(zc.name, zc.file), time.monotonic() - started
    except ZoneError as e:
        return zc, e, time.monotonic() - started


def _load(zc: ZoneConfig, progress: LoadProgress, previous: NativeLoadedZone | None = None) -> NativeLoadedZone:
    progress.parsing(zc.name)
    started = time.monotonic()
    zone = load_native_zone(zc.name, zc.file, previous)
    progress.parsed(zc.name, zone.record_count, time.monotonic() - started)
    return zone


def _resolve(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():  # the loop may be stopping: the future cancelled
        future.set_result(result)


def _lower_thread_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), COMPILE_NICE)
    except OSError:
        pass  # not permitted here: compile at normal priority


def _canonical(name: str) -> str:
    return name.lower().rstrip(".")
