# SPDX-License-Identifier: MIT
"""Secondary zones: kept in step with their primaries by zone transfer.

A secondary zone is configured with `primaries:`; its `file` holds the last copy. On its
SOA timers (RFC 1034 4.3.5: refresh after a success, retry after a failure) the control
process asks each primary in turn for its SOA serial; when it is newer than the copy's
(RFC 1982 arithmetic), the zone is transferred by AXFR over TCP (RFC 5936, dnspython's
`dns.query.inbound_xfr`), checked by the same reader as any zone file, written atomically
over the copy and reloaded through the served zones like an edited file.  A transfer that
fails changes nothing: the zone served goes on.  Transfers run on threads, never in the
workers: UDP answers are not delayed.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import ipaddress
import json
import logging
import os
import socket
import struct
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.zone

from fastdns import _zonefile
from fastdns.config import ListenAddress, TsigKey, ZoneConfig, zone_origin
from fastdns.control import ZoneStatus
from fastdns.errors import FastDNSError, ZoneError
from fastdns.zone import NativeLoadedZone, load_native_zone

log = logging.getLogger("fastdns")

#: seconds a primary may take to answer an SOA query, and to send a whole zone
SOA_TIMEOUT = 3.0
AXFR_LIFETIME = 600.0
#: seconds a TCP connection to a notify_listen address may sit idle
NOTIFY_TCP_IDLE = 10.0
#: the SOA timers when the zone has no copy yet to read them from (RFC 1912 2.2's ranges)
DEFAULT_REFRESH = 3600
DEFAULT_RETRY = 600


class TransferError(Exception):
    """A primary did not give the zone: the reason, naming the primary."""

    def __init__(self, reason: str, refused: bool = False) -> None:
        super().__init__(reason)
        self.refused = refused  #: the primary answered REFUSED (to an SOA query)


@dataclass
class Secondary:
    """One secondary zone and what fastdns knows of its primaries."""

    zone: ZoneConfig
    serial: int | None = None  #: the copy's serial, None before the first transfer
    refresh: int = DEFAULT_REFRESH  #: the copy's SOA timers
    retry: int = DEFAULT_RETRY
    expire: int = 0
    primary_serial: int | None = None  #: at the last check
    notifies: int = 0  #: NOTIFY taken from its primaries, and refused (from others, unsigned)
    notifies_refused: int = 0
    transfers: int = 0  #: transfers taken, and checks that reached no primary or got no zone
    failures: int = 0
    last_check: float | None = None  #: time.time() of the last check, and its error
    last_error: str | None = None
    last_success: float | None = None  #: of a check that reached a primary (kept in timers_path)
    expired: bool = False  #: no primary reached for EXPIRE seconds: answered SERVFAIL
    last_transfer: dict[str, Any] | None = None  #: when, kind, seconds, primary, serial
    next_check: float = 0.0  #: time.time() of the next one
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def origin(self) -> dns.name.Name:
        return zone_origin(self.zone.name)

    def status(self) -> ZoneStatus:
        """The zone's transfer state for `fastdns status`."""
        found = ZoneStatus(role="secondary", primaries=[str(p) for p in self.zone.primaries],
                           primary_serial=self.primary_serial, next_refresh=round(self.next_check))
        if self.last_check is not None:
            found["last_check"] = round(self.last_check)
        if self.last_error is not None:
            found["last_error"] = self.last_error
        if self.last_transfer is not None:
            found["last_transfer"] = self.last_transfer
        if self.expire and self.last_success is not None:
            found["expires_at"] = round(self.last_success + self.expire)
        found["notifies"], found["notifies_refused"] = self.notifies, self.notifies_refused
        found["expired"] = self.expired
        return found

    @property
    def timers_path(self) -> str:
        """Where the last successful check is kept, beside the copy: a restart counts
        EXPIRE from it, not from the start."""
        return self.zone.file + ".timers"

    def reached(self) -> None:
        """A primary answered: note it, here and on disk."""
        self.last_success = time.time()
        try:
            with open(self.timers_path + ".tmp", "w", encoding="utf-8") as f:
                json.dump({"last_success": self.last_success}, f)
            os.replace(self.timers_path + ".tmp", self.timers_path)
        except OSError as e:
            log.warning("%s: cannot keep its timers in %s: %s", self.zone.name, self.timers_path, e.strerror)

    def read_reached(self) -> None:
        """The last successful check as kept on disk; the copy's time when there is none."""
        try:
            with open(self.timers_path, encoding="utf-8") as f:
                self.last_success = float(json.load(f)["last_success"])
        except (OSError, ValueError, KeyError, TypeError):
            try:
                self.last_success = os.stat(self.zone.file).st_mtime
            except OSError:
                self.last_success = None


