# SPDX-License-Identifier: MIT
"""Loading and validating zone files (RFC 1035 master files).

Two readers, one set of rules: `load_zone` reads with dnspython into dns.zone.Zone, for
the specification compiler (fastdns/compiler.py) and the tests; `load_native_zone` reads
with ldns (fastdns._zonefile) into the compact native form the production compiler
compiles (fastdns._compiler.NativeZone).  Both reject the same zones, naming file, line
and reason.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer
import dns.zone
import dns.zonefile

from fastdns import _compiler, _zonefile
from fastdns.config import zone_origin
from fastdns.errors import ZoneError
from fastdns.signed import nsec3_iterations_problem

CNAME = dns.rdatatype.CNAME
SOA = dns.rdatatype.SOA
NS = dns.rdatatype.NS
DNAME = dns.rdatatype.DNAME


@dataclass
class ZoneFile:
    """Where a zone came from, as it was when read."""

    filename: str
    mtime_ns: int
    size: int

    def file_unchanged(self) -> bool:
        """The file still has the modification time and size it was read with."""
        try:
            st = os.stat(self.filename)
        except OSError:
            return False
        return (st.st_mtime_ns, st.st_size) == (self.mtime_ns, self.size)


@dataclass(kw_only=True)
class LoadedZone(ZoneFile):
    """A validated zone (dnspython) and where it came from."""

    origin: dns.name.Name
    zone: dns.zone.Zone  #: absolute names (relativize=False)

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
    return load_zone_lines(origin, filename)[0]


def load_zone_lines(origin: str | dns.name.Name, filename: str) -> tuple[LoadedZone, dict]:
    """load_zone, and the file line of each (owner, type): for reports that name them."""
    origin = _origin(origin, filename)
    try:
        with open(filename, encoding="utf-8") as f:
            st = os.fstat(f.fileno())
            text = f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise ZoneError(filename, None, f"cannot read zone file: {e}") from None
    zone, lines = _read(origin, filename, text)
    _validate(origin, zone, filename, lines.lines)
    return LoadedZone(filename, st.st_mtime_ns, st.st_size, origin=origin, zone=zone), lines.lines


@dataclass(kw_only=True)
class NativeLoadedZone(ZoneFile):
    """A validated zone in native form and where it came from."""

    origin: dns.name.Name
    native: _compiler.NativeZone
    text: bytes = b""  #: the file as read: the next reload re-reads only the lines that differ

    @property
    def serial(self) -> int:
        return int(self.native.serial)

    @property
    def record_count(self) -> int:
        return int(self.native.rr_count)

    def same_content(self, other: NativeLoadedZone) -> bool:
        """The same file content (a file reordered or reformatted counts as changed)."""
        return self.text == other.text


_NSEC3PARAM = 51


def load_native_zone(origin: str | dns.name.Name, filename: str,
                     previous: NativeLoadedZone | None = None) -> NativeLoadedZone:
    """Read and validate one zone file into native form.

    :param previous: the zone as last read from this file: when the file differs from it
        in a few lines that each hold whole records, only those lines are read and the
        previous zone is patched (what a one-record edit needs); otherwise, or when the
        change adds or removes a name, the whole file is read.
    :raises ZoneError: naming the file, the line where known, and the reason.
    """
    origin = _origin(origin, filename)
    try:
        st, text = _read_file(filename)
    except OSError as e:
        raise ZoneError(filename, None, f"cannot read zone file: {e}") from None
    wire = origin.to_wire()
    assert wire is not None  # to_wire returns None only when given a file to write to
    try:
        native = None
        if previous is not None and previous.text and previous.origin == origin:
            native = _patched(previous, filename, wire, text)
        if native is None:
            records = _zonefile.parse_text(filename, wire, text, -1)
            native = _compiler.NativeZone(wire, records.data, records.count, records.lines)
    except _compiler.NativeZoneError as e:
        raise ZoneError(filename, e.line, e.reason) from None
    if _NSEC3PARAM in native.rdtypes:
        found = native.apex_rdata(_NSEC3PARAM)
        if found is not None and len(found[0]) >= 4:
            problem = nsec3_iterations_problem(origin.to_text(True), int.from_bytes(found[0][2:4], "big"))
            if problem is not None:
                raise ZoneError(filename, found[1] or None, problem)
    native.label = origin.to_text(True)
    return NativeLoadedZone(filename, st.st_mtime_ns, st.st_size, origin=origin, native=native, text=text)


def _read_file(filename: str) -> tuple[os.stat_result, bytes]:
    """The file's status and its bytes, by the system calls alone (a hoster's 10,000 small
    zones: 6 µs each instead of 10 through a buffered file object)."""
    fd = os.open(filename, os.O_RDONLY | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        chunks, done = [], 0
        while chunk := os.read(fd, max(st.st_size - done, 1 << 16)):  # a read stops at 2 GB
            chunks.append(chunk)
            done += len(chunk)
        return st, chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


def _patched(previous: NativeLoadedZone, filename: str, wire: bytes, text: bytes) -> _compiler.NativeZone | None:
    """The previous zone with the records of the changed lines read again, or None."""
    old = previous.native
    if old.rr_count == 0 or text == previous.text:
        return None
    lines = memoryview(old.lines).cast("I")
    first_record_line = lines[0]
    spans = _zonefile.changed_spans(previous.text, text, first_record_line)
    if not spans:
        return None
    header_end = 0
    for _ in range(first_record_line - 1):
        header_end = text.index(b"\n", header_end) + 1
    try:
        parsed = _zonefile.parse_spans(filename, wire, text, header_end,
                                       [(start, stop, line) for _, _, start, stop, line in spans])
    except ValueError:
        return None  # no $TTL in force: implicit TTLs depend on records before the change
    removed = [(bisect.bisect_left(lines, first), bisect.bisect_left(lines, end)) for first, end, *_ in spans]
    added = [(records.data, records.count, records.lines) for records in parsed]
    lines_after = [text.count(b"\n", start, stop) - (end - first) for first, end, start, stop, _ in spans]
    return _compiler.patch_zone(old, removed, added, lines_after)


def _origin(origin: str | dns.name.Name, filename: str) -> dns.name.Name:
    if isinstance(origin, str):
        try:
            return zone_origin(origin)
        except dns.exception.DNSException as e:
            raise ZoneError(filename, None, f"bad zone name '{origin}': {e}") from None
    return origin


class _Tokenizer(dns.tokenizer.Tokenizer):
    """dnspython's tokenizer, remembering the line of the last token that was not an end
    of line: the line an error belongs to, whether it is found mid-record or after the
    record's newline was read (rdata parsing, checks made as the record is added)."""

    token_line = 1

    def get(self, want_leading: bool = False, want_comment: bool = False) -> dns.tokenizer.Token:
        token = super().get(want_leading, want_comment)
        if not token.is_eol_or_eof():
            # A token ended by a newline has already counted it (and pushed it back).
            self.token_line = self.line_number - (self.ungotten_char == "\n")
        return token


