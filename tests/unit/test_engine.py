# SPDX-License-Identifier: MIT
"""The answering engine: header rules, EDNS, truncation, and malformed input."""

import random
import struct

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdatatype
import pytest

from tests.conftest import ask

BIG = """$TTL 300
@ IN SOA ns1 hostmaster 1 3600 900 604800 60
@ IN NS ns1
ns1 IN A 192.0.2.1
""" + "".join(f'big IN TXT "{i:03d} {"x" * 100}"\n' for i in range(12)) + \
    "".join(f"mx IN MX {i} m{i}\nm{i} IN A 192.0.2.{i + 10}\nm{i} IN AAAA 2001:db8::{i + 10}\n"
            for i in range(8))


def header(wire: bytes) -> tuple[int, int, int, int, int, int]:
    return struct.unpack("!HHHHHH", wire[:12])


# -- header rules ------------------------------------------------------------------------

def test_id_rd_and_question_case_are_kept(bundled_engine):
    query = dns.message.make_query("WwW.eXaMpLe.CoM", "A")
    query.id = 0xBEEF
    reply = dns.message.from_wire(bundled_engine.answer(query.to_wire()))
    assert reply.id == 0xBEEF
    assert reply.flags & dns.flags.RD and reply.flags & dns.flags.QR and reply.flags & dns.flags.AA
    assert reply.question[0].name.to_text() == "WwW.eXaMpLe.CoM."
    assert reply.answer[0].name.to_text() == "WwW.eXaMpLe.CoM."  # a pointer to the question


def test_rd_clear_stays_clear_and_ra_is_never_set(bundled_engine):
    reply = ask(bundled_engine, "www.example.com", flags=0)
    assert not reply.flags & dns.flags.RD and not reply.flags & dns.flags.RA


def test_cd_is_copied(bundled_engine):
    reply = ask(bundled_engine, "www.example.com", flags=dns.flags.CD)
    assert reply.flags & dns.flags.CD


def test_refused_outside_every_zone_without_aa(bundled_engine):
    reply = ask(bundled_engine, "www.example.org")
    assert reply.rcode() == dns.rcode.REFUSED and not reply.flags & dns.flags.AA
    assert reply.question[0].name.to_text() == "www.example.org."


def test_other_classes_are_refused(bundled_engine):
    reply = ask(bundled_engine, "version.bind", "TXT", rdclass="CH")
    assert reply.rcode() == dns.rcode.REFUSED


def test_axfr_over_udp_is_notimp_and_transfers_are_refused(bundled_engine):
    # RFC 5936 4.2: AXFR is TCP only (Knot DNS and NSD answer NOTIMP too).
    assert ask(bundled_engine, "example.com", "AXFR").rcode() == dns.rcode.NOTIMP
    assert ask(bundled_engine, "example.com", "AXFR", tcp=True).rcode() == dns.rcode.REFUSED
    assert ask(bundled_engine, "example.com", "IXFR").rcode() == dns.rcode.REFUSED


def test_reserved_qtype_zero_is_notimp(bundled_engine):
    assert ask(bundled_engine, "www.example.com", 0).rcode() == dns.rcode.NOTIMP


def test_qclass_any_is_answered_as_in(bundled_engine):
    reply = ask(bundled_engine, "www.example.com", "A", rdclass="ANY")
    assert reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA


def test_chaos_is_refused_unless_configured(bundled_engine, tmp_path):
    assert ask(bundled_engine, "version.bind", "TXT", rdclass="CH").rcode() == dns.rcode.REFUSED
    from fastdns import _dataplane
    from fastdns.compiler import compile_zones
    from fastdns.zone import load_zone
    from tests.conftest import ZONES
    zone = load_zone("example.com", str(ZONES / "example.com.zone"))
    path = tmp_path / "chaos.image"
    path.write_bytes(compile_zones([zone], chaos_version="fastdns 0.1", chaos_identity="ns1").image)
    engine = _dataplane.Engine(_dataplane.Image(str(path)))
    for name, text in (("version.bind", "fastdns 0.1"), ("VERSION.server", "fastdns 0.1"),
                       ("id.server", "ns1"), ("hostname.BIND", "ns1")):
        reply = ask(engine, name, "TXT", rdclass="CH")
        assert reply.rcode() == dns.rcode.NOERROR and not reply.flags & dns.flags.AA
        assert reply.answer[0].name.to_text() == name + "."
        assert reply.answer[0].ttl == 0 and reply.answer[0][0].strings == (text.encode(),)
    assert ask(engine, "version.bind", "A", rdclass="CH").rcode() == dns.rcode.REFUSED
    assert ask(engine, "other.bind", "TXT", rdclass="CH").rcode() == dns.rcode.REFUSED


