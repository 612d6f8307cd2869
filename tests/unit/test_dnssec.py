# SPDX-License-Identifier: MIT
"""Pre-signed zones (NSEC, NSEC3, NSEC3 with opt-out) through the compiled image and the
engine: every answer equals the specification's, every DO=1 answer's signatures validate
against the zone's DNSKEY, every denial proves what it says, and DO=0 answers are as for
an unsigned zone.  The zones are the differential suite's, signed by tests/signing.py."""

from __future__ import annotations

import random
import time
from pathlib import Path

import dns.dnssec
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from fastdns import _dataplane
from fastdns.compiler import compile_zones
from fastdns.lookup import ZoneSet
from fastdns.zone import load_zone
from tests import signing
from tests.conftest import names_around, zone_names

ZONE_DIR = Path(__file__).resolve().parent.parent / "zones"
ORIGINS = ("diff.test", "child.diff.test", "rfc4592.test")
QTYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "SRV", "DS", "ANY", "TYPE65534",
          "DNSKEY", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM"]
DNSSEC_TYPES = {dns.rdatatype.RRSIG, dns.rdatatype.NSEC, dns.rdatatype.NSEC3}

pytestmark = pytest.mark.skipif(not signing.have_signers(), reason="dnssec-signzone (bind9-utils) is not installed")


class Signed:
    """The zones signed one way, compiled, and the engine answering from them."""

    def __init__(self, kind: str, directory: Path, udp_payload: int = 1232) -> None:
        self.kind = kind
        self.paths = {o: signing.sign(kind, o, ZONE_DIR / f"{o}.zone", directory) for o in ORIGINS}
        self.loaded = [load_zone(o, str(p)) for o, p in self.paths.items()]
        self.spec = ZoneSet(self.loaded)
        image = directory / "image"
        image.write_bytes(compile_zones(self.loaded).image)
        self.engine = _dataplane.Engine(_dataplane.Image(str(image)), udp_payload)
        self.keys = {}
        for o, p in self.paths.items():
            self.keys.update(signing.dnskeys(p, o))

    def ask(self, qname: str, qtype: str, do: bool, payload: int = 4096, tcp: bool = True) -> dns.message.Message:
        query = dns.message.make_query(qname, qtype, want_dnssec=do, payload=payload)
        wire = self.engine.answer(query.to_wire(), tcp=tcp)
        assert wire is not None
        return dns.message.from_wire(wire)

    def names(self) -> list[dns.name.Name]:
        """Every name of the zones' name spaces, a child of each, names under every
        wildcard (NSEC3 owners too: they are not in the name space)."""
        names = zone_names(self.loaded)
        return sorted(names | names_around(names))


@pytest.fixture(scope="module", params=signing.KINDS)
def signed(request, tmp_path_factory) -> Signed:
    return Signed(request.param, tmp_path_factory.mktemp(request.param))


def rrs(section) -> set[str]:
    return {line.lower() for rrset in section for line in rrset.to_text().splitlines()}


def _random_case(name: str, rng: random.Random) -> str:
    return "".join(c.upper() if c.isalpha() and rng.random() < 0.5 else c for c in name)


def test_the_engine_answers_as_the_specification(signed):
    rng = random.Random(12)
    failures = []
    for name in signed.names():
        for qtype in QTYPES:
            for do in (False, True):
                reply = signed.ask(_random_case(name.to_text(), rng), qtype, do)
                expected = signed.spec.answer(name, dns.rdatatype.from_text(qtype), do)
                ours = (reply.rcode(), bool(reply.flags & dns.flags.AA), rrs(reply.answer),
                        rrs(reply.authority), rrs(reply.additional))
                spec = (expected.rcode, expected.aa, rrs(expected.answer), rrs(expected.authority),
                        rrs(expected.additional))
                if ours != spec:
                    failures.append(f"{name} {qtype} DO={int(do)}")
    assert not failures, f"{len(failures)} answers differ from the specification: {failures[:20]}"


def _signatures(section) -> dict:
    return {(r.name, r.covers): r for r in section if r.rdtype == dns.rdatatype.RRSIG}