class _Reader(dns.zonefile.Reader):
    """dnspython's zone file reader, refusing what it would silently skip."""

    def _eat_line(self) -> None:
        # dnspython calls this only to skip a record whose owner is outside the zone.
        raise ValueError(f"{self.last_name} is outside the zone {self.zone_origin}")


class _LineRecorder:
    """Remembers the line each (owner, type) was first read from, for later checks."""

    def __init__(self, tok: _Tokenizer) -> None:
        self.tok = tok
        self.lines: dict[tuple[dns.name.Name, int], int] = {}

    def check(self, txn: object, name: dns.name.Name, rdataset: object) -> None:
        self.lines.setdefault((name, rdataset.rdtype), self.tok.token_line)  # type: ignore[attr-defined]


def _read(origin: dns.name.Name, filename: str, text: str) -> tuple[dns.zone.Zone, _LineRecorder]:
    """Run dnspython's zone file reader, keeping hold of its tokenizer so that every
    error, not only syntax errors, names the line it was found on."""
    zone = dns.zone.Zone(origin, dns.rdataclass.IN, relativize=False)
    tok = _Tokenizer(text, filename)
    lines = _LineRecorder(tok)
    try:
        with zone.writer(True) as txn:
            reader = _Reader(tok, dns.rdataclass.IN, txn, allow_include=False)
            txn.check_put_rdataset(lines.check)
            reader.read()
    except (dns.exception.DNSException, KeyError, ValueError) as e:
        reason = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        raise ZoneError(filename, tok.token_line, _without_location(filename, reason)) from None
    return zone, lines


def _without_location(filename: str, message: str) -> str:
    """dnspython prefixes syntax errors with "file:line: " (the line after the newline was
    read, sometimes one too far); we give our own, so drop its."""
    prefix = f"{filename}:"
    if message.startswith(prefix):
        _, _, rest = message[len(prefix):].partition(": ")
        return rest or message
    return message or "invalid record"


def _validate(origin: dns.name.Name, zone: dns.zone.Zone, filename: str,
              lines: dict[tuple[dns.name.Name, int], int]) -> None:
    """Checks dnspython leaves to us: one SOA and NS at the apex, no DNAME yet.

    dnspython itself rejects CNAME beside other data and SOA away from the apex."""
    soa = zone.get_rdataset(origin, SOA)
    if soa is None:
        raise ZoneError(filename, None, f"no SOA record at the zone apex {origin}")
    if len(soa) != 1:
        raise ZoneError(filename, lines.get((origin, SOA)), "more than one SOA record at the apex")
    if zone.get_rdataset(origin, NS) is None:
        raise ZoneError(filename, None, f"no NS records at the zone apex {origin}")
    param = zone.get_rdataset(origin, dns.rdatatype.NSEC3PARAM)
    if param is not None:
        problem = nsec3_iterations_problem(origin.to_text(True), max(rd.iterations for rd in param))
        if problem is not None:
            raise ZoneError(filename, lines.get((origin, dns.rdatatype.NSEC3PARAM)), problem)
    for name, node in zone.items():
        for rdataset in node:
            if rdataset.rdtype == DNAME:
                raise ZoneError(filename, lines.get((name, DNAME)),
                                f"DNAME at {name} is not supported yet")