def _from_primary(source: str, zone: ZoneConfig) -> bool:
    """source is the address of one of the zone's primaries (any port: RFC 1996 3.10)."""
    try:
        address = ipaddress.ip_address(source.split("%")[0])
    except ValueError:
        return False
    return any(ipaddress.ip_address(p.host) == address for p in zone.primaries)


def notify_keyring(keys: tuple[TsigKey, ...]) -> dict[dns.name.Name, dns.tsig.Key]:
    """The keys NOTIFY may be signed with, as dnspython checks them."""
    return {dns.name.from_text(k.name): _key(k) for k in keys}


class NotifyListener(asyncio.DatagramProtocol):
    """UDP at a notify_listen address: NOTIFY for the secondary zones (Transfers.notify)."""

    def __init__(self, transfers: Transfers, keys: tuple[TsigKey, ...]) -> None:
        self.transfers = transfers
        self.keyring = {dns.name.from_text(k.name): _key(k) for k in keys}
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        reply = self.transfers.notify(data, str(addr[0]), self.keyring)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


def open_notify_sockets(addresses: tuple[ListenAddress, ...]) -> list[socket.socket]:
    """A UDP and a TCP socket bound to each notify_listen address (primaries send NOTIFY
    over either: Knot DNS over TCP), before anything starts.

    :raises FastDNSError: an address cannot be bound.
    """
    sockets: list[socket.socket] = []
    for address in addresses:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            sock = socket.socket(address.family, kind)
            try:
                if kind == socket.SOCK_STREAM:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((address.host, address.port))
                if kind == socket.SOCK_STREAM:
                    sock.listen(16)
            except OSError as e:
                sock.close()
                for opened in sockets:
                    opened.close()
                raise FastDNSError(f"notify_listen {address}: cannot bind: {e.strerror}") from None
            sock.setblocking(False)
            sockets.append(sock)
    return sockets


async def listen_for_notify(sockets: list[socket.socket], transfers: Transfers,
                            keys: tuple[TsigKey, ...]) -> list[asyncio.BaseTransport | asyncio.Server]:
    """NOTIFY taken on each socket: a NotifyListener on the UDP ones, a message at a time
    (RFC 7766 8: two-byte length) on TCP connections."""
    loop = asyncio.get_running_loop()
    keyring = {dns.name.from_text(k.name): _key(k) for k in keys}
    opened: list[asyncio.BaseTransport | asyncio.Server] = []

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        source = str(writer.get_extra_info("peername")[0])
        try:
            while True:
                size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), NOTIFY_TCP_IDLE), "big")
                wire = await asyncio.wait_for(reader.readexactly(size), NOTIFY_TCP_IDLE)
                reply = transfers.notify(wire, source, keyring)
                if reply is None:
                    break
                writer.write(len(reply).to_bytes(2, "big") + reply)
                await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()

    for sock in sockets:
        if sock.type == socket.SOCK_DGRAM:
            transport, _ = await loop.create_datagram_endpoint(lambda: NotifyListener(transfers, keys), sock=sock)
            opened.append(transport)
        else:
            opened.append(await asyncio.start_server(connection, sock=sock))
    return opened


def _whole() -> tuple[int, float, int]:
    raise NotIncremental("no copy to apply differences to")


SOA = 6


def serial_newer(new: int, old: int) -> bool:
    """RFC 1982 3.2: new is greater than old in serial number arithmetic."""
    return new != old and (new - old) % 2**32 < 2**31


