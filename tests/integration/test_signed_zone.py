# SPDX-License-Identifier: MIT
"""A pre-signed zone served by `fastdns serve`: DO=1 answers carry signatures that validate
over UDP and TCP, `fastdns status` tells when the signatures expire, and a re-signed file
with NSEC3 iterations above the cap is refused while the zone already served goes on."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import dns.dnssec
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests import signing

ZONE = Path(__file__).resolve().parent.parent / "zones" / "diff.test.zone"

pytestmark = pytest.mark.skipif(not signing.have_signers(), reason="dnssec-signzone (bind9-utils) is not installed")


def test_a_signed_zone_is_served_with_signatures_that_validate(serve, tmp_path):
    from tests.conftest import free_port

    path = signing.sign("nsec3", "diff.test", ZONE, tmp_path / "signed")
    metrics = free_port()
    server = serve({"diff.test": path.read_text()}, workers=1, metrics=f"127.0.0.1@{metrics}")
    keys = signing.dnskeys(path, "diff.test")
    query = dns.message.make_query("www.diff.test", "A", want_dnssec=True)
    for reply in (dns.query.udp(query, "127.0.0.1", port=server.port, timeout=2),
                  dns.query.tcp(query, "127.0.0.1", port=server.port, timeout=2)):
        rrset = reply.find_rrset(reply.answer, reply.question[0].name, 1, dns.rdatatype.A)
        sig = reply.find_rrset(reply.answer, reply.question[0].name, 1, dns.rdatatype.RRSIG, dns.rdatatype.A)
        dns.dnssec.validate(rrset, sig, keys, now=time.time())
    nx = server.query("no-such-name.diff.test", "A", want_dnssec=True)
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert sum(r.rdtype == dns.rdatatype.NSEC3 for r in nx.authority) == 3
    status = json.loads(server.cli("status", "--json").stdout)
    (zone,) = status["zones"]
    assert 29 * 86400 < zone["signatures_expire_in"] <= 30 * 86400
    assert zone["signatures_expire_at"] - time.time() == pytest.approx(zone["signatures_expire_in"], abs=5)
    shown = server.cli("status").stdout
    assert ", in 30.0 days" in shown and "first signature expires 20" in shown
    exported = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5).read().decode()
    assert 'fastdns_zone_signature_expiry_seconds{zone="diff.test"}' in exported
    assert 'fastdns_zone_signature_expiration_timestamp_seconds{zone="diff.test"}' in exported


def test_a_zone_resigned_above_the_iteration_cap_is_refused_and_the_old_one_serves(serve, tmp_path):
    path = signing.sign("nsec3", "diff.test", ZONE, tmp_path / "signed")
    server = serve({"diff.test": path.read_text()}, workers=1, nsec3_iterations_max=10)
    resigned = signing.sign("nsec3", "diff.test", ZONE, tmp_path / "resigned", iterations=20)
    (server.dir / "diff.test.zone").write_text(resigned.read_text())
    result = server.cli("reload")
    assert result.returncode == 1
    assert "zone diff.test is signed with NSEC3 with 20 iterations, above nsec3_iterations_max (10)" in result.stderr
    assert server.query("www.diff.test", "A").rcode() == dns.rcode.NOERROR
