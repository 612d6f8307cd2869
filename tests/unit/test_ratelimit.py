# SPDX-License-Identifier: MIT
"""Response rate limiting in the engine: budgets per prefix and class, refill, slip,
cookies, and never TCP."""

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

from fastdns import _dataplane
from fastdns.controlblock import COUNTERS
from tests.unit.test_cookies import SECRET_A, policy

CLIENT = bytes([198, 18, 5, 1])
NEIGHBOUR = bytes([198, 18, 5, 200])  # the same /24
STRANGER = bytes([198, 18, 6, 1])


@pytest.fixture
def engine(bundled_engine):
    engine = _dataplane.Engine(bundled_engine.image)
    engine.set_policy(policy(SECRET_A, rate=10, slip=2))
    return engine


def wire(qname: str = "www.example.com", cookie: bytes | None = None) -> bytes:
    options = [dns.edns.GenericOption(dns.edns.COOKIE, cookie)] if cookie is not None else []
    return dns.message.make_query(qname, "A", use_edns=0 if cookie else None, options=options).to_wire()


def counters(engine) -> dict[str, int]:
    return dict(zip(COUNTERS, engine.counters()))


def flood(engine, n: int, now: float, client: bytes = CLIENT, qname: str = "www.example.com",
          tcp: bool = False) -> list[dns.message.Message | None]:
    replies = [engine.answer(wire(qname), tcp=tcp, client=client, now=now) for _ in range(n)]
    return [dns.message.from_wire(r) if r is not None else None for r in replies]


def full(replies) -> int:
    return sum(1 for r in replies if r is not None and not r.flags & dns.flags.TC)


def test_a_second_of_budget_then_half_are_slipped(engine):
    replies = flood(engine, 30, 1000.0)
    assert full(replies) == 10
    limited = replies[10:]
    slipped = [r for r in limited if r is not None]
    assert len(slipped) == 10 and all(r.flags & dns.flags.TC and not r.answer for r in slipped)
    c = counters(engine)
    assert c["rrl_dropped_answer"] == 10 and c["rrl_slipped_answer"] == 10


def test_the_budget_refills_with_time(engine):
    flood(engine, 20, 1000.0)
    assert full(flood(engine, 20, 1000.5)) == 5  # half a second: half the rate
    assert full(flood(engine, 20, 1005.0)) == 10  # never more than a second's worth


def test_a_prefix_shares_its_budget_another_does_not(engine):
    flood(engine, 10, 1000.0)
    assert full(flood(engine, 5, 1000.0, client=NEIGHBOUR)) == 0
    assert full(flood(engine, 5, 1000.0, client=STRANGER)) == 5


def test_classes_have_budgets_of_their_own(engine):
    flood(engine, 20, 1000.0)
    nx = flood(engine, 5, 1000.0, qname="nothing-here.example.com")
    assert all(r is not None and r.rcode() == dns.rcode.NXDOMAIN and not r.flags & dns.flags.TC for r in nx)
    refused = flood(engine, 5, 1000.0, qname="www.example.org")
    assert all(r is not None and r.rcode() == dns.rcode.REFUSED for r in refused)


def test_tcp_is_never_limited(engine):
    flood(engine, 20, 1000.0)
    assert full(flood(engine, 20, 1000.0, tcp=True)) == 20


def test_a_valid_cookie_exempts_the_client(engine):
    first = engine.answer(wire(cookie=bytes(8)), client=CLIENT, now=1000.0)
    cookie = [o for o in dns.message.from_wire(first).options if o.otype == dns.edns.COOKIE][0].to_wire()
    flood(engine, 20, 1000.0)
    replies = [engine.answer(wire(cookie=cookie), client=CLIENT, now=1000.0) for _ in range(50)]
    assert all(r is not None and not dns.message.from_wire(r).flags & dns.flags.TC for r in replies)


def test_a_client_cookie_alone_slips_as_badcookie(engine):
    flood(engine, 20, 1000.0)
    replies = [engine.answer(wire(cookie=bytes(8)), client=CLIENT, now=1000.0) for _ in range(4)]
    sent = [dns.message.from_wire(r) for r in replies if r is not None]
    assert len(sent) == 2 and all(r.rcode() == dns.rcode.BADCOOKIE for r in sent)
    assert all(o.otype == dns.edns.COOKIE and len(o.to_wire()) == 24 for r in sent for o in r.options)
    assert counters(engine)["badcookie"] == 2


def test_slip_zero_drops_every_limited_response(bundled_engine):
    engine = _dataplane.Engine(bundled_engine.image)
    engine.set_policy(policy(SECRET_A, rate=10, slip=0))
    replies = flood(engine, 30, 1000.0)
    assert full(replies) == 10 and replies[10:] == [None] * 20


def test_without_rate_limiting_nothing_is_limited(bundled_engine):
    engine = _dataplane.Engine(bundled_engine.image)
    engine.set_policy(policy(SECRET_A, rate=0))
    assert full(flood(engine, 100, 1000.0)) == 100


def test_ipv6_prefixes_are_56_bits(engine):
    a = bytes.fromhex("20010db8000000000000000000000001")
    same = bytes.fromhex("20010db80000001f0000000000000002")   # same /56 (byte 7 differs only)
    other = bytes.fromhex("20010db8000001000000000000000001")  # another /56
    flood(engine, 10, 1000.0, client=a)
    assert full(flood(engine, 3, 1000.0, client=same)) == 0
    assert full(flood(engine, 3, 1000.0, client=other)) == 3


def test_a_malformed_query_with_a_cookie_slips_as_a_truncated_formerr(engine):
    """A FORMERR reply has no OPT, so a slipped one cannot be BADCOOKIE: TC=1 FORMERR."""
    bad = wire(cookie=bytes(8)) + b"\x00"  # a trailing byte: FORMERR
    replies = [engine.answer(bad, client=CLIENT, now=1000.0) for _ in range(20)]
    sent = [dns.message.from_wire(r) for r in replies if r is not None]
    slipped = [r for r in sent if r.flags & dns.flags.TC]
    assert len(sent) == 15 and len(slipped) == 5  # a budget of 10, then every second slips
    assert all(r.rcode() == dns.rcode.FORMERR and r.edns < 0 for r in sent)
    assert counters(engine)["rrl_slipped_error"] == 5 and counters(engine)["badcookie"] == 0


def test_rate_limiting_turned_off_again_limits_nothing(engine):
    flood(engine, 20, 1000.0)
    engine.set_policy(policy(SECRET_A, rate=0))
    assert full(flood(engine, 50, 1000.0)) == 50
