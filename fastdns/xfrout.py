# SPDX-License-Identifier: MIT
"""Zone transfers out (RFC 5936): AXFR over TCP, in the control process, to the clients a
zone's `allow_transfer` lets in; everyone else is REFUSED.  And NOTIFY (RFC 1996) to a
zone's `notify` secondaries when it changes.

The records come from the zone as it is served (NativeZone.transfer_chunks: the SOA,
every other record, the SOA again, uncompressed), a message of at most MESSAGE_BYTES per
chunk.  IXFR (RFC 1995) is answered with the whole zone, as RFC 1995 4 allows a server
that keeps no history.  UDP transfer requests never get here: the workers refuse them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import struct
import time
from collections.abc import Callable

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


class TransfersOut:
    """Answers AXFR and IXFR for the zones that allow them."""

    def __init__(self, zones: ZoneFinder, keys: tuple[TsigKey, ...] = ()) -> None:
        self.zones = zones
        self.keyring = {dns.name.from_text(k.name): dns.tsig.Key(k.name, k.secret, k.algorithm) for k in keys}
        self.served = 0  #: transfers sent, and refused
        self.refused = 0

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
        for count, records in native.transfer_chunks(MESSAGE_BYTES):
            message = HEADER.pack(query.id, flags, 1, count, 0, 0) + wire[12:end] + records
            messages.append(signer.sign(message) if signer is not None else message)
        log.info("%s: %s to %s, %d messages", zone.name, "AXFR" if question.rdtype == AXFR else "IXFR (whole zone)",
                 peer, len(messages))
        return messages


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