def test_every_signed_answer_validates_against_the_zone_key(signed):
    now = time.time()
    checked = 0
    for name in signed.names():
        for qtype in ("A", "MX", "TXT", "NS", "DS", "DNSKEY", "SOA", "AAAA", "NSEC3PARAM"):
            reply = signed.ask(name.to_text(), qtype, True)
            for section in (reply.answer, reply.authority, reply.additional):
                sigs = _signatures(section)
                for rrset in section:
                    if rrset.rdtype == dns.rdatatype.RRSIG:
                        continue
                    sig = sigs.get((rrset.name, rrset.rdtype))
                    if section is reply.answer and reply.flags & dns.flags.AA:
                        assert sig is not None, f"{name} {qtype}: {rrset.name} {rrset.rdtype!r} unsigned"
                    if sig is not None:
                        dns.dnssec.validate(rrset, sig, signed.keys, now=now)
                        checked += 1
    assert checked > 500


def _covers_nsec(rrset, name: dns.name.Name) -> bool:
    owner, nxt = rrset.name, rrset[0].next
    return owner < name < nxt or (nxt <= owner and (name > owner or name < nxt))


def _covers_nsec3(rrset, name: dns.name.Name, origin: dns.name.Name) -> bool:
    import base64

    param = rrset[0]
    h = base64.b32hexdecode(dns.dnssec.nsec3_hash(name, param.salt, param.iterations, param.algorithm))
    owner = base64.b32hexdecode(rrset.name.labels[0].upper())
    nxt = param.next
    return owner < h < nxt or (nxt <= owner and (h > owner or h < nxt))


def _closest_encloser(signed: Signed, name: dns.name.Name) -> dns.name.Name:
    zone = signed.spec.zone_for(name)
    assert zone is not None
    encloser = name.parent()
    while encloser not in zone.existing:
        encloser = encloser.parent()
    return encloser


def test_every_nxdomain_proves_the_name_and_its_wildcard_absent(signed):
    proved = 0
    for name in signed.names():
        reply = signed.ask(name.to_text(), "A", True)
        if reply.rcode() != dns.rcode.NXDOMAIN or reply.answer:  # (a CNAME's target is absent)
            continue
        zone = signed.spec.zone_for(name)
        assert zone is not None
        encloser = _closest_encloser(signed, name)
        wildcard = dns.name.Name((b"*",) + encloser.labels)
        denials = [r for r in reply.authority if r.rdtype in (dns.rdatatype.NSEC, dns.rdatatype.NSEC3)]
        if signed.kind == "nsec":
            assert any(_covers_nsec(r, name) for r in denials), name
            assert any(_covers_nsec(r, wildcard) for r in denials), name
        else:
            next_closer = dns.name.Name(name.labels[-(len(encloser.labels) + 1):])
            assert any(_covers_nsec3(r, next_closer, zone.origin) for r in denials), name
            assert any(_covers_nsec3(r, wildcard, zone.origin) for r in denials), name
        proved += 1
    assert proved > 50


def test_do0_answers_carry_no_dnssec_records_unless_asked_for(signed):
    for name in signed.names():
        for qtype in ("A", "MX", "NS", "DS", "SOA", "TXT"):
            reply = signed.ask(name.to_text(), qtype, False)
            for section in (reply.answer, reply.authority, reply.additional):
                assert not any(r.rdtype in DNSSEC_TYPES for r in section), (name, qtype)


@pytest.mark.parametrize("payload", [512, 1232])
def test_a_do1_reply_that_does_not_fit_is_truncated_never_left_unsigned(signed, payload):
    for name in signed.names():
        for qtype in ("A", "TXT", "MX", "DNSKEY", "NS"):
            reply = signed.ask(name.to_text(), qtype, True, payload=payload, tcp=False)
            if reply.flags & dns.flags.TC:
                assert not reply.answer and not reply.authority
                continue
            full = signed.ask(name.to_text(), qtype, True)
            assert rrs(reply.answer) == rrs(full.answer) and rrs(reply.authority) == rrs(full.authority)


