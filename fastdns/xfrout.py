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
from collections.abc import Callable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset

from fastdns._compiler import NativeZone
from fastdns.config import ListenAddress, ZoneConfig, zone_origin

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


class TransfersOut:
    """Answers AXFR and IXFR for the zones that allow them."""

    def __init__(self, zones: ZoneFinder) -> None:
        self.zones = zones
        self.served = 0  #: transfers sent, and refused
        self.refused = 0

    def reply(self, wire: bytes, peer: str) -> list[bytes] | None:
        """The messages answering a transfer request from peer; None for anything else."""
        if question_type(wire) not in (AXFR, IXFR):
            return None
        try:
            query = dns.message.from_wire(wire, ignore_trailing=False)
        except dns.exception.DNSException:
            return None  # the engine answers it (FORMERR)
        question = query.question[0]
        found = self.zones(question.name)
        if found is None or not _allowed(peer, found[0]):
            self.refused += 1
            log.warning("transfer of %s to %s refused (%s)", question.name.to_text(True), peer,
                        "not a zone served here" if found is None else "not in its allow_transfer")
            response = dns.message.make_response(query)
            response.set_rcode(dns.rcode.REFUSED if found is not None else dns.rcode.NOTAUTH)
            return [response.to_wire()]
        zone, native = found
        self.served += 1
        end = _question_end(wire)
        flags = dns.flags.QR | dns.flags.AA | (query.flags & dns.flags.RD)
        messages = []
        for count, records in native.transfer_chunks(MESSAGE_BYTES):
            messages.append(HEADER.pack(query.id, flags, 1, count, 0, 0) + wire[12:end] + records)
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
