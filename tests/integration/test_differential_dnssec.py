# SPDX-License-Identifier: MIT
"""The differential test for pre-signed zones: fastdns, Knot DNS and NSD serve the
differential zones signed with NSEC, with NSEC3 and with NSEC3 opt-out (tests/signing.py),
and are asked every name (NSEC3 owners too) for every type, DNSSEC types included, with
DO=1 at 512, 1232 and 4096 bytes and with DO=0, in random case.  Against Knot DNS the
comparison is complete (test_differential.py's rules); against NSD the rcode, flags and
answer section."""

from __future__ import annotations

import random
from pathlib import Path

import dns.message
import dns.name
import pytest

from fastdns.zone import load_zone
from tests import signing
from tests.conftest import free_port, names_around, zone_names
from tests.integration.test_differential import (
    ALL_FIELDS,
    NSD_DIFFERENCES,
    NSD_FIELDS,
    ZONES,
    Client,
    Query,
    _allowed,
    _random_case,
    differences,
    summary,
)
from tests.references import KNOTD, NSD, Knot, Nsd, available

QTYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME", "SRV", "DS", "ANY", "PTR", "TYPE65534",
          "DNSKEY", "RRSIG", "NSEC", "NSEC3", "NSEC3PARAM"]
#: (use_edns, payload, DO)
EDNS_VARIANTS = [(0, 4096, True), (0, 1232, True), (0, 512, True), (0, 1232, False), (False, 0, False)]
SEED = 4034

pytestmark = pytest.mark.skipif(not signing.have_signers(), reason="dnssec-signzone (bind9-utils) is not installed")


def corpus(paths: dict[str, Path]) -> list[Query]:
    names = zone_names([load_zone(origin, str(path)) for origin, path in paths.items()])
    names |= names_around(names)
    rng = random.Random(SEED)
    queries = []
    for name in sorted(n.to_text() for n in names):
        for qtype in QTYPES:
            edns = rng.choice(EDNS_VARIANTS)
            qname = _random_case(name, rng) if rng.random() < 0.5 else name
            message = dns.message.make_query(qname, qtype, use_edns=edns[0], payload=edns[1] or None,
                                             want_dnssec=edns[2])
            message.id = rng.randrange(65536)
            queries.append(Query(qname, qtype, edns, message.to_wire()))
    return queries


@pytest.fixture(scope="module", params=signing.KINDS)
def signed_servers(tmp_path_factory, request):
    """fastdns, Knot DNS and NSD serving the zones signed one way, and the questions."""
    from tests.conftest import RunningServer

    base = tmp_path_factory.mktemp(f"differential-{request.param}")
    paths = {o: signing.sign(request.param, o, p, base / "signed") for o, p in ZONES.items()}
    started = {}
    try:
        started["fastdns"] = RunningServer(base / "fastdns", {o: p.read_text() for o, p in paths.items()}, 1)
        if available(KNOTD):
            started["knot"] = Knot(base / "knot", paths, free_port())
        if available(NSD):
            started["nsd"] = Nsd(base / "nsd", paths, free_port())
        yield {name: Client(server.port) for name, server in started.items()}, corpus(paths)
    finally:
        for server in started.values():
            server.stop()


#: Differences from Knot DNS the RFCs allow, as (reason, predicate on the query).
KNOT_DIFFERENCES: list[tuple[str, object]] = []

#: NSD's own, beside the unsigned suite's (test_differential.NSD_DIFFERENCES).
SIGNED_NSD_DIFFERENCES = NSD_DIFFERENCES + [
    ("NSD answers qtype RRSIG with every signature at the name, Knot DNS and fastdns with the "
     "lowest type's (RFC 4035 does not say; RRSIGs are not meant to be asked for alone)",
     lambda q: q.qtype == "RRSIG"),
    ("NSD does not follow a CNAME for qtype NSEC3; Knot DNS and fastdns do (an NSEC3 is never "
     "at a name of the zone's name space, so the answer is NODATA either way)",
     lambda q: q.qtype == "NSEC3"),
    ("NSD follows a CNAME for qtype NSEC where the CNAME owner has no NSEC (an NSEC3 zone); "
     "Knot DNS and fastdns answer about the name itself",
     lambda q: q.qtype == "NSEC"),
    ("NSD keeps NSEC3 owners in its name tree, so a name below one has that owner as its "
     "closest encloser (NXDOMAIN); Knot DNS and fastdns leave NSEC3 owners out of the name "
     "space (RFC 5155 7.2.8), so a wildcard above can match",
     lambda q: any(len(label) == 32 for label in q.qname.split("."))),
    ("NSD's signed replies are larger than Knot DNS's and fastdns's (no minimal additional "
     "signatures): it sets TC=1 on some that they fit in 512 bytes",
     lambda q: q.edns[1] == 512),
]


def _run(servers, queries: list[Query], reference: str, transport: str, fields, allowed) -> None:
    if reference not in servers:
        pytest.skip(f"{reference} is not installed")
    ours_client, ref_client = servers["fastdns"], servers[reference]
    ask = "ask_udp" if transport == "udp" else "ask_tcp"
    failures = []
    for query in queries:
        ours = summary(getattr(ours_client, ask)(query.wire))
        theirs = summary(getattr(ref_client, ask)(query.wire))
        compared = fields
        if _truncated(ours) and _truncated(theirs):
            # Both set TC=1: the client asks again over TCP and uses none of it. Knot DNS and
            # NSD put in the RRsets that fit (a signed denial is several); fastdns none (RFC
            # 2181 9 allows either).
            compared = [f for f in fields if f not in ("answer", "authority", "additional")]
        diff = differences(ours, theirs, compared)
        if list(diff) == ["additional"] and ours["additional"] < theirs["additional"]:
            # Knot DNS fills the additional section RRset by RRset while there is room; a
            # fastdns reply has all of it, or it without signatures, or (when it is not
            # glue) none: RFC 2181 9 and RFC 4035 3.1.1 leave additional data optional.
            continue
        if diff and not _allowed(allowed, query):
            failures.append(f"{query.qname} {query.qtype} edns={query.edns}: {diff}")
    ref_client.close_tcp()
    ours_client.close_tcp()
    assert not failures, (f"{len(failures)} of {len(queries)} {transport} answers differ from "
                          f"{reference}:\n" + "\n".join(failures[:30]))


def _truncated(summary: dict) -> bool:
    return "TC" in summary.get("flags", "").split()


@pytest.mark.skipif(not available(KNOTD), reason="Knot DNS (knotd) is not installed")
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_every_signed_answer_matches_knot(signed_servers, transport):
    servers, queries = signed_servers
    _run(servers, queries, "knot", transport, ALL_FIELDS, KNOT_DIFFERENCES)


@pytest.mark.skipif(not available(NSD), reason="NSD is not installed")
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_every_signed_answer_matches_nsd(signed_servers, transport):
    servers, queries = signed_servers
    _run(servers, queries, "nsd", transport, NSD_FIELDS, SIGNED_NSD_DIFFERENCES)
