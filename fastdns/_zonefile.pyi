# SPDX-License-Identifier: MIT
"""Master files (RFC 1035 section 5) read by ldns into wire-format records (native/zonefile.pyx)."""

from fastdns.errors import ZoneError

#: what parse_zone raises: fastdns's ZoneError, str() 'file:line: reason'
ZoneSyntaxError = ZoneError

class Records:
    """The records of one master file, in file order, duplicates kept.

    `data`: the records back to back, each an RR in wire form without compression
    (RFC 1035 4.1.3): owner (uncompressed wire name, case as written or as $ORIGIN/@ produced
    it), type u16, class u16, TTL u32, rdlength u16 (big-endian), rdata (uncompressed, names
    in it case as written; byte-identical to dnspython's rdata.to_wire()).
    `lines`: `count` little-endian u32, the file line each record starts on.
    `offsets`: `count` + 1 little-endian u64, where each record starts in `data`, then
    len(data); computed on first use."""

    @property
    def count(self) -> int: ...
    @property
    def data(self) -> bytes: ...
    @property
    def lines(self) -> bytes: ...
    @property
    def offsets(self) -> bytes: ...

def parse_zone(filename: str, origin: bytes, default_ttl: int = 3600) -> Records:
    """Read `filename`, the master file of the zone whose apex is the wire name `origin` (any
    case): $ORIGIN and $TTL apply, $INCLUDE is refused and $GENERATE is not read (ldns);
    relative owners and rdata names are qualified against the current origin; class IN only.

    Each record's TTL is its effective one, as dnspython's reader gives it (RFC 2308): its
    own, else $TTL, else the last explicit TTL, else the SOA MINIMUM once the SOA is read;
    before any of those, `default_ttl` (dnspython fails there with 'Missing default TTL
    value': pass a negative `default_ttl` to fail the same way).

    :raises ZoneSyntaxError: naming file, line and reason, for a syntax error, bad rdata, an
        unknown type, another class, $INCLUDE, or an owner outside the zone ('<owner> is
        outside the zone <origin>').
    """

#: parse_text reads a file this big or bigger in two halves at once
PARALLEL_MIN_BYTES: int
ZSCANNER_MIN_BYTES: int

def parse_text(filename: str, origin: bytes, text: bytes, default_ttl: int = 3600) -> Records:
    """parse_zone over `text`, the file's bytes read already; a big file with a $TTL before
    its first record and no directive after it is read in two halves at once (two threads),
    with the same records."""

def parse_spans(filename: str, origin: bytes, text: bytes, header_end: int,
                spans: list[tuple[int, int, int]]) -> list[Records]: ...
def changed_spans(old: bytes, new: bytes, first_record_line: int) -> list[tuple[int, int, int, int, int]] | None: ...
def trim_heap() -> None: ...

class AxfrError(Exception):
    """A transfer that cannot be taken: the reason (the message number when it is one's)."""

class TransferMessages:
    """An IXFR's messages in order, each read by ldns (TSIG checked per message), its answer
    records handed back as (type, SOA serial or None, text line)."""

    def __init__(self, key_name: str | None = None, key_secret: str | None = None,
                 request_mac: bytes = b"") -> None: ...
    def feed(self, message: bytes) -> list[tuple[int, int | None, str]]: ...

class AxfrReader(TransferMessages):
    """Takes an AXFR's messages in order and writes its records to a zone file (ldns reads
    each message; with a key, each message's TSIG is checked against the one before)."""

    records: int
    serial: int
    done: bool
    def __init__(self, path: str, origin: bytes, key_name: str | None = None, key_secret: str | None = None,
                 request_mac: bytes = b"") -> None: ...
    def feed(self, message: bytes) -> bool: ...  # type: ignore[override]
    def close(self) -> None: ...
