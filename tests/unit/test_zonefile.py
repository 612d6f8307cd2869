# SPDX-License-Identifier: MIT
"""fastdns._zonefile (ldns) reads master files exactly as dnspython does, record by record:
owners, types, classes, per-record TTLs and rdata in wire form; errors name file and line."""

from __future__ import annotations

import importlib.util
import struct
import sys
import threading
from collections import defaultdict
from pathlib import Path

import dns.name
import pytest

from fastdns import _zonefile
from fastdns._zonefile import PARALLEL_MIN_BYTES, Records, ZoneSyntaxError, parse_text, parse_zone
from fastdns.errors import ZoneError
from fastdns.zone import load_zone
from tests.conftest import zscanner_module

ROOT = Path(__file__).resolve().parents[2]
ZONE_FILES = sorted((ROOT / "tests" / "zones").glob("*.zone")) + sorted((ROOT / "zones").glob("*.zone"))

#: One or more of every type the library reads that fastdns may meet, and TXT escapes.
MANY_TYPES = r"""$ORIGIN types.test.
$TTL 3600
@        IN SOA  ns1 hostmaster.types.test. 2026120201 7200 3600 1209600 300
@        IN NS   ns1
@        IN NS   ns.example.net.
@        IN MX   10 mail
@        IN TXT  "v=spf1 -all" "second string" "quote \" and \\ backslash" "\065\066\255 dec"
@        IN TXT  plain-word ""
@   60   IN CAA  0 issue "ca.example.net"
@        IN CAA  128 iodef "mailto:security@types.test"
@        IN DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==
@        IN NSEC3PARAM 1 0 10 aabbccdd
@        IN RRSIG SOA 13 2 3600 20270101000000 20261201000000 12345 types.test. (
         kUrjU0rLuqbZ0rGy4mH4S1OAYw+1DU2KK1rN7EKkTVqnGNXwM8GllMM9ql81T8iMfAd9msk8Dme1YUJVc3xEGw== )
@        IN NSEC www.types.test. A NS SOA MX TXT AAAA RRSIG NSEC DNSKEY CAA
ns1      IN A    192.0.2.53
ns1      IN AAAA 2001:db8::53
Mail     IN A    192.0.2.25
www      IN AAAA 2001:db8:0:0:1::80
alias    IN CNAME Www.Types.Test.
80       IN PTR  www
_sip._udp IN SRV 10 60 5060 sip.example.net.
_443._tcp.www IN TLSA 3 1 1 0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef
www      IN SSHFP 4 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
www      IN HINFO "PC-Intel-700mhz" "Linux"
www      IN LOC  52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m
sip      IN NAPTR 100 10 "S" "SIP+D2U" "" _sip._udp
sip      IN NAPTR 102 10 "U" "E2U+sip" "!^.*$!sip:info@example.net!" .
child    IN NS   ns.child
child    IN DS   12345 13 2 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
ns.child IN A    192.0.2.200
svc      IN SVCB 1 svc.example.net. alpn="h2,h3" port=8443 ipv4hint=192.0.2.1
svc      IN HTTPS 0 www.types.test.
1ai6m3ns7bqbbo0sj6q2j0e6rbv3q7rq IN NSEC3 1 1 10 aabbccdd 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG
opaque   IN TYPE65534 \# 4 01020304
opaque   IN TYPE65535 \# 0
$ORIGIN sub.types.test.
deep     300 IN A 192.0.2.9
"""
GOOD = """$TTL 300
@ IN SOA ns1 hostmaster 7 3600 900 604800 60
@ IN NS ns1
ns1 IN A 192.0.2.1
"""
EXAMPLE = b"\x07example\x03com\x00"


def use_parser(monkeypatch, parser: str) -> None:
    """parse_text's reader of plain records: ldns, or libzscanner where the opt-in build made it."""
    if parser == "ldns":
        monkeypatch.setenv("FASTDNS_PARSER", "ldns")
    else:
        zscanner_module()
        monkeypatch.delenv("FASTDNS_PARSER", raising=False)
        monkeypatch.setattr(_zonefile, "ZSCANNER_MIN_BYTES", 0)  # small files too