def test_other_opcodes_get_notimp(bundled_engine):
    query = dns.message.make_query("example.com", "SOA")
    query.set_opcode(dns.opcode.NOTIFY)
    reply = dns.message.from_wire(bundled_engine.answer(query.to_wire()))
    assert reply.rcode() == dns.rcode.NOTIMP and reply.opcode() == dns.opcode.NOTIFY


# -- EDNS (RFC 6891) ---------------------------------------------------------------------

def test_opt_only_when_the_query_had_one(bundled_engine):
    assert ask(bundled_engine, "www.example.com", use_edns=False).edns == -1
    reply = ask(bundled_engine, "www.example.com", use_edns=0, payload=4096)
    assert reply.edns == 0 and reply.payload == 1232


def test_do_bit_is_echoed(bundled_engine):
    reply = ask(bundled_engine, "www.example.com", use_edns=0, want_dnssec=True)
    assert reply.ednsflags & dns.flags.DO


def test_unknown_edns_version_gets_badvers(bundled_engine):
    reply = ask(bundled_engine, "www.example.com", use_edns=1)
    assert reply.rcode() == dns.rcode.BADVERS and reply.edns == 0


def test_unknown_edns_options_are_ignored(bundled_engine):
    option = dns.edns.GenericOption(65001, b"hello")
    reply = ask(bundled_engine, "www.example.com", use_edns=0, options=[option])
    assert reply.rcode() == dns.rcode.NOERROR and reply.answer


def test_two_opt_records_are_formerr(bundled_engine):
    wire = dns.message.make_query("www.example.com", "A", use_edns=0).to_wire()
    opt = wire[-11:]
    doubled = wire[:10] + struct.pack("!H", 2) + wire[12:] + opt
    reply = dns.message.from_wire(bundled_engine.answer(doubled))
    assert reply.rcode() == dns.rcode.FORMERR and reply.edns == -1


# -- sizes and truncation ----------------------------------------------------------------

def test_large_answer_is_truncated_to_the_smaller_payload(engine_for):
    engine = engine_for({"example.com": BIG}, udp_payload=4096)
    reply = ask(engine, "big.example.com", "TXT", use_edns=False)
    assert reply.flags & dns.flags.TC and not reply.answer  # no partial RRsets
    reply = ask(engine, "big.example.com", "TXT", use_edns=0, payload=1232)
    assert reply.flags & dns.flags.TC and not reply.answer
    full = ask(engine, "big.example.com", "TXT", use_edns=0, payload=4096)
    assert not full.flags & dns.flags.TC and len(full.answer[0]) == 12


def test_our_payload_size_caps_the_reply(engine_for):
    engine = engine_for({"example.com": BIG}, udp_payload=1232)
    reply = ask(engine, "big.example.com", "TXT", use_edns=0, payload=4096)
    assert reply.flags & dns.flags.TC and reply.payload == 1232


def test_tcp_answer_is_never_truncated(engine_for):
    engine = engine_for({"example.com": BIG})
    reply = ask(engine, "big.example.com", "TXT", use_edns=False, tcp=True)
    assert not reply.flags & dns.flags.TC and len(reply.answer[0]) == 12


def test_additional_section_is_dropped_before_truncating(engine_for):
    engine = engine_for({"example.com": BIG})
    full = ask(engine, "mx.example.com", "MX", use_edns=0, payload=4096)
    assert len(full.additional) == 16
    small = ask(engine, "mx.example.com", "MX", use_edns=False)
    assert not small.flags & dns.flags.TC and len(small.answer[0]) == 8 and not small.additional


def test_payload_is_at_least_512(engine_for):
    engine = engine_for({"example.com": BIG})
    reply = ask(engine, "mx.example.com", "MX", use_edns=0, payload=100)
    assert not reply.flags & dns.flags.TC


# -- malformed input: FORMERR or drop, never a crash -------------------------------------

QUERY = dns.message.make_query("www.example.com", "A", use_edns=False).to_wire()


def raw(engine, wire: bytes):
    return engine.answer(wire)


@pytest.mark.parametrize("wire", [b"", b"\x12", QUERY[:11]])
def test_shorter_than_a_header_is_dropped(bundled_engine, wire):
    assert raw(bundled_engine, wire) is None


def test_responses_are_never_answered(bundled_engine):
    response = bytearray(QUERY)
    response[2] |= 0x80
    assert raw(bundled_engine, bytes(response)) is None
    reply = bundled_engine.answer(QUERY)
    assert raw(bundled_engine, reply) is None  # a reflected reply is not answered either


