# SPDX-License-Identifier: MIT
"""DNS cookies in the engine (RFC 7873, server cookies as RFC 9018): the test vectors of
RFC 9018 Appendix A, byte for byte, validity, the previous secret, malformed options."""

import ipaddress

import dns.edns
import dns.message
import dns.rcode
import pytest

from fastdns import _dataplane
from fastdns.controlblock import POLICY

SECRET_A = bytes.fromhex("e5e973e5a6b2a43f48e7dc849e37bfcf")  # RFC 9018 A.1 to A.3
SECRET_OLD = bytes.fromhex("dd3bdf9344b678b185a6f5cb60fca715")  # A.4, before the rollover
SECRET_NEW = bytes.fromhex("445536bcd2513298075a5d379663c962")  # A.4, after it


def policy(secret: bytes, previous: bytes | None = None, cookies: bool = True, rate: int = 0,
           slip: int = 2) -> bytes:
    return POLICY.pack(rate, slip, 24, 56, int(cookies), int(previous is not None), 0, secret,
                       previous or bytes(16))


@pytest.fixture
def engine(bundled_engine):
    """An engine of its own (policy, counters) over the bundled zones' image."""
    return _dataplane.Engine(bundled_engine.image)


def query(cookie: bytes | None, qname: str = "www.example.com") -> bytes:
    options = [dns.edns.GenericOption(dns.edns.COOKIE, cookie)] if cookie is not None else []
    return dns.message.make_query(qname, "A", use_edns=0, options=options).to_wire()


def reply_cookie(wire: bytes) -> tuple[int, bytes | None]:
    reply = dns.message.from_wire(wire)
    cookies = [o for o in reply.options if o.otype == dns.edns.COOKIE]
    assert len(cookies) <= 1
    return reply.rcode(), (cookies[0].to_wire() if cookies else None)


def ask(engine, cookie: bytes | None, client: str, now: int) -> tuple[int, bytes | None]:
    wire = engine.answer(query(cookie), client=ipaddress.ip_address(client).packed, now=now)
    assert wire is not None
    return reply_cookie(wire)


@pytest.mark.parametrize("secret, previous, client, now, sent, expected", [
    # A.1: a client cookie alone gets a new server cookie
    (SECRET_A, None, "198.51.100.100", 1559731985, "2464c4abcf10c957",
     "2464c4abcf10c957010000005cf79f111f8130c3eee29480"),
    # A.2: the same client 40 minutes later: valid, but older than half an hour: renewed
    (SECRET_A, None, "198.51.100.100", 1559734385, "2464c4abcf10c957010000005cf79f111f8130c3eee29480",
     "2464c4abcf10c957010000005cf7a871d4a564a1442aca77"),
    # A.3: another client, whose cookie (reserved bytes set) is too old: a new one
    (SECRET_A, None, "203.0.113.203", 1559734700, "fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5",
     "fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e"),
    # A.4: IPv6, the secret rolled over: the old one's cookie is accepted, the new one's given
    (SECRET_NEW, SECRET_OLD, "2001:db8:220:1:59de:d0f4:8769:82b8", 1559741961,
     "22681ab97d52c298010000005cf7c57926556bd0934c72f8",
     "22681ab97d52c298010000005cf7c609a6bb79d16625507a"),
])
def test_rfc9018_test_vectors(engine, secret, previous, client, now, sent, expected):
    engine.set_policy(policy(secret, previous))
    rcode, cookie = ask(engine, bytes.fromhex(sent), client, now)
    assert rcode == dns.rcode.NOERROR
    assert cookie is not None and cookie.hex() == expected


def counters(engine) -> dict[str, int]:
    from fastdns.controlblock import COUNTERS
    return dict(zip(COUNTERS, engine.counters()))


def test_a_valid_cookie_is_counted_and_kept_while_fresh(engine):
    engine.set_policy(policy(SECRET_A))
    _, first = ask(engine, bytes.fromhex("0102030405060708"), "198.18.0.7", 1_700_000_000)
    _, again = ask(engine, first, "198.18.0.7", 1_700_000_100)
    assert again == first  # made with the current secret, not half an hour old: echoed
    assert counters(engine)["cookies"] == 2 and counters(engine)["cookie_valid"] == 1