def test_the_native_compiler_answers_as_the_specification_from_zone_files_read_by_ldns(signed, tmp_path):
    """The production path: zone files read by ldns, compiled natively (byte for byte the
    specification's image: tests/unit/test_native_compiler.py), answer every question as the
    specification's image does, with DO=1 and DO=0."""
    from fastdns.nativecompiler import compile_native
    from fastdns.zone import load_native_zone

    natives = [load_native_zone(o, str(p)).native for o, p in signed.paths.items()]
    path = tmp_path / "native.image"
    compile_native(natives).write_image(str(path))
    engine = _dataplane.Engine(_dataplane.Image(str(path)), 1232)
    failures = []
    for name in signed.names():
        for qtype in ("A", "NSEC", "DS", "TYPE65534", "RRSIG"):
            for do in (True, False):
                query = dns.message.make_query(name, qtype, want_dnssec=do, payload=4096)
                wire = engine.answer(query.to_wire(), tcp=True)
                assert wire is not None
                got = dns.message.from_wire(wire)
                want = signed.ask(name.to_text(), qtype, do)
                if (got.rcode() != want.rcode() or got.flags != want.flags
                        or [rrs(s) for s in got.sections] != [rrs(s) for s in want.sections]):
                    failures.append(f"{name} {qtype} DO={int(do)}")
    assert not failures, failures[:10]


# -- what fastdns checks in a signed zone ---------------------------------------------------

def test_nsec3_iterations_above_the_cap_are_refused_at_load_naming_file_line_and_value(tmp_path):
    from fastdns.errors import ZoneError
    from fastdns.signed import set_nsec3_iterations_max
    from fastdns.zone import load_native_zone

    path = signing.sign("nsec3", "diff.test", ZONE_DIR / "diff.test.zone", tmp_path, iterations=60)
    for load in (load_native_zone, load_zone):
        with pytest.raises(ZoneError, match=r"zone diff.test is signed with NSEC3 with 60 iterations, "
                                            r"above nsec3_iterations_max \(50\)") as e:
            load("diff.test", str(path))
        assert str(path) in str(e.value) and e.value.line
    set_nsec3_iterations_max(60)
    try:
        assert load_native_zone("diff.test", str(path)).serial
    finally:
        set_nsec3_iterations_max(50)


def test_check_warns_of_signatures_about_to_expire_and_status_counts_the_days(tmp_path, capsys):
    from fastdns import cli
    from fastdns.zone import load_native_zone

    path = signing.sign("nsec3", "diff.test", ZONE_DIR / "diff.test.zone", tmp_path, lifetime=2 * 86400 + 3600)
    assert cli.main(["check", "-o", "diff.test", str(path)]) == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "expires in 2 days" in err
    assert cli.main(["check", "--expiry-warning", "1", "-o", "diff.test", str(path)]) == 0
    assert "warning:" not in capsys.readouterr().err
    left = load_native_zone("diff.test", str(path)).native.earliest_expiration(int(time.time()))
    assert 2 * 86400 < left <= 2 * 86400 + 3600


def test_check_reports_an_unsigned_rrset_and_a_broken_chain(tmp_path, capsys):
    from fastdns import cli

    path = signing.sign("nsec", "diff.test", ZONE_DIR / "diff.test.zone", tmp_path)
    text = path.read_text()
    text += "added.diff.test. 300 IN A 192.0.2.9\n"  # in no chain, under no signature
    path.write_text(text)
    assert cli.main(["check", "-o", "diff.test", str(path)]) == 1
    err = capsys.readouterr().err
    assert "added.diff.test. A is not signed in a signed zone" in err
    assert "broken NSEC chain: added.diff.test. has no NSEC" in err
    assert f"{path}:" in err


def test_random_names_under_a_signed_zone_get_whole_answers(signed):
    """Names with any bytes in their labels (dots, zeros, upper case, 63-byte labels),
    1 to 6 labels under the zones: each DO=1 reply parses, and each NXDOMAIN carries its
    proof of the name (the per-query search of the chain)."""
    import struct

    rng = random.Random(99)
    origins = [z.origin for z in signed.loaded]
    for _ in range(3000):
        labels = tuple(bytes(rng.randrange(256) for _ in range(rng.choice((1, 3, 8, 63))))
                       for _ in range(rng.randint(1, 4)))
        try:
            name = dns.name.Name(labels + rng.choice(origins).labels)
        except dns.name.NameTooLong:
            continue
        query = dns.message.make_query(name, rng.choice(("A", "TXT", "NSEC3", "MX")), want_dnssec=True)
        wire = signed.engine.answer(query.to_wire(), tcp=rng.random() < 0.5)
        assert wire is not None and struct.unpack("!H", wire[:2]) == struct.unpack("!H", query.to_wire()[:2])
        reply = dns.message.from_wire(wire)
        if reply.rcode() == dns.rcode.NXDOMAIN and not reply.answer and not reply.flags & dns.flags.TC:
            kind = dns.rdatatype.NSEC if signed.kind == "nsec" else dns.rdatatype.NSEC3
            assert sum(r.rdtype == kind for r in reply.authority) >= (1 if signed.kind == "nsec" else 2), name