def _key(key: TsigKey) -> dns.tsig.Key:
    return dns.tsig.Key(key.name, key.secret, key.algorithm)


def primary_serial(primary: ListenAddress, origin: dns.name.Name, key: TsigKey | None = None,
                   timeout: float = SOA_TIMEOUT) -> int:
    """The primary's SOA serial for origin (UDP, TCP when truncated), the query and its
    answer signed with key when there is one (RFC 8945).

    :raises TransferError: no answer, a bad signature, or not an authoritative SOA.
    """
    query = dns.message.make_query(origin, dns.rdatatype.SOA)
    query.flags &= ~dns.flags.RD
    if key is not None:
        query.use_tsig(_key(key))
    try:
        reply, _ = dns.query.udp_with_fallback(query, primary.host, timeout=timeout, port=primary.port)
    except (dns.exception.DNSException, OSError) as e:
        raise TransferError(f"primary {primary}: no SOA answer: {e or type(e).__name__}") from None
    if reply.rcode() != dns.rcode.NOERROR or not reply.flags & dns.flags.AA:
        raise TransferError(f"primary {primary}: SOA query answered {dns.rcode.to_text(reply.rcode())}"
                            f"{'' if reply.flags & dns.flags.AA else ', not authoritative'}",
                            refused=reply.rcode() == dns.rcode.REFUSED)
    for rrset in reply.answer:
        if rrset.rdtype == dns.rdatatype.SOA and rrset.name == origin:
            return int(rrset[0].serial)
    raise TransferError(f"primary {primary}: no SOA record in the answer")


def transfer(primary: ListenAddress, zone: ZoneConfig) -> tuple[int, float, NativeLoadedZone]:
    """AXFR the zone from primary into a file beside the zone's, check it as a zone file,
    and put it in place of the zone's file; returns (serial, seconds).

    The messages are read by ldns and written out as they come (fastdns._zonefile's
    AxfrReader): a million names need no object each.

    :raises TransferError: the transfer failed or the zone it gave breaks a rule; the
        zone's file is as it was.
    :returns: also the zone as read from its new file (ServedZones.preloaded takes it, so
        that the file is not read twice).
    """
    started = time.monotonic()
    temporary = f"{zone.file}.axfr-{os.getpid()}"
    try:
        _receive(primary, zone, temporary)
        try:
            loaded = load_native_zone(zone.name, temporary)
        except ZoneError as e:
            raise TransferError(f"primary {primary}: the zone it sent is refused: {e.reason}"
                                f" (record {e.line} of the transfer)" if e.line else
                                f"primary {primary}: the zone it sent is refused: {e.reason}") from None
        os.replace(temporary, zone.file)  # the same file, under its name: loaded stays true
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return loaded.serial, time.monotonic() - started, dataclasses.replace(loaded, filename=zone.file)