def workload_zone(path: Path, names: int) -> None:
    spec = importlib.util.spec_from_file_location("workload", ROOT / "deploy" / "bench" / "workload.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["workload"] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    module.write_zone(path, names)


def records(result: Records) -> list[tuple[bytes, int, int, int, bytes]]:
    """Walk the buffer by its own lengths: (owner, type, class, ttl, rdata) in file order."""
    out, data, at = [], result.data, 0
    while at < len(data):
        start = at
        while data[at]:
            at += 1 + data[at]
        owner, at = data[start:at + 1], at + 1
        rtype, rclass, ttl, rdlength = struct.unpack_from("!HHIH", data, at)
        at += 10
        out.append((owner, rtype, rclass, ttl, data[at:at + rdlength]))
        at += rdlength
    assert len(out) == result.count
    offsets = struct.unpack(f"<{result.count + 1}Q", result.offsets)
    assert offsets[-1] == len(data)
    return out


def dnspython_view(origin: str, path: Path):
    """dnspython's reading, as fastdns.zone loads it: per (owner, type) the RRset's TTL (the
    minimum of its records') and its rdata in wire form, sorted."""
    zone = load_zone(origin, str(path)).zone
    view = {}
    for name, node in zone.items():
        for rdataset in node:
            key = (name.to_wire(), rdataset.rdtype, rdataset.rdclass)
            view[key] = (rdataset.ttl, sorted(rd.to_wire() for rd in rdataset))
    return view


def native_view(origin: str, path: Path):
    origin_wire = dns.name.from_text(origin).to_wire()
    groups = defaultdict(list)
    for owner, rtype, rclass, ttl, rdata in records(parse_zone(str(path), origin_wire)):
        groups[(owner, rtype, rclass)].append((ttl, rdata))
    return {key: (min(t for t, _ in rrs), sorted(rd for _, rd in rrs)) for key, rrs in groups.items()}


def assert_same_as_dnspython(origin: str, path: Path) -> None:
    ours, theirs = native_view(origin, path), dnspython_view(origin, path)
    assert sorted(ours) == sorted(theirs)
    for key, value in theirs.items():
        assert ours[key] == value, key


@pytest.mark.parametrize("path", ZONE_FILES, ids=lambda p: p.name)
def test_test_zones_read_as_dnspython_reads_them(path):
    assert_same_as_dnspython(path.name.removesuffix(".zone"), path)


def test_many_types_read_as_dnspython_reads_them(tmp_path):
    path = tmp_path / "types.test.zone"
    path.write_text(MANY_TYPES)
    assert_same_as_dnspython("types.test", path)


def test_benchmark_zone_reads_as_dnspython_reads_it(tmp_path):
    path = tmp_path / "bench.test.zone"
    workload_zone(path, 3000)
    assert_same_as_dnspython("bench.test", path)


def test_records_keep_file_order_lines_case_and_duplicates(tmp_path):
    path = tmp_path / "example.com.zone"
    path.write_text("; head\n" + GOOD.replace("@ IN SOA ns1 hostmaster 7 3600 900 604800 60",
                                              "@ IN SOA ns1 hostmaster (\n 7 3600\n 900 604800 60 )")
                    + "\nWWW.Example.COM. IN A 192.0.2.2\nwww IN A 192.0.2.2\n")
    result = parse_zone(str(path), EXAMPLE)
    rrs = records(result)
    assert [r[1] for r in rrs] == [6, 2, 1, 1, 1]
    assert struct.unpack("<5I", result.lines) == (3, 6, 7, 9, 10)
    assert rrs[3][0] == b"\x03WWW\x07Example\x03COM\x00"
    assert rrs[4][0] == b"\x03www" + EXAMPLE


def test_ttl_is_per_record_and_follows_rfc2308_as_dnspython(tmp_path):
    path = tmp_path / "example.com.zone"
    # No $TTL: the SOA's TTL comes from its MINIMUM; then the last explicit TTL applies.
    path.write_text("@ IN SOA ns1 hostmaster 7 3600 900 604800 60\n@ IN NS ns1\n"
                    "ns1 120 IN A 192.0.2.1\nns1 IN AAAA 2001:db8::1\n$TTL 30\nns1 IN TXT x\n")
    assert [r[3] for r in records(parse_zone(str(path), EXAMPLE))] == [60, 60, 120, 120, 30]
    assert_same_as_dnspython("example.com", path)


def test_missing_ttl_uses_the_default_or_fails_as_dnspython(tmp_path):
    path = tmp_path / "example.com.zone"
    path.write_text("ns1 IN A 192.0.2.1\n@ IN SOA ns1 hostmaster 7 3600 900 604800 60\n")
    assert records(parse_zone(str(path), EXAMPLE, default_ttl=77))[0][3] == 77
    with pytest.raises(ZoneSyntaxError) as info:
        parse_zone(str(path), EXAMPLE, default_ttl=-1)
    assert info.value.line == 1 and info.value.reason == "Missing default TTL value"


def error_of(tmp_path, text: str) -> ZoneSyntaxError:
    path = tmp_path / "example.com.zone"
    path.write_text(text)
    with pytest.raises(ZoneSyntaxError) as info:
        parse_zone(str(path), EXAMPLE)
    e = info.value
    assert isinstance(e, ZoneError) and e.filename == str(path)
    assert str(e) == f"{path}:{e.line}: {e.reason}"
    return e


def test_bad_rdata_names_file_line_and_reason(tmp_path):
    e = error_of(tmp_path, GOOD + "\nwww IN A 192.0.2.300\n")
    assert e.line == 6 and e.reason


def test_unknown_type_names_its_line(tmp_path):
    e = error_of(tmp_path, GOOD + "www IN AX 192.0.2.2\n")
    assert e.line == 5 and "AX" in e.reason


def test_owner_outside_the_zone_is_refused_with_dnspythons_message(tmp_path):
    e = error_of(tmp_path, GOOD + "www.example.org. IN A 192.0.2.2\n")
    assert (e.line, e.reason) == (5, "www.example.org. is outside the zone example.com.")
    e = error_of(tmp_path, GOOD + "$ORIGIN notexample.com.\nwww IN A 192.0.2.2\n")
    assert e.line == 6 and "outside the zone" in e.reason


def test_other_classes_and_include_are_refused(tmp_path):
    e = error_of(tmp_path, GOOD + "www CH A 192.0.2.2\n")
    assert (e.line, e.reason) == (5, "RR class is not zone's class")
    e = error_of(tmp_path, GOOD + "$INCLUDE other.zone\n")
    assert (e.line, e.reason) == (5, "zone file directive '$INCLUDE' is not allowed")


def test_unreadable_file_names_the_file(tmp_path):
    with pytest.raises(ZoneSyntaxError) as info:
        parse_zone(str(tmp_path / "missing.zone"), EXAMPLE)
    assert info.value.line is None and "cannot read" in info.value.reason


# -- a small file read in one pass without the GIL ------------------------------------------

SMALL_FILES = [
    GOOD,
    "; head\n" + GOOD + "\nWWW.Example.COM. IN A 192.0.2.2\nwww IN A 192.0.2.2\n",
    "$ORIGIN example.com.\n" + GOOD + "$ORIGIN sub.example.com.\nwww IN A 192.0.2.2\n$TTL 60\nx IN TXT y\n",
    # explicit TTLs before $TTL; then RFC 2308 as dnspython reads it (the ordinary reading)
    "@ 3600 IN SOA ns1 hostmaster 7 3600 900 604800 60\n@ 3600 IN NS ns1\n$TTL 30\nns1 IN A 192.0.2.1\n",
    "@ IN SOA ns1 hostmaster 7 3600 900 604800 60\n@ IN NS ns1\nns1 120 IN A 192.0.2.1\n"
    "ns1 IN AAAA 2001:db8::1\n$TTL 30\nns1 IN TXT x\n",
    "ns1 IN A 192.0.2.1\n@ IN SOA ns1 hostmaster 7 3600 900 604800 60\n",
    GOOD + "www IN A 192.0.2.300\n",
    GOOD + "www.example.org. IN A 192.0.2.2\n",
    GOOD + "$INCLUDE other.zone\n",
    GOOD + "www CH A 192.0.2.2\n",
    GOOD + "www IN AX 192.0.2.2\n",
]


@pytest.mark.parametrize("text", SMALL_FILES, ids=range(len(SMALL_FILES)))
def test_a_small_file_read_in_one_pass_gives_what_the_ordinary_reading_gives(tmp_path, text):
    path = tmp_path / "example.com.zone"
    path.write_text(text)

    def read(parse):
        try:
            result = parse()
        except ZoneSyntaxError as e:
            return e.line, e.reason
        return result.count, result.data, result.lines

    assert read(lambda: parse_text(str(path), EXAMPLE, text.encode())) == read(lambda: parse_zone(str(path), EXAMPLE))


# -- a big file read in two halves at once ---------------------------------------------------

def big_zone(lines: int, middle: str = "", ttl: str = "$TTL 300\n") -> str:
    """A file over parse_text's threshold for two halves, `middle` about halfway."""
    head = f"$ORIGIN example.com.\n{ttl}@ IN SOA ( ns1 hostmaster\n  1 3600 900 604800 60 )\n@ IN NS ns1\n"
    body = [f"host{i} IN A 192.0.2.{i % 250 + 1}" if i % 3 else f'host{i} 60 IN TXT "t{i}" "(x)"'
            for i in range(lines)]
    body.insert(lines // 2, middle.rstrip("\n"))
    return head + "\n".join(body) + "\n"


@pytest.mark.parametrize("middle", [
    "",  # plain records: two halves
    "spread IN TXT (\n\"a\"\n\"b\" )",  # a record on several lines about the split
    "quoted IN TXT \"a ( b\"\n   IN TXT \"c ) d\"",  # parentheses in strings, a blank owner
    "; a comment (\n",
], ids=["plain", "parentheses", "quotes", "comment"])
@pytest.mark.parametrize("parser", ["ldns", "zscanner"])
def test_a_big_file_in_two_halves_has_the_records_of_one_reading(tmp_path, monkeypatch, middle, parser):
    """ldns: in two halves at once; libzscanner (an opt-in build): in one pass."""
    use_parser(monkeypatch, parser)
    path = tmp_path / "example.com.zone"
    text = big_zone(60_000, middle)
    assert len(text) > PARALLEL_MIN_BYTES
    path.write_text(text)
    started = []
    thread = threading.Thread
    monkeypatch.setattr(threading, "Thread", lambda *a, **k: started.append(k.get("name")) or thread(*a, **k))
    whole, halves = parse_zone(str(path), EXAMPLE), parse_text(str(path), EXAMPLE, text.encode())
    assert (halves.count, halves.data, halves.lines) == (whole.count, whole.data, whole.lines)
    assert started == (["fastdns-parse"] if parser == "ldns" else [])  # read in two halves indeed


@pytest.mark.parametrize("ttl", ["", "$TTL 300\n$ORIGIN example.com.\n"], ids=["no $TTL", "late directive"])
def test_a_big_file_the_halves_cannot_read_is_read_whole(tmp_path, ttl):
    """No $TTL before the records (implicit TTLs follow the ones before), or a directive
    among them: one reading, the same records."""
    path = tmp_path / "example.com.zone"
    text = big_zone(60_000, ttl.split("\n")[-2] if ttl else "", "" if not ttl else "$TTL 300\n")
    path.write_text(text)
    whole, halves = parse_zone(str(path), EXAMPLE), parse_text(str(path), EXAMPLE, text.encode())
    assert (halves.count, halves.data, halves.lines) == (whole.count, whole.data, whole.lines)


@pytest.mark.parametrize("bad, reason", [
    ("www IN A 192.0.2.300", None),
    ("www CH A 192.0.2.2", "RR class is not zone's class"),
    ("www.example.org. IN A 192.0.2.2", "www.example.org. is outside the zone example.com."),
])
@pytest.mark.parametrize("where", [0.25, 0.75], ids=["first half", "second half"])
@pytest.mark.parametrize("parser", ["ldns", "zscanner"])
def test_an_error_in_either_half_names_the_line_of_one_reading(tmp_path, monkeypatch, bad, reason, where, parser):
    use_parser(monkeypatch, parser)
    path = tmp_path / "example.com.zone"
    lines = big_zone(60_000).splitlines()
    at = int(len(lines) * where)
    lines.insert(at, bad)
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    with pytest.raises(ZoneSyntaxError) as info:
        parse_text(str(path), EXAMPLE, text.encode())
    assert info.value.line == at + 1 and info.value.filename == str(path)
    assert reason is None or info.value.reason == reason


@pytest.mark.parametrize("seed", range(20))
def test_changed_spans_put_in_place_give_the_new_text(seed):
    """Each span's new lines, put in place of its old lines, turn the old text into the new:
    owners edited, added and removed far apart in a long file, the common middle skipped."""
    import random

    from fastdns._zonefile import changed_spans

    rng = random.Random(seed)
    header = ["$TTL 300", "@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300", "@ IN NS ns1"]
    body = [f"h{k} IN A 192.0.2.{k % 250}" for k in range(2000)]
    edited = list(body)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(edited))
        kind = rng.choice(("change", "add", "add to an owner", "remove"))
        if kind == "change":
            edited[at] = edited[at].replace("192.0.2.", "198.51.100.")
        elif kind == "add":
            edited.insert(at, f"n{at} IN TXT \"new\"")
        elif kind == "add to an owner":  # the old text's next line ends the new one too
            edited.insert(at, edited[at].split()[0] + " IN TXT \"new\"")
        else:
            del edited[at]
    old = ("\n".join(header + body) + "\n").encode()
    new = ("\n".join(header + edited) + "\n").encode()
    spans = changed_spans(old, new, len(header) + 1)
    assert spans, "a plain edit among records is read in part"
    old_lines = old.split(b"\n")
    rebuilt, at = [], 0
    for first, end, start, stop, new_first in spans:
        rebuilt += old_lines[at:first - 1]
        assert new_first - 1 == len(rebuilt)  # the new text's line number of the span
        rebuilt += new[start:stop].split(b"\n")[:-1] if stop > start else []
        at = end - 1
    rebuilt += old_lines[at:]
    assert b"\n".join(rebuilt) == new


# -- the opt-in libzscanner reader (FASTDNS_ZSCANNER=1 builds): the records ldns reads ------

def _zscanner():
    return zscanner_module()


#: MANY_TYPES without its $ORIGIN: every record after the $TTL header, some on several lines
MANY_TYPES_ONE_ORIGIN = MANY_TYPES.split("$ORIGIN sub.types.test.\n")[0] + "deep.sub 300 IN A 192.0.2.9\n"

BODIES = {
    "many types": MANY_TYPES_ONE_ORIGIN,
    "comments, blank lines, blank owners, case": "; top\n$TTL 300\n\n@ IN SOA ns1 hostmaster (\n  7 ; serial\n"
    "  3600 900 604800 60 )\n  IN NS ns1\n\n   ; indented comment\nWWW.Example.COM. 60 IN A 192.0.2.2\n"
    "\tIN AAAA 2001:db8::2\nwww IN TXT \"a ; b\" ( \"c\"\n  \"d\" )\nlast IN A 192.0.2.9",
    "explicit and implicit TTLs": "$TTL 30\n@ IN SOA ns1 hostmaster 7 3600 900 604800 60\n@ 86400 IN NS ns1\n"
    "ns1 IN A 192.0.2.1\nns1 7200 IN AAAA 2001:db8::1\nns1 IN TXT after\n",
    # libzscanner hands the SOA over before its ')' line: the lines after are still theirs
    "a closing parenthesis on its own line": "$TTL 300\n@ IN SOA ns1 hostmaster (\n    1 ; serial\n    3600\n"
    "    900\n    604800\n    60 ; minimum\n)\n@ IN NS ns1\n\n\nns1 IN A 192.0.2.1\nw IN TXT ( \"a\"\n  )\n"
    "x IN A 192.0.2.2\n",
    # read by ldns (what libzscanner reads unlike dnspython is handed back): the same records
    "RFC 3597 rdata and escapes": "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 900 604800 60\n@ IN NS ns1\n"
    "a IN A \\# 4 c0000201\nb IN TXT \"x\\\"y\"\nc IN CNAME \\@\n",
    "a 255-byte string": "$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 900 604800 60\n@ IN NS ns1\n"
    f"dkim IN TXT \"{'k' * 255}\" \"rest\"\n",
}


#: bodies libzscanner hands back to ldns: escapes, RFC 3597 rdata, a string that may be split
HANDED_BACK = {"many types", "RFC 3597 rdata and escapes", "a 255-byte string"}


def _both_readings(monkeypatch, path: Path, origin: bytes) -> tuple[Records, Records]:
    text = path.read_bytes()
    use_parser(monkeypatch, "ldns")
    by_ldns = parse_text(str(path), origin, text)
    use_parser(monkeypatch, "zscanner")
    return by_ldns, parse_text(str(path), origin, text)


@pytest.mark.parametrize("body", sorted(BODIES))
def test_libzscanner_reads_the_records_ldns_reads(tmp_path, monkeypatch, body):
    zscanner = _zscanner()
    path = tmp_path / "types.test.zone"
    path.write_text(BODIES[body].replace("example.com", "types.test").replace("Example.COM", "Types.TEST"))
    origin = dns.name.from_text("types.test").to_wire()
    text = path.read_bytes()
    header_end = text.index(b"\n", text.index(b"$TTL")) + 1
    read = zscanner.read_records(origin, text, header_end, 1 + text.count(b"\n", 0, header_end), 300)
    assert (read is not None) == (body not in HANDED_BACK)
    by_ldns, by_zscanner = _both_readings(monkeypatch, path, origin)
    assert (by_zscanner.count, by_zscanner.data, by_zscanner.lines) == (by_ldns.count, by_ldns.data, by_ldns.lines)


@pytest.mark.parametrize("path", ZONE_FILES, ids=lambda p: p.name)
def test_libzscanner_reads_every_test_zone_as_ldns(monkeypatch, path):
    _zscanner()
    origin = dns.name.from_text(path.name.removesuffix(".zone")).to_wire()
    by_ldns, by_zscanner = _both_readings(monkeypatch, path, origin)
    assert (by_zscanner.count, by_zscanner.data, by_zscanner.lines) == (by_ldns.count, by_ldns.data, by_ldns.lines)


def test_libzscanner_reads_the_benchmark_zone_as_ldns(tmp_path, monkeypatch):
    _zscanner()
    path = tmp_path / "bench.test.zone"
    workload_zone(path, 3000)
    by_ldns, by_zscanner = _both_readings(monkeypatch, path, dns.name.from_text("bench.test").to_wire())
    assert by_zscanner.count == by_ldns.count > 3000
    assert (by_zscanner.data, by_zscanner.lines) == (by_ldns.data, by_ldns.lines)


@pytest.mark.parametrize("bad, reason", [
    ("www IN A 192.0.2.300\n", "could not parse"),
    ("www CH A 192.0.2.1\n", "class"),
    ("www.example.org. IN A 192.0.2.1\n", "outside the zone"),
    # what libzscanner would take and dnspython refuses
    ("www IN A ( 192.0.2.1\n IN A 192.0.2.2 )\n", "superfluous text"),
    ("www IN A \\# 3 010203\n", ""),
    (f"www IN TXT \"{'x' * 300}\"\n", ""),
])
def test_what_stops_libzscanner_is_reported_by_ldns(tmp_path, monkeypatch, bad, reason):
    """The same error, file and line, whichever reader met it first."""
    _zscanner()
    path = tmp_path / "example.com.zone"
    path.write_text(GOOD + "ok IN A 192.0.2.7\n" + bad)
    errors = []
    for parser in ("ldns", "zscanner"):
        use_parser(monkeypatch, parser)
        with pytest.raises(ZoneSyntaxError) as info:
            parse_text(str(path), EXAMPLE, path.read_bytes())
        errors.append((info.value.line, str(info.value)))
    assert errors[0] == errors[1] and errors[0][0] == 6 and reason in errors[0][1].lower()
