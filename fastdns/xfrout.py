# SPDX-License-Identifier: MIT
"""Zone transfers out (RFC 5936): AXFR over TCP, in the control process, to the clients a
zone's `allow_transfer` lets in; everyone else is REFUSED.  And NOTIFY (RFC 1996) to a
zone's `notify` secondaries when it changes.

The records come from the zone as it is served (NativeZone.transfer_chunks: the SOA,
every other record, the SOA again, uncompressed), a message of at most MESSAGE_BYTES per
chunk.  IXFR (RFC 1995) gets the differences of the last HISTORY reloads that patched the
zone (a reload that read only changed lines knows which names changed); from further
back, the whole zone, as RFC 1995 4 allows.  UDP transfer requests never get here: the
workers refuse them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.rrset
import dns.tsig

from fastdns._compiler import NativeZone
from fastdns.config import ListenAddress, TsigKey, ZoneConfig, zone_origin

log = logging.getLogger("fastdns")

AXFR = 252
IXFR = 251
SOA = 6
HEADER = struct.Struct("!HHHHHH")
#: the answer records of one message, at most (well within 64 kB with the question)
MESSAGE_BYTES = 16384

#: the zone served under a name, with its configuration, or None
ZoneFinder = Callable[[dns.name.Name], tuple[ZoneConfig, NativeZone] | None]


#: NOTIFY sent to a secondary this many times, this many seconds apart, until it answers
NOTIFY_TRIES = 5
NOTIFY_WAIT = 1.0


#: NOTIFY sent, by outcome ("answered", "unanswered"), for the metrics
NOTIFIES_SENT = {"answered": 0, "unanswered": 0}


async def notify_secondaries(zone: ZoneConfig, serial: int) -> dict[str, str]:
    """NOTIFY for the zone (with its SOA serial, RFC 1996 3.7) to each of its secondaries
    at once; returns each one's outcome ("NOERROR", another rcode, or "no answer")."""
    results = await asyncio.gather(*(_notify_one(zone, serial, target) for target in zone.notify))
    for result in results:
        NOTIFIES_SENT["unanswered" if result == "no answer" else "answered"] += 1
    return {str(target): result for target, result in zip(zone.notify, results)}


async def _notify_one(zone: ZoneConfig, serial: int, target: ListenAddress) -> str:
    origin = zone_origin(zone.name)
    message = dns.message.make_query(origin, dns.rdatatype.SOA)
    message.flags = dns.flags.AA  # the flags word holds the opcode: set it after
    message.set_opcode(dns.opcode.NOTIFY)
    soa = dns.rrset.from_text(origin, 0, "IN", "SOA", f". . {serial} 0 0 0 0")
    message.answer.append(soa)
    for _ in range(NOTIFY_TRIES):
        try:
            reply = await asyncio.to_thread(dns.query.udp, message, target.host, NOTIFY_WAIT, target.port)
        except (dns.exception.DNSException, OSError):
            continue
        result = dns.rcode.to_text(reply.rcode())
        log.info("%s: NOTIFY serial %d to %s: %s", zone.name, serial, target, result)
        return result
    log.warning("%s: NOTIFY serial %d to %s: no answer after %d tries", zone.name, serial, target, NOTIFY_TRIES)
    return "no answer"


def question_type(wire: bytes) -> int | None:
    """The QTYPE of a one-question query in wire form, or None when it has none that can
    be read (the engine answers those): the question's name is walked, never expanded."""
    if len(wire) < 12 or wire[4:6] != b"\x00\x01" or wire[2] & 0x80:
        return None
    at = 12
    while at < len(wire) and wire[at] != 0:
        if wire[at] & 0xC0:
            return None
        at += wire[at] + 1
    if at + 5 > len(wire):
        return None
    return int.from_bytes(wire[at + 1:at + 3], "big")


class _Signer:
    """TSIG (RFC 8945) on a transfer's messages: the first over the request's MAC, each
    next one over the MAC before it (5.3.1)."""

    def __init__(self, key: TsigKey, query: dns.message.Message) -> None:
        self.key = dns.tsig.Key(key.name, key.secret, key.algorithm)
        self.request_mac = query.mac
        self.ctx = None
        self.original_id = query.id

    def sign(self, message: bytes) -> bytes:
        template = dns.rdtypes.ANY.TSIG.TSIG(dns.rdataclass.ANY, dns.rdatatype.TSIG, self.key.algorithm, 0, 300,
                                             b"", self.original_id, 0, b"")
        tsig, self.ctx = dns.tsig.sign(message, self.key, template, int(time.time()), self.request_mac,
                                       self.ctx, True)
        rdata = tsig.to_wire()
        owner = self.key.name.to_wire()
        assert rdata is not None and owner is not None
        header = bytearray(message[:12])
        struct.pack_into("!H", header, 10, struct.unpack_from("!H", message, 10)[0] + 1)
        return (bytes(header) + message[12:] + owner
                + struct.pack("!HHIH", dns.rdatatype.TSIG, dns.rdataclass.ANY, 0, len(rdata)) + rdata)


#: versions of a zone whose differences are kept for IXFR, at most
HISTORY = 64


@dataclass(frozen=True)
class _Version:
    """What one reload changed in a zone (RFC 1995 4's sequence), RRs in wire form."""

    old_soa: bytes
    new_soa: bytes
    old_serial: int
    new_serial: int
    deleted: tuple[bytes, ...]
    added: tuple[bytes, ...]


def _rr_type(rr: bytes) -> int:
    at = 0
    while rr[at]:
        at += rr[at] + 1
    return int.from_bytes(rr[at + 1:at + 3], "big")