def _receive(primary: ListenAddress, zone: ZoneConfig, path: str) -> None:
    """The AXFR (RFC 5936) over TCP, its messages a two-byte length each (RFC 1035 4.2.2),
    signed with the zone's key when it has one, into a zone file at path."""
    origin = zone_origin(zone.name)
    query = dns.message.make_query(origin, dns.rdatatype.AXFR)
    if zone.tsig is not None:
        query.use_tsig(_key(zone.tsig))
    wire = query.to_wire()
    reader = _zonefile.AxfrReader(path, origin.to_wire() or b"", zone.tsig.name if zone.tsig else None,
                                  zone.tsig.secret if zone.tsig else None, query.mac or b"")
    deadline = time.monotonic() + AXFR_LIFETIME
    try:
        with socket.create_connection((primary.host, primary.port), timeout=SOA_TIMEOUT) as sock:
            sock.settimeout(SOA_TIMEOUT * 2)
            sock.sendall(len(wire).to_bytes(2, "big") + wire)
            done = False
            while not done:
                if time.monotonic() > deadline:
                    raise TransferError(f"primary {primary}: AXFR took more than {AXFR_LIFETIME:.0f} s")
                size = int.from_bytes(_read_exactly(sock, 2), "big")
                done = reader.feed(_read_exactly(sock, size))
        reader.close()
    except _zonefile.AxfrError as e:
        raise TransferError(f"primary {primary}: AXFR refused: {e}") from None
    except (OSError, EOFError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        raise TransferError(f"primary {primary}: AXFR failed: {reason}") from None
    log.debug("%s: %d records in the AXFR from %s", zone.name, reader.records, primary)


class NotIncremental(Exception):
    """The IXFR gives no diffs that apply to the copy: transfer the whole zone."""


def incremental(primary: ListenAddress, zone: ZoneConfig, serial: int) -> tuple[int, float, int]:
    """IXFR (RFC 1995) from serial, the diffs applied to the zone's file line by line (it
    holds the records as ldns wrote them, one a line), so that the reload reads only the
    lines that changed; returns (new serial, seconds, records changed).

    :raises NotIncremental: the primary sent the whole zone, or a record to delete is not
        in the copy: the caller transfers the whole zone.
    :raises TransferError: the primary failed (the copy is as it was).
    """
    started = time.monotonic()
    origin = zone_origin(zone.name)
    query = dns.message.make_query(origin, dns.rdatatype.IXFR)
    query.authority.append(dns.rrset.from_text(origin, 0, "IN", "SOA", f". . {serial} 0 0 0 0"))
    if zone.tsig is not None:
        query.use_tsig(_key(zone.tsig))
    wire = query.to_wire()
    reader = _zonefile.TransferMessages(zone.tsig.name if zone.tsig else None,
                                        zone.tsig.secret if zone.tsig else None, query.mac or b"")
    try:
        with socket.create_connection((primary.host, primary.port), timeout=SOA_TIMEOUT) as sock:
            sock.settimeout(SOA_TIMEOUT * 2)
            sock.sendall(len(wire).to_bytes(2, "big") + wire)
            diffs, new_serial = _ixfr_diffs(_records(sock, reader), serial)
    except _zonefile.AxfrError as e:
        raise TransferError(f"primary {primary}: IXFR refused: {e}") from None
    except (OSError, EOFError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        raise TransferError(f"primary {primary}: IXFR failed: {reason}") from None
    with open(zone.file, encoding="utf-8") as f:
        text = f.read()
    changed = 0
    for old_soa, deleted, new_soa, added in diffs:
        text = _replace_line(text, old_soa, new_soa)
        text = _delete_lines(text, deleted)
        text += "".join(added)
        changed += len(deleted) + len(added)
    temporary = f"{zone.file}.ixfr-{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(zone.file, _before_ixfr(zone))  # put back if the new version does not load
    os.replace(temporary, zone.file)
    return new_serial, time.monotonic() - started, changed


def _before_ixfr(zone: ZoneConfig) -> str:
    return zone.file + ".before-ixfr"


def _records(sock: socket.socket, reader: _zonefile.TransferMessages) -> Iterator[tuple[int, int | None, str]]:
    """The answer records of the messages as they come."""
    while True:
        size = int.from_bytes(_read_exactly(sock, 2), "big")
        yield from reader.feed(_read_exactly(sock, size))


Diff = tuple[str, list[str], str, list[str]]  #: (old SOA line, deleted lines, new SOA line, added lines)


def _ixfr_diffs(records: Iterator[tuple[int, int | None, str]], serial: int) -> tuple[list[Diff], int]:
    """RFC 1995 4: the new SOA; then none (up to date), the whole zone (raises
    NotIncremental), or sequences of the old SOA, deletions, the new SOA, additions; the
    new SOA again at the end."""
    rtype, new_serial, _ = next(records)
    if rtype != SOA or new_serial is None:
        raise NotIncremental("the IXFR does not start with an SOA")
    if not serial_newer(new_serial, serial):
        return [], serial
    rtype, old_serial, line = next(records)
    if rtype != SOA:
        raise NotIncremental("the primary sent the whole zone")
    diffs: list[Diff] = []
    while True:
        old_soa, deleted = line, []
        rtype, found, line = next(records)
        while rtype != SOA:
            deleted.append(line)
            rtype, found, line = next(records)
        new_soa, added, this_serial = line, [], found
        rtype, found, line = next(records)
        while rtype != SOA:
            added.append(line)
            rtype, found, line = next(records)
        diffs.append((old_soa, deleted, new_soa, added))
        if this_serial == new_serial and found == new_serial:
            return diffs, new_serial


#: deletions up to this many are found one by one; more, by one pass over the copy's lines
FEW_DELETIONS = 32


def _delete_lines(text: str, deleted: list[str]) -> str:
    """text without the lines deleted (each ending with a newline, each taken once)."""
    if len(deleted) <= FEW_DELETIONS:
        for line in deleted:
            text = _replace_line(text, line, "")
        return text
    wanted = collections.Counter(deleted)
    kept = []
    for line in text.splitlines(keepends=True):
        if wanted.get(line):
            wanted[line] -= 1
        else:
            kept.append(line)
    missing = [line for line, count in wanted.items() if count]
    if missing:
        raise NotIncremental(f"the copy has no record {missing[0].strip()!r} to delete")
    return "".join(kept)


def _replace_line(text: str, line: str, new: str) -> str:
    """text with its line `line` (ending with a newline) replaced by `new`."""
    at = text.find(line)
    while at > 0 and text[at - 1] != "\n":
        at = text.find(line, at + 1)
    if at < 0:
        raise NotIncremental(f"the copy has no record {line.strip()!r} to delete")
    return text[:at] + new + text[at + len(line):]


def _read_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("the primary closed the connection")
        data += chunk
    return bytes(data)


def fetch_missing(zones: tuple[ZoneConfig, ...], loaded: dict[str, NativeLoadedZone]) -> None:
    """Before the first load: transfer every secondary zone that has no copy yet, into
    loaded (by zone name).

    :raises FastDNSError: a zone no primary gave, with each primary's reason.
    """
    for zone in zones:
        if zone.secondary and not os.path.exists(zone.file):
            failed = first_copy(zone, loaded)
            if failed is not None:
                raise FastDNSError(f"zone {zone.name}: no copy in {zone.file} and no primary gave one: {failed}")


def first_copy(zone: ZoneConfig, loaded: dict[str, NativeLoadedZone]) -> str | None:
    """Transfer a secondary zone that has no copy yet from the first primary that gives it
    (into loaded, by zone name); None, or each primary's reason."""
    reasons = []
    for primary in zone.primaries:
        try:
            serial, seconds, loaded[zone.name] = transfer(primary, zone)
        except TransferError as e:
            reasons.append(str(e))
            continue
        log.info("%s: serial %d transferred from %s (AXFR, %.2f s), first copy", zone.name, serial, primary, seconds)
        return None
    return "; ".join(reasons)


#: reloads the named zones from their files (ServedZones.reload, bound to the publisher)
Reload = Callable[[list[str]], Awaitable[dict[str, Any]]]
#: the SOA rdata (wire form) of the zone served under that configured name, if any
SoaOf = Callable[[str], bytes | None]
#: answer SERVFAIL for the zone (True), or its data again (ServedZones.set_expired)
Expire = Callable[[str, bool], Awaitable[None]]
#: told of each zone transferred and served (a catalog's members follow it)
Transferred = Callable[[ZoneConfig], Awaitable[None]]


class Transfers:
    """The secondary zones' checks, each on its own timers, as tasks of the control loop."""

    def __init__(self, zones: tuple[ZoneConfig, ...], soa_of: SoaOf, reload: Reload, expire: Expire,
                 transferred: Transferred | None = None,
                 preloaded: dict[str, NativeLoadedZone] | None = None) -> None:
        """:param preloaded: where a transferred zone, already read, is left for the reload
            (ServedZones.preloaded)."""
        self.soa_of = soa_of
        self.preloaded = preloaded if preloaded is not None else {}
        self.zones: dict[str, Secondary] = {}
        self.reload = reload
        self.expire = expire
        self.transferred = transferred
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._started = False
        for zone in zones:
            if zone.secondary:
                self.add(zone)
        self.refused = 0  #: NOTIFY refused (a zone not secondary here, a stranger), and dropped
        self.dropped = 0

    def add(self, zone: ZoneConfig) -> None:
        """Keep a secondary zone (now served) in step with its primaries from now on."""
        self.zones[zone.name] = secondary = Secondary(zone)
        self._locks[zone.name] = asyncio.Lock()
        self._read_timers(secondary)
        secondary.read_reached()
        if self._started:
            self._tasks[zone.name] = asyncio.get_running_loop().create_task(self._run(secondary))

    def remove(self, name: str) -> None:
        """No longer follow the zone (a catalog dropped it)."""
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
        self.zones.pop(name, None)
        self._locks.pop(name, None)

    def start(self) -> None:
        """Check every secondary zone now (its copy may be old), then on its timers."""
        self._started = True
        for name, secondary in self.zones.items():
            self._tasks[name] = asyncio.get_running_loop().create_task(self._run(secondary))

    def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    def find(self, name: str | dns.name.Name) -> Secondary | None:
        wanted = zone_origin(name) if isinstance(name, str) else name
        return next((s for s in self.zones.values() if s.origin == wanted), None)

    def notify(self, wire: bytes, source: str, keyring: dict[dns.name.Name, dns.tsig.Key]) -> bytes | None:
        """A NOTIFY (RFC 1996) from source: the zone checked at once when it comes from one
        of its primaries (signed with its key, when it has one); the reply, or None to drop
        what is not a NOTIFY or fails its TSIG check."""
        try:
            message = dns.message.from_wire(wire, keyring=keyring)
        except (dns.exception.DNSException, ValueError):
            self.dropped += 1
            return None
        if message.flags & dns.flags.QR or message.opcode() != dns.opcode.NOTIFY:
            self.dropped += 1
            return None
        reply = dns.message.make_response(message)
        reply.flags |= dns.flags.AA
        secondary = self.find(message.question[0].name) if len(message.question) == 1 else None
        if secondary is None:
            self.refused += 1
            reply.set_rcode(dns.rcode.FORMERR if len(message.question) != 1 else dns.rcode.NOTAUTH)
            return reply.to_wire()
        key = secondary.zone.tsig
        signed = key is None or (message.had_tsig and message.keyname == dns.name.from_text(key.name))
        if not signed or not _from_primary(source, secondary.zone):
            secondary.notifies_refused += 1
            self.refused += 1
            log.warning("%s: NOTIFY from %s refused (%s)", secondary.zone.name, source,
                        "not signed with its key" if not signed else "not one of its primaries")
            reply.set_rcode(dns.rcode.REFUSED)
            return reply.to_wire()
        secondary.notifies += 1
        log.info("%s: NOTIFY from %s", secondary.zone.name, source)
        secondary.wake.set()
        return reply.to_wire()

    async def _run(self, secondary: Secondary) -> None:
        while True:
            secondary.wake.clear()  # a NOTIFY during the check asks for another
            await self.check(secondary)
            delay = max(0.0, secondary.next_check - time.time())
            try:
                await asyncio.wait_for(secondary.wake.wait(), delay)
            except TimeoutError:
                pass

    async def check(self, secondary: Secondary) -> dict[str, Any]:
        """Ask the primaries, in order, for the zone's serial; transfer it from the first
        that has a newer one.  Returns what happened (for `fastdns transfer`)."""
        async with self._locks[secondary.zone.name]:
            return await self._check(secondary)

    async def _check(self, secondary: Secondary) -> dict[str, Any]:
        zone = secondary.zone
        reasons = []
        secondary.last_check = time.time()
        for primary in zone.primaries:
            try:
                serial = await asyncio.to_thread(primary_serial, primary, secondary.origin, zone.tsig)
            except TransferError as e:
                if not (e.refused and zone.catalog):
                    reasons.append(str(e))
                    continue
                # Knot DNS answers no query for a catalog it generates, but transfers it:
                # the transfer tells the serial (an unchanged zone reloads as unchanged)
                serial = (secondary.serial + 1) % 2**32 if secondary.serial is not None else 0
            secondary.primary_serial = serial
            secondary.reached()
            if secondary.expired:  # its primary is back: the zone's data again (newer below)
                log.info("%s: primary %s reached again, serving serial %s", zone.name, primary, secondary.serial)
                secondary.expired = False
                await self.expire(zone.name, False)
            if secondary.serial is not None and not serial_newer(serial, secondary.serial):
                return self._done(secondary, {"zone": zone.name, "serial": secondary.serial, "primary": str(primary),
                                              "primary_serial": serial, "transferred": False})
            kind, changes = "AXFR", None
            try:
                new_serial, seconds, changes = await asyncio.to_thread(incremental, primary, zone, secondary.serial) \
                    if secondary.serial is not None and not zone.catalog else _whole()
                kind = "IXFR"
            except NotIncremental as e:
                log.info("%s: %s; transferring the whole zone", zone.name, e)
            except TransferError as e:
                reasons.append(str(e))
                continue
            if kind == "AXFR":
                try:
                    new_serial, seconds, self.preloaded[zone.name] = await asyncio.to_thread(transfer, primary, zone)
                except TransferError as e:
                    reasons.append(str(e))
                    continue
            reply = await self.reload([zone.name])
            if kind == "IXFR":
                if reply.get("ok"):
                    os.unlink(_before_ixfr(zone))
                else:  # the copy as it was: the next check starts from what is served
                    os.replace(_before_ixfr(zone), zone.file)
            if not reply.get("ok"):
                errors = "; ".join(reply.get("errors", []))
                reasons.append(f"primary {primary}: the zone it sent did not load: {errors}")
                continue
            log.info("%s: serial %d transferred from %s (%s, %.2f s%s)", zone.name, new_serial, primary, kind,
                     seconds, f", {changes} records changed" if changes is not None else "")
            secondary.transfers += 1
            secondary.last_transfer = {"at": round(time.time()), "kind": kind, "seconds": round(seconds, 3),
                                       "primary": str(primary), "serial": new_serial}
            self._read_timers(secondary)
            if self.transferred is not None:
                await self.transferred(zone)
            return self._done(secondary, {"zone": zone.name, "serial": new_serial, "primary": str(primary),
                                          "primary_serial": serial, "transferred": True, "kind": kind,
                                          "seconds": round(seconds, 3)})
        secondary.last_error = "; ".join(reasons)
        secondary.failures += 1
        now = time.time()
        secondary.next_check = now + secondary.retry
        if secondary.expire and secondary.last_success is not None and not secondary.expired:
            expires = secondary.last_success + secondary.expire
            if now >= expires:  # RFC 1034 4.3.5: no longer authoritative
                secondary.expired = True
                log.error("%s: expired (no primary reached for %d s, its SOA EXPIRE): answered SERVFAIL until "
                          "one is", zone.name, secondary.expire)
                await self.expire(zone.name, True)
            else:
                secondary.next_check = min(secondary.next_check, expires)
        log.warning("%s: no primary gave a newer zone, retrying in %d s: %s", zone.name,
                    round(secondary.next_check - now), secondary.last_error)
        return {"zone": zone.name, "serial": secondary.serial, "transferred": False, "error": secondary.last_error}

    def _done(self, secondary: Secondary, result: dict[str, Any]) -> dict[str, Any]:
        secondary.last_error = None
        secondary.next_check = time.time() + secondary.refresh
        return result

    def _read_timers(self, secondary: Secondary) -> None:
        """The serial served and the SOA's REFRESH, RETRY and EXPIRE (RFC 1035 3.3.13: the
        last 20 bytes of its rdata), when the zone is served."""
        rdata = self.soa_of(secondary.zone.name)
        if rdata is not None and len(rdata) >= 20:
            serial, refresh, retry, expire, _ = struct.unpack("!IIIII", rdata[-20:])
            secondary.serial, secondary.refresh, secondary.retry, secondary.expire = serial, refresh, retry, expire
        zone = secondary.zone  # the configuration's, in place of the SOA's
        secondary.refresh = zone.refresh if zone.refresh is not None else secondary.refresh
        secondary.retry = zone.retry if zone.retry is not None else secondary.retry
        secondary.expire = zone.expire if zone.expire is not None else secondary.expire
