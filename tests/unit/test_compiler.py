# SPDX-License-Identifier: MIT
"""The compiler: what the engine answers from an image is exactly what lookup decided,
for names of every length (the relocated compression pointers) and every construct."""

import random

import dns.flags
import dns.message
import dns.name
import dns.rcode
import pytest

from fastdns import image
from fastdns.compiler import compile_zones
from fastdns.lookup import ZoneSet
from fastdns.zone import load_zone
from tests.conftest import ask, make_engine, write_zone

PARENT = """$TTL 3600
@ IN SOA ns1 hostmaster 42 7200 3600 1209600 300
@ IN NS ns1
@ IN NS ns2.example.net.
@ IN MX 10 mail
@ IN MX 20 mx.elsewhere.org.
ns1 IN A 192.0.2.53
ns1 IN AAAA 2001:db8::53
mail IN A 192.0.2.25
www IN A 192.0.2.80
web IN CNAME www
chain1 IN CNAME chain2
chain2 IN CNAME www
dangling IN CNAME nothing
outside IN CNAME www.example.org.
loop1 IN CNAME loop2
loop2 IN CNAME loop1
*.wild IN A 192.0.2.100
*.wild IN MX 5 mail
*.deep.wild IN TXT "deeper"
*.cnamewild IN CNAME www
a.b.ent IN A 192.0.2.7
_sip._tcp IN SRV 1 1 5060 sip
sip IN A 192.0.2.60
sub IN NS ns.sub
sub IN NS ns.other.org.
ns.sub IN A 192.0.2.200
child IN NS ns1
"""
CHILD = """$TTL 600
@ IN SOA ns1.example.com. hostmaster 9 7200 3600 1209600 120
@ IN NS ns1.example.com.
host IN A 198.51.100.1
"""
ZONES = {"example.com": PARENT, "child.example.com": CHILD}

NAMES = ["example.com", "www.example.com", "web.example.com", "chain1.example.com",
         "dangling.example.com", "outside.example.com", "loop1.example.com",
         "x.wild.example.com", "wild.example.com", "*.wild.example.com", "a.b.c.wild.example.com",
         "x.deep.wild.example.com", "deep.wild.example.com", "q.cnamewild.example.com",
         "ent.example.com", "b.ent.example.com", "a.b.ent.example.com", "zz.b.ent.example.com",
         "_sip._tcp.example.com", "sub.example.com", "ns.sub.example.com", "a.b.sub.example.com",
         "child.example.com", "host.child.example.com", "nx.child.example.com",
         "nothing.example.com", "very.long.missing.name.example.com", "example.org"]
QTYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "SRV", "DS", "ANY", "PTR"]


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    d = tmp_path_factory.mktemp("zones")
    loaded = [load_zone(o, str(write_zone(d, o, t))) for o, t in ZONES.items()]
    return make_engine(d, ZONES), ZoneSet(loaded)


def _rrs(section) -> set:
    return {(rrset.name.to_text().lower(), rrset.ttl, rrset.rdtype, rd.to_text().lower())
            for rrset in section for rd in rrset}


def _random_case(name: str, rng: random.Random) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


def _random_name(rng: random.Random) -> str:
    labels = ["".join(rng.choice("abcdefgh-0123") for _ in range(rng.randint(1, 20)))
              for _ in range(rng.randint(1, 4))]
    return ".".join(labels) + "." + rng.choice(["wild.example.com", "deep.wild.example.com",
                                                 "example.com", "sub.example.com",
                                                 "cnamewild.example.com", "b.ent.example.com",
                                                 "child.example.com"])


def _check(engine, zone_set, qname: str, qtype: str, tcp=True):
    reply = ask(engine, qname, qtype, use_edns=0, tcp=tcp)
    expected = zone_set.lookup(dns.name.from_text(qname.lower()), dns.rdatatype.from_text(qtype))
    context = f"{qname} {qtype}\n{reply}"
    assert reply.rcode() == expected.rcode, context
    assert bool(reply.flags & dns.flags.AA) == expected.aa, context
    assert _rrs(reply.answer) == _rrs(expected.answer), context
    assert _rrs(reply.authority) == _rrs(expected.authority), context
    assert _rrs(reply.additional) == _rrs(expected.additional), context
    return reply


@pytest.mark.parametrize("qname", NAMES)
def test_engine_answers_what_lookup_decides(compiled, qname):
    engine, zone_set = compiled
    for qtype in QTYPES:
        _check(engine, zone_set, qname, qtype)


def test_relocation_for_names_of_every_length(compiled):
    engine, zone_set = compiled
    rng = random.Random(4592)
    for _ in range(1500):
        _check(engine, zone_set, _random_case(_random_name(rng), rng), rng.choice(QTYPES))


def test_wildcard_owner_is_the_question_name(compiled):
    engine, _ = compiled
    reply = ask(engine, "Some.Thing.WILD.example.com", "MX")
    assert reply.answer[0].name.to_text() == "Some.Thing.WILD.example.com."
    assert reply.additional[0].name.to_text() == "mail.example.com."


def test_image_is_deterministic(tmp_path):
    loaded = [load_zone(o, str(write_zone(tmp_path, o, t))) for o, t in ZONES.items()]
    assert compile_zones(loaded).image == compile_zones(loaded).image


def test_image_header_counts(tmp_path):
    loaded = [load_zone(o, str(write_zone(tmp_path, o, t))) for o, t in ZONES.items()]
    data = compile_zones(loaded).image
    header = image.read_header(data)
    assert header.zone_count == 2
    assert sorted(image.read_zones(data)) == sorted(
        [(dns.name.from_text("example.com").to_wire(), 42),
         (dns.name.from_text("child.example.com").to_wire(), 9)])
    # glue below the cut is not a node of its own: the cut answers for it
    assert header.node_count < 40


def test_compile_cache_recompiles_only_changed_and_related_zones(tmp_path):
    other = "$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\n@ IN NS ns1\nns1 IN A 192.0.2.9\n"
    texts = {**ZONES, "other.test": other}
    loaded = {o: load_zone(o, str(write_zone(tmp_path, o, t))) for o, t in texts.items()}
    cache: dict = {}
    first = compile_zones(list(loaded.values()), cache=cache)
    assert sorted(first.compiled) == ["child.example.com", "example.com", "other.test"]
    again = compile_zones(list(loaded.values()), cache=cache)
    assert again.compiled == [] and again.image == first.image

    # other.test changes: it alone is recompiled, and the image equals a fresh compile.
    loaded["other.test"] = load_zone("other.test", str(write_zone(
        tmp_path, "other.test", other.replace("192.0.2.9", "192.0.2.10"))))
    changed = compile_zones(list(loaded.values()), cache=cache)
    assert changed.compiled == ["other.test"]
    assert changed.image == compile_zones(list(loaded.values())).image

    # The parent changes: the child is recompiled too (its DS comes from the parent).
    loaded["example.com"] = load_zone("example.com", str(write_zone(
        tmp_path, "example.com", PARENT.replace("192.0.2.80", "192.0.2.88"))))
    parent = compile_zones(list(loaded.values()), cache=cache)
    assert sorted(parent.compiled) == ["child.example.com", "example.com"]
    assert parent.image == compile_zones(list(loaded.values())).image