@pytest.mark.parametrize("qdcount, opcode", [(0, 0), (2, 0), (0, 4)])
def test_qdcount_other_than_one_is_formerr(bundled_engine, qdcount, opcode):
    wire = QUERY[:2] + bytes([QUERY[2] | opcode << 3]) + QUERY[3:4] + struct.pack("!H", qdcount) + QUERY[6:]
    reply = raw(bundled_engine, wire)
    assert header(reply)[1] & 0x8000 and header(reply)[1] & 0xF == dns.rcode.FORMERR
    assert header(reply)[2] == 0  # no question echoed when it could not be read


@pytest.mark.parametrize("question", [
    b"\x03www\x07example\x03com",            # no root label
    b"\x03www\x07example\x03com\x00\x00",     # QTYPE/QCLASS cut short
    b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",   # label longer than 63
    b"\x03www\xc0\x0c\x00\x01\x00\x01",       # compression pointer in the question
    b"\x03www\x80\x00\x00\x01\x00\x01",       # reserved label type
    (b"\x3f" + b"a" * 63) * 4 + b"\x00\x00\x01\x00\x01",  # name longer than 255
])
def test_malformed_question_is_formerr(bundled_engine, question):
    reply = raw(bundled_engine, QUERY[:12] + question)
    assert reply is not None and header(reply)[1] & 0xF == dns.rcode.FORMERR


def test_answer_records_in_a_query_are_formerr(bundled_engine):
    wire = QUERY[:6] + struct.pack("!H", 1) + QUERY[8:]
    assert header(raw(bundled_engine, wire))[1] & 0xF == dns.rcode.FORMERR


def test_trailing_bytes_are_formerr(bundled_engine):
    assert header(raw(bundled_engine, QUERY + b"\x00"))[1] & 0xF == dns.rcode.FORMERR


def test_truncated_additional_section_is_formerr(bundled_engine):
    wire = dns.message.make_query("www.example.com", "A", use_edns=0).to_wire()[:-3]
    assert header(raw(bundled_engine, wire))[1] & 0xF == dns.rcode.FORMERR


def test_maximum_length_name_is_answered(bundled_engine):
    name = ".".join(["a" * 63] * 3 + ["b" * 49]) + ".example.com"
    reply = ask(bundled_engine, name)
    assert reply.rcode() == dns.rcode.REFUSED or reply.rcode() == dns.rcode.NXDOMAIN


def test_random_mutations_never_crash(bundled_engine):
    """A bounded fuzz loop: every result is a drop or a well-formed reply with QR set."""
    rng = random.Random(1035)
    seeds = [dns.message.make_query(n, t, use_edns=e).to_wire()
             for n in ("www.example.com", "a.b.apps.example.com", "x.sub.example.com", "example.org")
             for t in ("A", "MX", "ANY") for e in (False, 0)]
    for _ in range(20000):
        wire = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            op = rng.random()
            if op < 0.5 and wire:
                wire[rng.randrange(len(wire))] = rng.randrange(256)
            elif op < 0.75:
                del wire[rng.randrange(len(wire) + 1):]
            else:
                wire += bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
        reply = bundled_engine.answer(bytes(wire))
        if reply is None:
            continue
        assert len(reply) >= 12 and reply[2] & 0x80
        assert reply[:2] == bytes(wire[:2])
        if reply[3] & 0xF in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN, dns.rcode.REFUSED):
            dns.message.from_wire(reply)  # parses cleanly


def test_counters_count_by_rcode(engine_for):
    engine = engine_for({"example.com": BIG})
    ask(engine, "ns1.example.com")
    ask(engine, "nothing.example.com")
    engine.answer(b"\x00")
    counts = dict(zip(("rx", "tx", "noerror", "formerr", "servfail", "nxdomain"), engine.counters()))
    assert counts["noerror"] == 1 and counts["nxdomain"] == 1


def test_queries_are_counted_by_qtype_in_control_block_order(bundled_engine):
    from fastdns.controlblock import COUNTERS

    before = dict(zip(COUNTERS, bundled_engine.counters()))
    for qtype, count in (("MX", 3), ("AAAA", 2), ("NAPTR", 1), ("ANY", 1)):
        for _ in range(count):
            ask(bundled_engine, "example.com", qtype)
    after = dict(zip(COUNTERS, bundled_engine.counters()))
    delta = {k: after[k] - before[k] for k in COUNTERS}
    assert (delta["q_mx"], delta["q_aaaa"], delta["q_other"], delta["q_any"]) == (3, 2, 1, 1)
    assert delta["rx"] == delta["tx"] == 7 and delta["noerror"] == 7