def _soa_serial(rr: bytes) -> int:
    return int.from_bytes(rr[-20:-16], "big")


class TransfersOut:
    """Answers AXFR and IXFR for the zones that allow them."""

    def __init__(self, zones: ZoneFinder, keys: tuple[TsigKey, ...] = ()) -> None:
        self.zones = zones
        self.history: dict[dns.name.Name, list[_Version]] = {}
        self.keyring = {dns.name.from_text(k.name): dns.tsig.Key(k.name, k.secret, k.algorithm) for k in keys}
        self.served = 0  #: transfers sent, and refused
        self.refused = 0

    def record_change(self, origin: dns.name.Name, old: NativeZone, new: NativeZone) -> None:
        """Keep what a reload changed, for IXFR: known for a zone patched from the one it
        replaces (its changed names); any other change starts the history again."""
        names = new.patched_names
        if new.patched_from != id(old) or not names:
            self.history.pop(origin, None)
            return
        before, after = old.records_of(names), new.records_of(names)
        in_after, in_before = set(after), set(before)
        old_soa = next((rr for rr in old.records_of([old.apex]) if _rr_type(rr) == SOA), None)
        new_soa = next((rr for rr in after if _rr_type(rr) == SOA), None)
        if old_soa is None or new_soa is None:
            self.history.pop(origin, None)
            return
        version = _Version(old_soa, new_soa, _soa_serial(old_soa), _soa_serial(new_soa),
                           tuple(rr for rr in before if rr not in in_after and _rr_type(rr) != SOA),
                           tuple(rr for rr in after if rr not in in_before and _rr_type(rr) != SOA))
        versions = self.history.setdefault(origin, [])
        if versions and versions[-1].new_serial != version.old_serial:
            versions.clear()
        versions.append(version)
        del versions[:-HISTORY]

    def _incremental(self, query: dns.message.Message, current: int) -> list[bytes] | None:
        """The IXFR answer's RRs (RFC 1995 4) from the client's serial to current; None
        when the history does not reach back to it (then the whole zone)."""
        question = query.question[0]
        serials = [int(rr.serial) for rrset in query.authority if rrset.rdtype == SOA for rr in rrset]
        versions = self.history.get(question.name, [])
        if not serials or not versions or versions[-1].new_serial != current:
            return None
        start = next((i for i, v in enumerate(versions) if v.old_serial == serials[0]), None)
        if start is None:
            return None
        rrs = [versions[-1].new_soa]
        for v in versions[start:]:
            rrs += [v.old_soa, *v.deleted, v.new_soa, *v.added]
        return rrs + [versions[-1].new_soa]

    def reply(self, wire: bytes, peer: str) -> list[bytes] | None:
        """The messages answering a transfer request from peer; None for anything else."""
        if question_type(wire) not in (AXFR, IXFR):
            return None
        try:
            query = dns.message.from_wire(wire, ignore_trailing=False, keyring=self.keyring)
        except (dns.message.UnknownTSIGKey, dns.tsig.BadSignature, dns.tsig.BadTime, dns.tsig.BadAlgorithm):
            self.refused += 1
            log.warning("transfer request from %s refused: a bad or unknown TSIG key", peer)
            return None  # ends the connection: there is no key to answer it with
        except dns.exception.DNSException:
            return None  # the engine answers it (FORMERR)
        question = query.question[0]
        found = self.zones(question.name)
        reason = None if found is not None else "not a zone served here"
        if found is not None and not _allowed(peer, found[0]):
            reason = "not in its allow_transfer"
        key = found[0].allow_transfer_key if found is not None else None
        if reason is None and key is not None and query.keyname != dns.name.from_text(key.name):
            reason = f"not signed with {key.name}"
        if reason is not None or found is None:
            self.refused += 1
            log.warning("transfer of %s to %s refused (%s)", question.name.to_text(True), peer, reason)
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.REFUSED if found is not None else dns.rcode.NOTAUTH)
            return [response.to_wire()]
        zone, native = found
        self.served += 1
        end = _question_end(wire)
        flags = dns.flags.QR | dns.flags.AA | (query.flags & dns.flags.RD)
        messages = []
        signer = _Signer(key, query) if key is not None else None
        incremental = self._incremental(query, native.serial) if question.rdtype == IXFR else None
        chunks = _chunks(incremental) if incremental is not None else native.transfer_chunks(MESSAGE_BYTES)
        for count, records in chunks:
            message = HEADER.pack(query.id, flags, 1, count, 0, 0) + wire[12:end] + records
            messages.append(signer.sign(message) if signer is not None else message)
        kind = "AXFR" if question.rdtype == AXFR else "IXFR" if incremental is not None else "IXFR (whole zone)"
        log.info("%s: %s to %s, %d messages", zone.name, kind, peer, len(messages))
        return messages


def _chunks(rrs: list[bytes]) -> list[tuple[int, bytes]]:
    """RRs as (count, bytes) chunks of at most MESSAGE_BYTES (NativeZone.transfer_chunks')."""
    chunks: list[tuple[int, bytes]] = []
    count, size = 0, 0
    part: list[bytes] = []
    for rr in rrs:
        if size + len(rr) > MESSAGE_BYTES and part:
            chunks.append((count, b"".join(part)))
            count, size, part = 0, 0, []
        part.append(rr)
        count += 1
        size += len(rr)
    chunks.append((count, b"".join(part)))
    return chunks


def _question_end(wire: bytes) -> int:
    at = 12
    while wire[at] != 0:
        at += wire[at] + 1
    return at + 5


def _allowed(peer: str, zone: ZoneConfig) -> bool:
    try:
        address = ipaddress.ip_address(peer.split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in zone.allow_transfer)