@pytest.mark.parametrize("kind", ["nsec", "nsec3"])
def test_a_cover_beyond_a_pointers_reach_is_written_out_and_validates(kind, tmp_path):
    """A wildcard answer of 20 kB over TCP: the NSEC/NSEC3 proving no closer name goes in
    past 16,383 bytes, where its RRSIG's owner cannot point at it."""
    source = tmp_path / "far.test.src"
    source.write_text("$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 900 604800 300\n@ IN NS ns1\n"
                      "ns1 IN A 192.0.2.1\nsome IN A 192.0.2.2\n"
                      + "".join(f'*.far IN TXT "{i:03d} {"x" * 100}"\n' for i in range(200)))
    path = signing.sign(kind, "far.test", source, tmp_path / "signed")
    loaded = load_zone("far.test", str(path))
    image = tmp_path / "image"
    image.write_bytes(compile_zones([loaded]).image)
    engine = _dataplane.Engine(_dataplane.Image(str(image)), 1232)
    query = dns.message.make_query("q.far.far.test", "TXT", want_dnssec=True)
    reply = dns.message.from_wire(engine.answer(query.to_wire(), tcp=True))
    expected = ZoneSet([loaded]).answer(dns.name.from_text("q.far.far.test"), dns.rdatatype.TXT, True)
    assert rrs(reply.authority) == rrs(expected.authority) and len(reply.authority) == 2
    keys = signing.dnskeys(path, "far.test")
    sigs = _signatures(reply.authority)
    for rrset in reply.authority:
        if rrset.rdtype != dns.rdatatype.RRSIG:
            dns.dnssec.validate(rrset, sigs[(rrset.name, rrset.rdtype)], keys, now=time.time())
    assert len(engine.answer(query.to_wire(), tcp=True)) > 16384


def test_ds_at_an_unsigned_childs_apex_comes_signed_from_the_signed_parent(tmp_path):
    """DS lives on the parent side (RFC 4035 3.1.4.1): a DO=1 question for the DS of an
    unsigned child served here gets the parent's DS and its signature, from both compilers."""
    from fastdns.nativecompiler import compile_native
    from fastdns.zone import load_native_zone

    parent = signing.sign("nsec3", "diff.test", ZONE_DIR / "diff.test.zone", tmp_path / "parent")
    child = ZONE_DIR / "child.diff.test.zone"
    spec = tmp_path / "spec.image"
    loaded = [load_zone("diff.test", str(parent)), load_zone("child.diff.test", str(child))]
    spec.write_bytes(compile_zones(loaded).image)
    native = tmp_path / "native.image"
    compile_native([load_native_zone("diff.test", str(parent)).native,
                    load_native_zone("child.diff.test", str(child)).native]).write_image(str(native))
    keys = signing.dnskeys(parent, "diff.test")
    query = dns.message.make_query("child.diff.test", "DS", want_dnssec=True)
    for path in (spec, native):
        engine = _dataplane.Engine(_dataplane.Image(str(path)), 1232)
        reply = dns.message.from_wire(engine.answer(query.to_wire(), tcp=False))
        assert [r.rdtype for r in reply.answer] == [dns.rdatatype.DS, dns.rdatatype.RRSIG]
        dns.dnssec.validate(reply.answer[0], reply.answer[1], keys, now=time.time())
        plain = dns.message.make_query("child.diff.test", "DS")
        assert [r.rdtype for r in dns.message.from_wire(engine.answer(plain.to_wire(), tcp=False)).answer] \
            == [dns.rdatatype.DS]
