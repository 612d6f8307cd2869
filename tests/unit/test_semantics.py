# SPDX-License-Identifier: MIT
"""Authoritative semantics, one rule per test, through the compiled image and the engine.

The zones are the differential suite's (tests/zones), so each rule here is also checked
against Knot DNS there; these tests say which rule broke when one does.
"""

from pathlib import Path

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from tests.conftest import ask, make_engine

ZONE_DIR = Path(__file__).resolve().parent.parent / "zones"
ZONES = {o: (ZONE_DIR / f"{o}.zone").read_text()
         for o in ("diff.test", "child.diff.test", "rfc4592.test")}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return make_engine(tmp_path_factory.mktemp("semantics"), ZONES)


def texts(section, rdtype=None) -> list[str]:
    return sorted(rd.to_text() for rrset in section for rd in rrset
                  if rdtype is None or rrset.rdtype == dns.rdatatype.from_text(rdtype))


def owners(section) -> set[str]:
    return {rrset.name.to_text().lower() for rrset in section}


def is_nodata(reply) -> bool:
    return (reply.rcode() == dns.rcode.NOERROR and not reply.answer
            and [r.rdtype for r in reply.authority] == [dns.rdatatype.SOA])


# -- RFC 4592 wildcards ------------------------------------------------------------------

def test_wildcard_synthesises_with_the_question_as_owner(engine):
    reply = ask(engine, "anything.wild.diff.test", "A")
    assert texts(reply.answer) == ["192.0.2.100"] and reply.flags & dns.flags.AA
    assert owners(reply.answer) == {"anything.wild.diff.test."}


def test_wildcard_matches_several_labels_deep(engine):
    reply = ask(engine, "a.b.c.wild.diff.test", "TXT")
    assert texts(reply.answer) == ['"wildcard"']


def test_no_synthesis_when_the_name_exists(engine):
    reply = ask(engine, "exists.wild.diff.test", "TXT")
    assert is_nodata(reply)  # exists.wild owns only an A record


def test_no_synthesis_below_an_existing_name_without_its_own_wildcard(engine):
    # sub.*.wild exists, so *.wild is not the closest encloser's wildcard for x.sub.*.wild
    reply = ask(engine, "x.sub.*.wild.diff.test", "A")
    assert reply.rcode() == dns.rcode.NXDOMAIN


def test_empty_non_terminal_blocks_synthesis(engine):
    # rfc4592.test: "_tcp.host1" is an ENT; *.rfc4592.test does not apply to it (RFC 4592 2.2.2)
    reply = ask(engine, "_tcp.host1.rfc4592.test", "MX")
    assert is_nodata(reply)


def test_rfc4592_examples(engine):
    assert texts(ask(engine, "host3.rfc4592.test", "MX").answer) == ["10 host1.rfc4592.test."]
    assert ask(engine, "host3.rfc4592.test", "A").answer == [] and \
        is_nodata(ask(engine, "host3.rfc4592.test", "A"))
    assert texts(ask(engine, "foo.bar.rfc4592.test", "TXT").answer) == ['"this is a wildcard"']
    assert ask(engine, "host1.rfc4592.test", "MX").answer == []  # exists: no synthesis
    assert ask(engine, "sub.*.rfc4592.test", "MX").answer == []  # exists: no synthesis
    assert ask(engine, "_telnet._tcp.host1.rfc4592.test", "SRV").rcode() == dns.rcode.NXDOMAIN
    assert ask(engine, "host.subdel.rfc4592.test", "A").authority[0].rdtype == dns.rdatatype.NS
    assert ask(engine, "ghost.*.rfc4592.test", "MX").rcode() == dns.rcode.NXDOMAIN


def test_nodata_from_a_wildcard(engine):
    assert is_nodata(ask(engine, "x.wild.diff.test", "AAAA"))


def test_wildcard_at_a_deeper_level_wins_for_its_subtree(engine):
    assert texts(ask(engine, "x.deep.wild.diff.test", "AAAA").answer) == ["2001:db8::100"]
    assert is_nodata(ask(engine, "x.deep.wild.diff.test", "A"))


def test_wildcard_cname_is_synthesised_and_followed(engine):
    reply = ask(engine, "q.cname.diff.test", "A")
    assert texts(reply.answer, "CNAME") == ["www.diff.test."]
    assert owners(reply.answer) == {"q.cname.diff.test.", "www.diff.test."}
    assert texts(reply.answer, "A") == ["192.0.2.80", "192.0.2.81"]


def test_the_wildcard_name_itself_can_be_queried(engine):
    assert texts(ask(engine, "*.wild.diff.test", "A").answer) == ["192.0.2.100"]


# -- names that exist without data ------------------------------------------------------

def test_empty_non_terminal_is_nodata_not_nxdomain(engine):
    assert is_nodata(ask(engine, "ent.diff.test", "A"))
    assert is_nodata(ask(engine, "b.ent.diff.test", "TXT"))


def test_negative_answers_carry_soa_with_minimum_ttl(engine):
    reply = ask(engine, "nothing.diff.test", "A")
    assert reply.rcode() == dns.rcode.NXDOMAIN and reply.flags & dns.flags.AA
    assert reply.authority[0].ttl == 300  # min(SOA TTL 3600, SOA MINIMUM 300)


