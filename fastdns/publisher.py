# SPDX-License-Identifier: MIT
"""Publishing: compile zones into an image, write it beside the published one, read it back
as a worker will, then make it the generation every reader answers from.

Readers are the workers (through the control block's generation word) and the engines of
the control process (TCP, the UDP fallback of backend xdp), which subscribe here.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import dns.name

from fastdns import _dataplane, image
from fastdns.compiler import CompileResult, compile_zones
from fastdns.controlblock import ControlBlock
from fastdns.errors import FastDNSError
from fastdns.nativecompiler import CompiledImage, NativeUnsupported, compile_native
from fastdns.progress import LoadProgress
from fastdns.rundir import RunDir, unlink_quietly
from fastdns.zone import NativeLoadedZone, load_zone

log = logging.getLogger("fastdns")

Subscriber = Callable[[_dataplane.Image], None]


@dataclass(frozen=True)
class CompileOptions:
    """What the configuration adds to every image, beside the zones."""

    version: str | None = None  #: CH TXT version.bind; None refuses
    identity: str | None = None  #: CH TXT id.server; None refuses
    minimal_responses: bool = True


def _answers_soa(engine: _dataplane.Engine, origin: dns.name.Name) -> bool:
    """The engine answers origin SOA (no EDNS) with NOERROR, AA and an answer: read from the
    reply's header (RFC 1035 4.1.1); thousands of zones are checked at each publish."""
    wire = origin.to_wire()
    assert wire is not None  # to_wire returns None only when given a file to write to
    query = SOA_QUERY_HEADER + wire + SOA_IN
    reply = engine.answer(query)
    return (reply is not None and len(reply) >= 12 and reply[3] & 0x0F == 0 and reply[2] & 0x04 != 0
            and int.from_bytes(reply[6:8], "big") >= 1)


#: ID 0, a standard query without RD, one question; then QTYPE SOA, QCLASS IN
SOA_QUERY_HEADER = bytes.fromhex("000000000001000000000000")
SOA_IN = bytes.fromhex("00060001")


@dataclass
class CompileReport:
    compiled: list[str] = field(default_factory=list)  #: zones compiled afresh
    reused: list[str] = field(default_factory=list)  #: zones whose compiled names were kept
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"compiled": self.compiled, "reused": self.reused, "seconds": round(self.seconds, 3)}


