# SPDX-License-Identifier: MIT
"""Loading and validating zone files (RFC 1035 master files) with dnspython."""

from __future__ import annotations

import os
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import dns.zone
import dns.zonefile

from fastdns.errors import ZoneError

CNAME = dns.rdatatype.CNAME
SOA = dns.rdatatype.SOA
NS = dns.rdatatype.NS
DNAME = dns.rdatatype.DNAME


@dataclass
class LoadedZone:
    """A validated zone and where it came from."""

    origin: dns.name.Name
    zone: dns.zone.Zone  #: absolute names (relativize=False)
    filename: str
    mtime_ns: int

    @property
    def serial(self) -> int:
        soa = self.zone.get_rdataset(self.origin, SOA)
        assert soa is not None
        return int(soa[0].serial)


def load_zone(origin: str | dns.name.Name, filename: str) -> LoadedZone:
    """Read and validate one zone file.

    :param origin: the zone's apex name.
    :param filename: the master file to read.
    :raises ZoneError: naming the file, the line where known, and the reason.
    """
    if isinstance(origin, str):
        try:
            origin = dns.name.from_text(origin)
        except dns.exception.DNSException as e:
            raise ZoneError(filename, None, f"bad zone name '{origin}': {e}") from None
    try:
        with open(filename, encoding="utf-8") as f:
            mtime_ns = os.fstat(f.fileno()).st_mtime_ns
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ZoneError(filename, None, f"cannot read zone file: {e}") from None
    zone, lines = _read(origin, filename, text)
    _validate(origin, zone, filename, lines.lines)
    return LoadedZone(origin, zone, filename, mtime_ns)


class _LineRecorder:
    """Remembers the line each (owner, type) was first read from.

    dnspython calls the check hook as a record is added, after the tokenizer has consumed
    the record's final newline; the record therefore ended on the line before.
    """

    def __init__(self, tok: dns.tokenizer.Tokenizer) -> None:
        self.tok = tok
        self.lines: dict[tuple[dns.name.Name, int], int] = {}

    def current(self) -> int:
        return max(1, self.tok.where()[1] - 1)

    def check(self, txn: object, name: dns.name.Name, rdataset: object) -> None:
        origin = txn.manager.origin  # type: ignore[attr-defined]
        if not name.is_subdomain(origin):
            raise ValueError(f"{name} is outside the zone {origin}")
        self.lines.setdefault((name, rdataset.rdtype), self.current())  # type: ignore[attr-defined]


def _read(origin: dns.name.Name, filename: str, text: str) -> tuple[dns.zone.Zone, _LineRecorder]:
    """Run dnspython's zone file reader, keeping hold of its tokenizer so that every
    error, not only syntax errors, can name the line it was found on."""
    if not text.endswith("\n"):
        text += "\n"  # so that the last record's line is counted like every other
    zone = dns.zone.Zone(origin, dns.rdataclass.IN, relativize=False)
    tok = dns.tokenizer.Tokenizer(text, filename)
    lines = _LineRecorder(tok)
    try:
        with zone.writer(True) as txn:
            reader = dns.zonefile.Reader(tok, dns.rdataclass.IN, txn, allow_include=False)
            txn.check_put_rdataset(lines.check)
            reader.read()
    except dns.exception.SyntaxError as e:
        # dnspython already prefixes "file:line: "; split it back apart.
        raise _from_prefixed(filename, str(e)) from None
    except (dns.exception.DNSException, KeyError, ValueError) as e:
        reason = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        raise ZoneError(filename, lines.current(), reason or "invalid record") from None
    return zone, lines


def _from_prefixed(filename: str, message: str) -> ZoneError:
    head, sep, reason = message.partition(": ")
    fname, _, line = head.rpartition(":")
    if sep and fname == filename and line.isdigit():
        return ZoneError(filename, int(line), reason)
    return ZoneError(filename, None, message)


def _validate(origin: dns.name.Name, zone: dns.zone.Zone, filename: str,
              lines: dict[tuple[dns.name.Name, int], int]) -> None:
    """Checks dnspython leaves to us: one SOA, NS at the apex, no DNAME yet."""
    soa = zone.get_rdataset(origin, SOA)
    if soa is None:
        raise ZoneError(filename, None, f"no SOA record at the zone apex {origin}")
    if len(soa) != 1:
        raise ZoneError(filename, lines.get((origin, SOA)), "more than one SOA record at the apex")
    if zone.get_rdataset(origin, NS) is None:
        raise ZoneError(filename, None, f"no NS records at the zone apex {origin}")
    for name, node in zone.items():
        for rdataset in node:
            if rdataset.rdtype == SOA and name != origin:
                raise ZoneError(filename, lines.get((name, SOA)),
                                f"SOA record at {name}, which is not the zone apex")
            if rdataset.rdtype == DNAME:
                raise ZoneError(filename, lines.get((name, DNAME)),
                                f"DNAME at {name} is not supported yet")