# -- delegations -------------------------------------------------------------------------

def test_referral_at_and_below_a_cut(engine):
    for name in ("deleg.diff.test", "host.deleg.diff.test", "a.b.c.deleg.diff.test"):
        reply = ask(engine, name, "A")
        assert reply.rcode() == dns.rcode.NOERROR and not reply.flags & dns.flags.AA
        assert not reply.answer
        assert texts(reply.authority, "NS") == ["ns.deleg.diff.test.", "ns.example.org.",
                                                 "ns1.diff.test."]
        assert texts(reply.additional) == ["192.0.2.201", "192.0.2.53", "2001:db8::201",
                                           "2001:db8::53"]


def test_glue_is_never_an_authoritative_answer(engine):
    reply = ask(engine, "ns.deleg.diff.test", "A")
    assert not reply.flags & dns.flags.AA and not reply.answer
    assert reply.authority[0].rdtype == dns.rdatatype.NS


def test_ds_at_a_cut_is_answered_by_the_parent(engine):
    reply = ask(engine, "deleg.diff.test", "DS")
    assert reply.flags & dns.flags.AA and texts(reply.answer, "DS")
    assert is_nodata(ask(engine, "nods.diff.test", "DS"))


def test_ds_at_a_served_child_apex_comes_from_the_parent(engine):
    reply = ask(engine, "child.diff.test", "DS")
    assert reply.flags & dns.flags.AA and reply.answer[0].ttl == 3600
    assert texts(reply.answer)[0].startswith("54321 13 2")


def test_the_most_specific_served_zone_answers(engine):
    reply = ask(engine, "child.diff.test", "SOA")
    assert reply.answer[0][0].serial == 7 and reply.flags & dns.flags.AA
    assert ask(engine, "nx.child.diff.test", "A").authority[0][0].serial == 7


# -- CNAME (RFC 1034 4.3.2, RFC 6604) ---------------------------------------------------

def test_cname_chain_is_followed_inside_the_zone(engine):
    reply = ask(engine, "chain1.diff.test", "A")
    assert texts(reply.answer, "CNAME") == ["chain2.diff.test.", "chain3.diff.test.", "www.diff.test."]
    assert texts(reply.answer, "A") == ["192.0.2.80", "192.0.2.81"]


def test_cname_query_returns_only_the_cname(engine):
    assert texts(ask(engine, "chain1.diff.test", "CNAME").answer) == ["chain2.diff.test."]


def test_cname_to_an_out_of_zone_target_stops(engine):
    reply = ask(engine, "outside.diff.test", "A")
    assert texts(reply.answer) == ["www.example.org."] and reply.rcode() == dns.rcode.NOERROR


def test_cname_to_a_missing_name_is_nxdomain(engine):
    reply = ask(engine, "dangling.diff.test", "A")  # RFC 6604: the rcode of the last step
    assert reply.rcode() == dns.rcode.NXDOMAIN and texts(reply.answer, "CNAME")
    assert reply.flags & dns.flags.AA


def test_cname_loops_stop_without_hanging(engine):
    reply = ask(engine, "loop1.diff.test", "A")
    assert len(reply.answer) == 3 and reply.rcode() == dns.rcode.NOERROR
    assert len(ask(engine, "self.diff.test", "A").answer) == 1


def test_cname_into_a_delegation_keeps_aa_and_refers(engine):
    reply = ask(engine, "to-deleg.diff.test", "A")
    assert reply.flags & dns.flags.AA and texts(reply.answer) == ["host.deleg.diff.test."]
    assert reply.authority[0].rdtype == dns.rdatatype.NS


# -- additional section ------------------------------------------------------------------

def test_addresses_of_in_zone_targets_are_added(engine):
    assert owners(ask(engine, "diff.test", "MX").additional) == {"mail.diff.test."}
    assert owners(ask(engine, "diff.test", "NS").additional) == {"ns1.diff.test."}
    assert owners(ask(engine, "_sip._udp.diff.test", "SRV").additional) == {"sip.diff.test."}


# -- ANY (RFC 8482) ----------------------------------------------------------------------

def test_any_returns_one_rrset(engine):
    reply = ask(engine, "diff.test", "ANY")
    assert [r.rdtype for r in reply.answer] == [dns.rdatatype.A]
    assert [r.rdtype for r in ask(engine, "www.diff.test", "ANY", tcp=True).answer] == [dns.rdatatype.A]


# -- minimal responses -------------------------------------------------------------------

def test_minimal_responses_can_be_turned_off(tmp_path):
    from fastdns import _dataplane
    from fastdns.compiler import compile_zones
    from fastdns.zone import load_zone
    from tests.conftest import write_zone

    zone = load_zone("diff.test", str(write_zone(tmp_path, "diff.test", ZONES["diff.test"])))
    path = tmp_path / "full.image"
    path.write_bytes(compile_zones([zone], minimal_responses=False).image)
    engine = _dataplane.Engine(_dataplane.Image(str(path)))
    reply = ask(engine, "www.diff.test", "A")
    assert texts(reply.authority, "NS") == ["ns1.diff.test.", "ns2.example.net."]
    assert owners(reply.additional) == {"ns1.diff.test."}
    assert not ask(engine, "nothing.diff.test", "A").authority[0].rdtype == dns.rdatatype.NS