class Publisher:
    """Owns the image generations of one run directory."""

    def __init__(self, run_dir: RunDir, control: ControlBlock, options: CompileOptions,
                 udp_payload: int, readers: Callable[[], list[int]] = list) -> None:
        """:param readers: the PIDs of the processes besides this one that map images (the
            workers): an image file none of them holds is written over for the next one."""
        self.run_dir = run_dir
        self.readers = readers
        self.control = control
        self.options = options
        self.udp_payload = udp_payload
        self.generation = 0
        self.image: _dataplane.Image | None = None  #: the published image, checked
        self.last_compile = CompileReport()
        self._subscribers: list[Subscriber] = []
        self._compiled: CompiledImage | None = None  # the native compiler's: what it may reuse
        self.progress = LoadProgress()  #: the load under way (or the last one)
        self.policy: bytes | None = None  #: rate limiting and cookies (fastdns.policy), packed
        self._engines: list[_dataplane.Engine] = []  # those engine() made: they get the policy too

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call subscriber with every image published from now on."""
        self._subscribers.append(subscriber)

    def engine(self) -> _dataplane.Engine:
        """A new engine (own counters) answering from the published image."""
        assert self.image is not None, "nothing published yet"
        engine = _dataplane.Engine(self.image, self.udp_payload)
        if self.policy is not None:
            engine.set_policy(self.policy)
        self._engines.append(engine)
        return engine

    def set_policy(self, policy: bytes) -> None:
        """The workers' policy from the next generation on (and at once the engines'): a
        new one is published with the image served now when no reload follows."""
        self.policy = policy
        self.control.set_policy(policy)
        for engine in self._engines:
            engine.set_policy(policy)

    def republish(self) -> None:
        """Publish the image served now again, as the next generation: the workers take
        the control block's policy when they switch.  The file is linked, not copied."""
        if self.generation == 0:
            return
        generation = self.generation + 1
        path = self.run_dir.image_path(generation)
        unlink_quietly(path)
        os.link(self.run_dir.image_path(self.generation), path)
        self.control.publish(generation)
        self.generation = generation
        unlink_quietly(self.run_dir.image_path(generation - 2))

    def publish(self, zones: Iterable[NativeLoadedZone], expired: frozenset[dns.name.Name] = frozenset()
                ) -> CompileReport:
        """Compile, write image.<gen+1>, check it, then publish it.

        :param expired: zones answered SERVFAIL for (secondaries past their SOA EXPIRE).

        :raises FastDNSError: the image does not answer as it must; nothing is published.
        :raises ValueError: a zone cannot be compiled (a response beyond the image's limits).
        """
        zones = list(zones)
        generation = self.generation + 1
        path = self.run_dir.image_path(generation)
        reuse = self._take_unused_image(generation - 2, path + ".tmp")
        pages = None if reuse else _ImagePages.start_for(path + ".tmp", _image_size_estimate(zones))
        try:
            try:
                result = self._compile(zones, expired)
            finally:
                if pages is not None:
                    reuse = pages.finish()
            self.progress.publishing()
            self.last_compile = CompileReport(result.compiled, result.reused, result.seconds)
            result.write_image(path + ".tmp", reuse)
            os.replace(path + ".tmp", path)
        except BaseException:
            unlink_quietly(path + ".tmp")  # taken or made for this image (compile failed, disk full)
            raise
        try:
            checked = self._check_image(path, [z for z in zones if z.origin not in expired])
        except BaseException:
            unlink_quietly(path)  # never published: nobody maps it
            raise
        for subscriber in self._subscribers:
            subscriber(checked)  # TCP and the fallback switch with the workers
        self.image = checked
        self.control.publish(generation)
        self.generation = generation
        self._compiled = result.state  # the next compile starts from what is published
        # workers that mapped the one before keep their mapping until they switch
        unlink_quietly(self.run_dir.image_path(generation - 2))
        return self.last_compile

    def _compile(self, zones: list[NativeLoadedZone], expired: frozenset[dns.name.Name] = frozenset()
                 ) -> CompileResult:
        """The native compiler; the specification's (dnspython) for what it does not handle,
        or for everything with FASTDNS_COMPILER=spec (to tell a compiler bug from a zone's)."""
        o = self.options
        if os.environ.get("FASTDNS_COMPILER") == "spec":
            return self._compile_spec(zones, expired)
        try:
            with self._published_bytes() as previous_image:
                result = compile_native([z.native for z in zones], o.version, o.identity, o.minimal_responses,
                                        progress=self.progress.compiling, previous=self._compiled,
                                        previous_image=previous_image,
                                        previous_path=self.run_dir.image_path(self.generation),
                                        expired=frozenset(_wire(o) for o in expired))
            return result  # its state becomes self._compiled once its image is published
        except NativeUnsupported as e:
            log.warning("native compiler: %s; compiling with the Python compiler instead", e)
            self._compiled = None
        return self._compile_spec(zones, expired)

    def _compile_spec(self, zones: list[NativeLoadedZone], expired: frozenset[dns.name.Name] = frozenset()
                      ) -> CompileResult:
        o = self.options
        self._compiled = None  # the next native compile starts afresh
        # No compile cache: each compile reads the zones again (new objects, so a cache keyed
        # by them would never hit), and it would hold every compiled record meanwhile (a
        # signed zone of 100,000 names: over a GiB).
        loaded = [load_zone(z.origin, z.filename) for z in zones]
        return compile_zones(loaded, o.version, o.identity, o.minimal_responses, progress=self.progress.compiling,
                             expired=expired)

    @contextlib.contextmanager
    def _published_bytes(self) -> Iterator[mmap.mmap | None]:
        """The published image's bytes (mapped from its file), or None before the first."""
        if self.generation == 0 or self._compiled is None:
            yield None
            return
        with open(self.run_dir.image_path(self.generation), "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
        try:
            yield mapped
        finally:
            mapped.close()

    def _take_unused_image(self, generation: int, path: str) -> bool:
        """Move the image file of generation (the one before the published) to path when
        no process maps it or holds it open, so that the next image is written over its
        pages: fresh memory is what a reload of a big zone spends most time on.  Renamed
        first, so that nobody can open it by name while it is checked."""
        if generation < 0:
            return False
        try:
            os.rename(self.run_dir.image_path(generation), path)
        except OSError:
            return False  # gone, or never written
        st = os.stat(path)
        if _held(st.st_dev, st.st_ino, [os.getpid(), *self.readers()]):
            unlink_quietly(path)  # its reader keeps the file it has: the next is a new one
            return False
        return True

    def make_spare(self) -> None:
        """After the first image, a file of its size beside it, as the image before the
        published one is after any reload: the first reload too then writes its image over
        pages it has (see _take_unused_image).  Never mapped, it costs no process memory;
        the run directory holds two images, as it does after every reload."""
        if self.generation != 1:
            return
        path = self.run_dir.image_path(0)
        published = self.run_dir.image_path(1)
        try:  # written, not fallocated: tmpfs zeroes a fallocated page on its first write
            image.FileSpan(published, 0, os.path.getsize(published)).copy_to(path)
        except OSError as e:
            unlink_quietly(path)
            log.info("no spare image file in %s: %s", self.run_dir.path, e.strerror)

    def kept_generations(self) -> tuple[int, ...]:
        """The generations whose image files may exist: the published one and the one before."""
        return (self.generation - 1, self.generation)

    def _check_image(self, path: str, zones: list[NativeLoadedZone]) -> _dataplane.Image:
        """Read the file back as a worker will: header, sizes, and each zone's SOA.  (The
        checksum was computed over these bytes as they were written: the file is complete
        when its size is the header's.)"""
        mapped = _dataplane.Image(path)
        engine = _dataplane.Engine(mapped, self.udp_payload)
        for zone in zones:
            if not _answers_soa(engine, zone.origin):
                raise FastDNSError(f"compiled image {path} does not answer {zone.origin} SOA")
        return mapped


def _wire(name: dns.name.Name) -> bytes:
    """A name as NativeZone.origin holds it: lower-cased wire form."""
    return name.canonicalize().to_wire() or b""


def _held(dev: int, ino: int, pids: list[int]) -> bool:
    """A process of pids, or a child of one, maps the file (dev, ino) or has it open; also
    True when that cannot be read (then the file is not written over)."""
    seen: set[int] = set()
    todo = list(pids)
    mapped = f" {os.major(dev):02x}:{os.minor(dev):02x} {ino} "  # a maps line's device and inode
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/maps") as f:
                if any(mapped in line for line in f):
                    return True
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(FileNotFoundError):  # closed meanwhile
                    st = os.stat(f"/proc/{pid}/fd/{fd}")
                    if st.st_ino == ino and st.st_dev == dev:
                        return True
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(FileNotFoundError), open(f"/proc/{pid}/task/{task}/children") as f:
                    todo.extend(int(child) for child in f.read().split())
        except FileNotFoundError:
            continue  # the process has exited
        except OSError:
            return True
    return False


#: image bytes per byte of the zones' records (uncompressed wire), a little over what the
#: benchmark's zones compile to (2.4)
IMAGE_BYTES_PER_RECORD_BYTE = 2.5
#: images smaller than this are written into fresh pages: a thread would not pay for itself
IMAGE_PAGES_MIN_BYTES = 16 << 20


def _image_size_estimate(zones: list[NativeLoadedZone]) -> int:
    return int(IMAGE_BYTES_PER_RECORD_BYTE * sum(len(z.native.records_data) for z in zones))


class _ImagePages(threading.Thread):
    """Zeros written into a new image file, up to about the size it will have, on another
    CPU while the image is compiled: the file's pages are then taken once the compile
    ends, and the image is written over them (as over a recycled image).  Taking a page is
    what writing a new image costs most (in a VM that hands freed memory back to its host,
    180 MB take 0.45 s, and 0.05 s once taken); the compile runs on one CPU."""

    CHUNK = 8 << 20

    def __init__(self, path: str, size: int) -> None:
        super().__init__(name="fastdns-pages", daemon=True)
        self.path, self.size = path, size
        self.done = threading.Event()
        self.ok = False

    @classmethod
    def start_for(cls, path: str, size: int) -> _ImagePages | None:
        if size < IMAGE_PAGES_MIN_BYTES:
            return None
        pages = cls(path, size)
        pages.start()
        return pages

    def run(self) -> None:
        zeros = bytes(self.CHUNK)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
            try:
                at = 0
                while at < self.size and not self.done.is_set():
                    at += os.pwrite(fd, zeros[:min(self.CHUNK, self.size - at)], at)
            finally:
                os.close(fd)
            self.ok = True
        except OSError as e:  # the image is written into fresh pages: slower, no worse
            log.info("image pages not taken ahead: %s", e.strerror)

    def finish(self) -> bool:
        """Stop and wait; True when the file exists for the image to be written over."""
        self.done.set()
        self.join()
        return self.ok