@pytest.mark.parametrize("change", ["other client", "other secret", "an hour old", "ahead", "hash"])
def test_a_server_cookie_not_ours_gets_a_new_one(engine, change):
    engine.set_policy(policy(SECRET_A))
    now = 1_700_000_000
    _, cookie = ask(engine, bytes.fromhex("0102030405060708"), "198.18.0.7", now)
    client, at = "198.18.0.7", now + 10
    if change == "other client":
        client = "198.18.0.8"
    elif change == "other secret":
        engine.set_policy(policy(SECRET_NEW))
    elif change == "an hour old":
        at = now + 3601
    elif change == "ahead":
        at = now - 301
    else:
        cookie = cookie[:-1] + bytes([cookie[-1] ^ 1])
    _, renewed = ask(engine, cookie, client, at)
    assert renewed is not None and renewed != cookie and renewed[:8] == cookie[:8]
    assert counters(engine)["cookie_valid"] == 0


def test_cookies_off_ignores_the_option(engine):
    engine.set_policy(policy(SECRET_A, cookies=False))
    rcode, cookie = ask(engine, bytes.fromhex("0102030405060708"), "198.18.0.7", 1_700_000_000)
    assert rcode == dns.rcode.NOERROR and cookie is None


def test_without_a_policy_no_cookie_is_answered(engine):
    rcode, cookie = ask(engine, bytes.fromhex("0102030405060708"), "198.18.0.7", 1_700_000_000)
    assert rcode == dns.rcode.NOERROR and cookie is None


@pytest.mark.parametrize("length", [0, 7, 9, 15, 41])
def test_a_malformed_cookie_is_formerr(engine, length):
    """RFC 7873 5.2.2: a COOKIE option of a length no cookie has."""
    engine.set_policy(policy(SECRET_A))
    wire = engine.answer(query(bytes(length)), client=bytes([198, 18, 0, 7]))
    reply = dns.message.from_wire(wire)
    assert reply.rcode() == dns.rcode.FORMERR and reply.edns < 0


@pytest.mark.parametrize("length", [8, 16, 24, 40])
def test_every_well_formed_length_is_answered(engine, length):
    engine.set_policy(policy(SECRET_A))
    rcode, cookie = ask(engine, bytes(range(length)), "198.18.0.7", 1_700_000_000)
    assert rcode == dns.rcode.NOERROR and cookie is not None and len(cookie) == 24


def test_two_cookie_options_are_formerr(engine):
    engine.set_policy(policy(SECRET_A))
    options = [dns.edns.GenericOption(dns.edns.COOKIE, bytes(8))] * 2
    wire = dns.message.make_query("www.example.com", "A", use_edns=0, options=options).to_wire()
    assert dns.message.from_wire(engine.answer(wire)).rcode() == dns.rcode.FORMERR


def test_options_that_overrun_the_opt_rdata_are_formerr(engine):
    wire = bytearray(query(bytes(8)))
    wire[-10:-8] = (200).to_bytes(2, "big")  # the COOKIE option's length, past RDLEN
    assert dns.message.from_wire(engine.answer(bytes(wire))).rcode() == dns.rcode.FORMERR


def test_errors_carry_the_cookie_too(engine):
    engine.set_policy(policy(SECRET_A))
    wire = engine.answer(query(bytes(8), "www.example.org"), client=bytes(4), now=1_700_000_000)
    rcode, cookie = reply_cookie(wire)
    assert rcode == dns.rcode.REFUSED and cookie is not None


def test_a_cookie_over_tcp_is_answered_too(engine):
    engine.set_policy(policy(SECRET_A))
    wire = engine.answer(query(bytes(8)), tcp=True, client=bytes(4), now=1_700_000_000)
    assert reply_cookie(wire)[1] is not None
