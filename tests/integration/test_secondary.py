# SPDX-License-Identifier: MIT
"""fastdns as a secondary of a real primary, Knot DNS on loopback: the zone transferred by
AXFR at the first start, kept in its file, transferred again when the primary's serial
moves (`fastdns transfer`, NOTIFY), served from the copy when the primary is gone, and a
start with neither copy nor primary refused with the zone and the primary named; TSIG on
all of it.  And fastdns as the primary of a Knot DNS secondary (AXFR out)."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest

from tests.conftest import RunningServer, free_port
from tests.references import KNOTD, NSD, Knot, Nsd, available, knot_catalog, knot_config

ZONE = Path(__file__).resolve().parent.parent / "zones" / "diff.test.zone"

pytestmark = pytest.mark.skipif(not available(KNOTD), reason="Knot DNS (knotd) is not installed")


KEY = "9Ky6dmWXQ1qGJVPnF0MxdyVBuhTqT3rFt1RtmIakNzM="


class KnotPrimary(Knot):
    """Knot DNS serving the zone and allowing AXFR from loopback (and sending no NOTIFY:
    no remote is configured); with key, only transfers signed with it (TSIG)."""

    key: str | None = None
    notify_port: int | None = None  #: NOTIFY goes to 127.0.0.1 there, signed with the key when there is one
    history: bool = False  #: keep the differences between versions (IXFR), computed from the file

    def command(self) -> list[str]:
        command = super().command()
        conf = self.dir / "knot.conf"
        keys = f"key:\n  - id: k1\n    algorithm: hmac-sha256\n    secret: {self.key}\n" if self.key else ""
        remote = ""
        if self.notify_port is not None:
            remote = (f"remote:\n  - id: fastdns\n    address: 127.0.0.1@{self.notify_port}\n"
                      + ("    key: k1\n" if self.key else ""))
        text = conf.read_text().replace("template:\n", keys + remote + "acl:\n  - id: transfer\n"
                                        "    address: [127.0.0.1, ::1]\n" + ("    key: k1\n" if self.key else "")
                                        + "    action: transfer\ntemplate:\n")
        notify = "    notify: [fastdns]\n" if self.notify_port is not None else ""
        text = text.replace("    journal-content: none\n", "    journal-content: none\n    acl: [transfer]\n" + notify)
        if self.history:  # the journal lives in the database directory
            (self.dir / "db").mkdir(exist_ok=True)
            text = text.replace("    journal-content: none\n",
                                "    journal-content: changes\n    zonefile-load: difference\n")
        conf.write_text(text)
        return command

    def set_zone(self, text: str, serial: int) -> None:
        """Put a new version of the zone in place and have Knot load it."""
        (self.dir / "diff.test.zone").write_text(text)
        self.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if soa_serial(self.port) == serial:
                return
            time.sleep(0.1)
        raise RuntimeError(f"Knot DNS did not load serial {serial}: {self.output()}")


def soa_serial(port: int) -> int | None:
    import dns.message
    import dns.query

    try:
        reply = dns.query.udp(dns.message.make_query("diff.test", "SOA"), "127.0.0.1", port=port, timeout=1)
    except Exception:
        return None
    return reply.answer[0][0].serial if reply.answer else None


def with_serial(text: str, serial: int, extra: str = "") -> str:
    return text.replace("2026112201", str(serial)) + extra


@pytest.fixture
def primary(tmp_path):
    server = KnotPrimary(tmp_path / "knot", {"diff.test": ZONE}, free_port())
    yield server
    server.stop()


def start_secondary(directory: Path, primaries: list[str], secret: str | None = None,
                    notify_port: int | None = None, **extra) -> RunningServer:
    zone = {"name": "diff.test", "file": "diff.test.zone", "primaries": primaries}
    settings: dict = {"zones": [zone], **extra}
    if notify_port is not None:
        settings["notify_listen"] = [f"127.0.0.1@{notify_port}"]
    if secret is not None:
        zone["tsig"] = "k1"
        settings["tsig"] = [{"name": "k1", "algorithm": "hmac-sha256", "secret": secret}]
    return RunningServer(directory, {}, 1, settings)


def test_a_secondary_transfers_keeps_and_follows_its_primary(primary, tmp_path):
    directory = tmp_path / "fastdns"
    server = start_secondary(directory, [f"127.0.0.1@{primary.port}"])
    try:
        assert server.query("diff.test", "SOA").answer[0][0].serial == 2026112201
        assert server.query("www.diff.test", "A").rcode() == dns.rcode.NOERROR
        assert (directory / "diff.test.zone").exists()  # the copy, for a start without the primary
        status = json.loads(server.cli("status", "--json").stdout)
        (zone,) = status["zones"]
        assert zone["role"] == "secondary" and zone["primary_serial"] == 2026112201

        current = server.cli("transfer", "diff.test")
        assert current.returncode == 0 and "is current" in current.stdout, current.stderr

        primary.set_zone(with_serial(ZONE.read_text(), 2026112202, "added IN TXT \"from the primary\"\n"),
                         2026112202)
        moved = server.cli("transfer", "diff.test")
        assert moved.returncode == 0 and "2026112202 transferred from 127.0.0.1" in moved.stdout, moved.stderr
        assert server.query("diff.test", "SOA").answer[0][0].serial == 2026112202
        txt = server.query("added.diff.test", "TXT")
        assert txt.answer and txt.answer[0].rdtype == dns.rdatatype.TXT
        shown = server.cli("status").stdout
        assert "secondary of 127.0.0.1@" in shown and "AXFR" in shown
        assert "not a secondary zone" in server.cli("transfer", "example.com").stderr
    finally:
        server.stop()

    primary.stop()  # a restart without the primary serves the copy, and says the check failed
    again = start_secondary(tmp_path / "fastdns", [f"127.0.0.1@{primary.port}"])
    try:
        assert again.query("diff.test", "SOA").answer[0][0].serial == 2026112202
        assert again.query("added.diff.test", "TXT").answer
        failed = again.cli("transfer", "diff.test")
        assert failed.returncode == 1 and f"primary 127.0.0.1@{primary.port}" in failed.stderr
        assert again.query("diff.test", "SOA").answer[0][0].serial == 2026112202
    finally:
        again.stop()


def test_a_secondary_with_no_copy_and_no_primary_is_refused_naming_both(tmp_path):
    port = free_port()  # nothing listens there
    with pytest.raises(RuntimeError) as e:
        start_secondary(tmp_path, [f"127.0.0.1@{port}"])
    assert "zone diff.test: no copy in" in str(e.value) and f"primary 127.0.0.1@{port}" in str(e.value)


class SignedKnotPrimary(KnotPrimary):
    key = KEY


def test_transfers_signed_with_the_primarys_key_pass_and_others_are_refused_naming_the_primary(tmp_path):
    primary = SignedKnotPrimary(tmp_path / "knot", {"diff.test": ZONE}, free_port())
    try:
        address = f"127.0.0.1@{primary.port}"
        with pytest.raises(RuntimeError) as unsigned:  # the primary wants the key
            start_secondary(tmp_path / "unsigned", [address])
        assert f"primary {address}: AXFR refused: message 1 has RCODE NOTAUTH" in str(unsigned.value)
        wrong = "A" * 43 + "="
        with pytest.raises(RuntimeError) as bad:
            start_secondary(tmp_path / "bad", [address], wrong)
        assert f"primary {address}" in str(bad.value) and "no copy in" in str(bad.value)
        server = start_secondary(tmp_path / "signed", [address], KEY)
        try:
            assert server.query("diff.test", "SOA").answer[0][0].serial == 2026112201
            current = server.cli("transfer", "diff.test")
            assert current.returncode == 0 and "is current" in current.stdout, current.stderr
        finally:
            server.stop()
    finally:
        primary.stop()


def notifying(kind: type, directory: Path, notify_port: int):  # noqa: ANN201 - a KnotPrimary or NsdPrimary
    """A primary of that kind serving diff.test, sending NOTIFY to 127.0.0.1@notify_port
    (set before it starts: its configuration is written as it starts)."""
    primary = kind.__new__(kind)
    primary.notify_port = notify_port
    primary.__init__(directory, {"diff.test": ZONE}, free_port())
    return primary


def notify(port: int, source: str = "127.0.0.1", key: str | None = None) -> dns.message.Message:
    """A NOTIFY for diff.test to 127.0.0.1@port from source (a loopback address), its reply."""
    import dns.opcode
    import dns.query
    import dns.tsig

    query = dns.message.make_query("diff.test", "SOA")
    query.flags = dns.flags.AA  # the flags word holds the opcode: set it after
    query.set_opcode(dns.opcode.NOTIFY)
    if key is not None:
        query.use_tsig(dns.tsig.Key("k1", key, "hmac-sha256"))
    return dns.query.udp(query, "127.0.0.1", port=port, timeout=3, source=source)


def wait_serial(server: RunningServer, serial: int, timeout: float = 10.0) -> float:
    """Seconds until the server answers serial for diff.test's SOA."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if server.query("diff.test", "SOA").answer[0][0].serial == serial:
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"serial {serial} not served within {timeout} s")


@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "tsig"])
def test_notify_from_the_primary_brings_the_change_and_notify_from_others_is_refused(tmp_path, key):
    notify_port = free_port()
    primary = notifying(SignedKnotPrimary if key else KnotPrimary, tmp_path / "knot", notify_port)
    server = None
    try:
        metrics = free_port()
        server = start_secondary(tmp_path / "fastdns", [f"127.0.0.1@{primary.port}"], key, notify_port,
                                 metrics=f"127.0.0.1@{metrics}")
        assert server.query("diff.test", "SOA").answer[0][0].serial == 2026112201
        primary.set_zone(with_serial(ZONE.read_text(), 2026112202, "added IN TXT \"notified\"\n"), 2026112202)
        wait_serial(server, 2026112202)  # Knot DNS's NOTIFY, no `fastdns transfer`
        assert server.query("added.diff.test", "TXT").answer
        stranger = notify(notify_port, source="127.0.0.2", key=key)
        assert stranger.rcode() == dns.rcode.REFUSED
        if key is not None:
            assert notify(notify_port).rcode() == dns.rcode.REFUSED  # unsigned, from the primary's address
            assert notify(notify_port, key=key).rcode() == dns.rcode.NOERROR
        (zone,) = json.loads(server.cli("status", "--json").stdout)["zones"]
        assert zone["notifies"] >= 1 and zone["notifies_refused"] == (2 if key else 1)
        import urllib.request

        exported = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=5).read().decode()
        assert 'fastdns_zone_transfers_total{result="ok",zone="diff.test"} 1.0' in exported
        assert f'fastdns_zone_notifies_received_total{{result="refused",zone="diff.test"}} {2 if key else 1}.0' \
            in exported
        assert 'fastdns_zone_primary_serial{zone="diff.test"} 2.026112202e+09' in exported
        assert 'fastdns_zone_expired{zone="diff.test"} 0.0' in exported
    finally:
        if server is not None:
            server.stop()
        primary.stop()


class KnotSecondary:
    """Knot DNS as a secondary of fastdns: transfers the zone from it, serves it."""

    def __init__(self, directory: Path, primary_port: int, port: int, key: str | None = None) -> None:
        directory.mkdir(parents=True)
        self.dir = directory
        self.port = port
        keys = f"key:\n  - id: k1\n    algorithm: hmac-sha256\n    secret: {key}\n" if key else ""
        sections = (f"{keys}remote:\n  - id: fastdns\n    address: 127.0.0.1@{primary_port}\n"
                    + ("    key: k1\n" if key else "")
                    + "acl:\n  - id: notify\n    address: [127.0.0.1]\n    action: notify\n")
        (directory / "knot.conf").write_text(knot_config(directory, f"127.0.0.1@{port}", sections,
                                                         "  - domain: diff.test\n    master: fastdns\n"
                                                         "    acl: [notify]\n"))
        self.log = open(directory / "knot.log", "w")
        self.proc = subprocess.Popen([KNOTD, "-c", str(directory / "knot.conf")], stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def serial(self) -> int | None:
        return soa_serial(self.port)

    def stop(self) -> None:
        from tests.references import terminate

        terminate(self.proc)
        self.log.close()


def test_knot_dns_transfers_a_zone_from_fastdns_and_follows_its_notify(tmp_path):
    import dns.query

    knot_port = free_port()
    allowed = {"name": "diff.test", "file": "diff.test.zone", "allow_transfer": ["127.0.0.0/8"],
               "notify": [f"127.0.0.1@{knot_port}"]}
    server = RunningServer(tmp_path / "fastdns", {"diff.test": ZONE.read_text(),
                                                  "example.test": EXAMPLE}, 1,
                           {"zones": [allowed, {"name": "example.test", "file": "example.test.zone"}]})
    secondary = None
    try:
        secondary = KnotSecondary(tmp_path / "knot", server.port, knot_port)
        deadline = time.monotonic() + 20
        while secondary.serial() != 2026112201 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert secondary.serial() == 2026112201, (tmp_path / "knot" / "knot.log").read_text()
        for name, qtype in [("www.diff.test", "A"), ("diff.test", "NS"), ("x.wild.diff.test", "TXT"),
                            ("no-such.diff.test", "A"), ("child.diff.test", "NS")]:
            query = dns.message.make_query(name, qtype)
            ours = dns.query.udp(query, "127.0.0.1", port=server.port, timeout=2)
            theirs = dns.query.udp(query, "127.0.0.1", port=secondary.port, timeout=2)
            assert ours.rcode() == theirs.rcode() and sorted(map(str, ours.answer)) == sorted(map(str, theirs.answer))
        refused = dns.query.tcp(dns.message.make_query("example.test", "AXFR"), "127.0.0.1", port=server.port,
                                timeout=2)
        assert refused.rcode() == dns.rcode.REFUSED  # not in its allow_transfer
        assert "AXFR to 127.0.0.1" in server.output()
        # a change here: fastdns tells Knot DNS (NOTIFY), which transfers it
        (server.dir / "diff.test.zone").write_text(with_serial(ZONE.read_text(), 2026112203, "new IN A 192.0.2.9\n"))
        assert server.cli("reload", "diff.test").returncode == 0
        deadline = time.monotonic() + 20
        while secondary.serial() != 2026112203 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert secondary.serial() == 2026112203, (tmp_path / "knot" / "knot.log").read_text()
        assert "NOTIFY serial 2026112203 to 127.0.0.1@" in server.output()
        # a change to a record of a name the zone has: Knot DNS asks IXFR, and gets the difference
        changed = with_serial(ZONE.read_text(), 2026112204, "new IN A 192.0.2.9\n").replace(
            "new IN A 192.0.2.9", "new IN A 192.0.2.10")
        (server.dir / "diff.test.zone").write_text(changed)
        assert server.cli("reload", "diff.test").returncode == 0
        deadline = time.monotonic() + 20
        while secondary.serial() != 2026112204 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert secondary.serial() == 2026112204, (tmp_path / "knot" / "knot.log").read_text()
        assert "diff.test: IXFR to 127.0.0.1, 1 messages" in server.output(), server.output()
        knot_log = (tmp_path / "knot" / "knot.log").read_text()
        assert "IXFR, incoming" in knot_log and "192.0.2.10" in secondary_answer(secondary, "new.diff.test")
    finally:
        if secondary is not None:
            secondary.stop()
        server.stop()


EXAMPLE = """$TTL 300
@ IN SOA ns1 hostmaster 1 3600 900 604800 300
@ IN NS ns1
ns1 IN A 192.0.2.1
"""


def test_a_secondary_past_its_soa_expire_answers_servfail_and_recovers_with_its_primary(tmp_path):
    """RFC 1034 4.3.5: no primary reached for EXPIRE seconds, the zone is no longer
    authoritative here (SERVFAIL, like Knot DNS and BIND); back when a primary answers."""
    quick = tmp_path / "diff.test.zone"  # REFRESH 1, RETRY 1, EXPIRE 3
    quick.write_text(ZONE.read_text().replace("2026112201 7200 3600 1209600 300", "2026112201 1 1 3 300"))
    assert "2026112201 1 1 3 300" in quick.read_text()
    port = free_port()
    primary = KnotPrimary(tmp_path / "knot", {"diff.test": quick}, port)
    server = start_secondary(tmp_path / "fastdns", [f"127.0.0.1@{port}"])
    try:
        assert server.query("www.diff.test", "A").rcode() == dns.rcode.NOERROR
        primary.stop()
        deadline = time.monotonic() + 15
        while server.query("www.diff.test", "A").rcode() != dns.rcode.SERVFAIL and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.query("www.diff.test", "A").rcode() == dns.rcode.SERVFAIL
        assert server.query("diff.test", "SOA").rcode() == dns.rcode.SERVFAIL
        (zone,) = json.loads(server.cli("status", "--json").stdout)["zones"]
        assert zone["expired"] and "EXPIRED" in server.cli("status").stdout
        assert "expired (no primary reached" in server.output()
        primary = KnotPrimary(tmp_path / "knot-again", {"diff.test": quick}, port)
        deadline = time.monotonic() + 15
        while server.query("www.diff.test", "A").rcode() != dns.rcode.NOERROR and time.monotonic() < deadline:
            time.sleep(0.1)
        assert server.query("www.diff.test", "A").rcode() == dns.rcode.NOERROR
    finally:
        server.stop()
        primary.stop()


class KnotCatalogPrimary:
    """Knot DNS serving member zones and the catalog (RFC 9432) it generates for them,
    NOTIFY for the catalog to 127.0.0.1@notify_port."""

    def __init__(self, directory: Path, port: int, notify_port: int, members: dict[str, str]) -> None:
        directory.mkdir(parents=True)
        self.dir, self.port, self.notify_port = directory, port, notify_port
        self.members: dict[str, str] = {}
        for origin, text in members.items():
            self.members[origin] = text
        self._write()
        self.log = open(directory / "knot.log", "w")
        self.proc = subprocess.Popen([KNOTD, "-c", str(directory / "knot.conf")], stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def _write(self) -> None:
        zones = knot_catalog(self.dir, self.members, "fastdns")
        sections = (f"remote:\n  - id: fastdns\n    address: 127.0.0.1@{self.notify_port}\n"
                    "acl:\n  - id: transfer\n    address: [127.0.0.1]\n    action: transfer\n")
        (self.dir / "knot.conf").write_text(knot_config(self.dir, f"127.0.0.1@{self.port}", sections, zones,
                                                        "    acl: [transfer]\n"))

    def set_members(self, members: dict[str, str]) -> None:
        self.members = dict(members)
        self._write()
        self.proc.send_signal(signal.SIGHUP)

    def stop(self) -> None:
        from tests.references import terminate

        terminate(self.proc)
        self.log.close()


def zone_text(origin: str, serial: int = 1) -> str:
    return f"$ORIGIN {origin}.\n$TTL 300\n@ IN SOA ns1 hostmaster {serial} 3600 900 604800 300\n@ IN NS ns1\n" \
           f"ns1 IN A 192.0.2.1\nwww IN A 192.0.2.80\n"


def test_a_catalog_zone_adds_and_removes_its_member_zones_without_a_restart(tmp_path):
    port, notify_port = free_port(), free_port()
    primary = KnotCatalogPrimary(tmp_path / "knot", port, notify_port,
                                 {"one.test": zone_text("one.test"), "two.test": zone_text("two.test")})
    server = None
    try:
        deadline = time.monotonic() + 20  # (Knot DNS answers no query for the catalog itself)
        while soa_serial_of(port, "one.test") is None and time.monotonic() < deadline:
            time.sleep(0.1)
        catalog = {"name": "catalog.invalid", "file": "catalog.invalid.zone", "primaries": [f"127.0.0.1@{port}"],
                   "catalog": True}
        server = RunningServer(tmp_path / "fastdns", {}, 1, {"zones": [catalog],
                                                             "notify_listen": [f"127.0.0.1@{notify_port}"]})
        for origin in ("one.test", "two.test"):  # members of the copy it started with
            assert server.query(f"www.{origin}", "A").rcode() == dns.rcode.NOERROR, server.output()
        assert (tmp_path / "fastdns" / "one.test.zone").exists()
        primary.set_members({"one.test": zone_text("one.test"), "three.test": zone_text("three.test")})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if (server.query("www.three.test", "A").rcode() == dns.rcode.NOERROR
                    and server.query("www.two.test", "A").rcode() == dns.rcode.REFUSED):
                break
            time.sleep(0.1)
        assert server.query("www.three.test", "A").rcode() == dns.rcode.NOERROR, server.output()
        assert server.query("www.two.test", "A").rcode() == dns.rcode.REFUSED  # no longer served here
        assert server.query("www.one.test", "A").rcode() == dns.rcode.NOERROR
        assert not (tmp_path / "fastdns" / "two.test.zone").exists()
        zones = {z["zone"] for z in json.loads(server.cli("status", "--json").stdout)["zones"]}
        assert zones == {"catalog.invalid", "one.test", "three.test"}
    finally:
        if server is not None:
            server.stop()
        primary.stop()


def soa_serial_of(port: int, origin: str) -> int | None:
    import dns.query

    try:
        reply = dns.query.udp(dns.message.make_query(origin, "SOA"), "127.0.0.1", port=port, timeout=1)
    except Exception:
        return None
    return reply.answer[0][0].serial if reply.answer else None


class HistoryKnotPrimary(KnotPrimary):
    history = True


def test_a_one_record_change_comes_by_ixfr_and_is_read_as_the_lines_it_changed(tmp_path):
    primary = HistoryKnotPrimary(tmp_path / "knot", {"diff.test": ZONE}, free_port())
    server = start_secondary(tmp_path / "fastdns", [f"127.0.0.1@{primary.port}"])
    try:
        primary.set_zone(with_serial(ZONE.read_text(), 2026112202, "added IN TXT \"by ixfr\"\n")
                         .replace("192.0.2.80", "192.0.2.99", 1), 2026112202)
        moved = server.cli("transfer", "diff.test")
        assert moved.returncode == 0 and "(IXFR," in moved.stdout, moved.stdout + moved.stderr + server.output()
        assert server.query("added.diff.test", "TXT").answer
        assert server.query("diff.test", "SOA").answer[0][0].serial == 2026112202
        assert "records changed" in server.output()
        # the copy is the zone: a restart serves it as it is now
        copy = (tmp_path / "fastdns" / "diff.test.zone").read_text()
        assert "by ixfr" in copy and copy.count("2026112201") == 0
    finally:
        server.stop()
        primary.stop()


class NsdPrimary(Nsd):
    """NSD serving the zone, allowing AXFR from loopback and sending NOTIFY to 127.0.0.1 at
    notify_port: a second, different primary."""

    notify_port = 0

    def command(self) -> list[str]:
        command = super().command()
        conf = self.dir / "nsd.conf"
        conf.write_text(conf.read_text().replace(
            "    zonefile: diff.test.zone\n",
            "    zonefile: diff.test.zone\n    provide-xfr: 127.0.0.1 NOKEY\n"
            f"    notify: 127.0.0.1@{self.notify_port} NOKEY\n"))
        return command


@pytest.mark.skipif(not available(NSD), reason="NSD is not installed")
def test_nsd_as_primary_transfers_and_notifies(tmp_path):
    notify_port = free_port()
    primary = notifying(NsdPrimary, tmp_path / "nsd", notify_port)
    server = None
    try:
        server = start_secondary(tmp_path / "fastdns", [f"127.0.0.1@{primary.port}"], None, notify_port)
        assert server.query("diff.test", "SOA").answer[0][0].serial == 2026112201
        (primary.dir / "diff.test.zone").write_text(with_serial(ZONE.read_text(), 2026112202,
                                                                "from-nsd IN TXT \"notified\"\n"))
        primary.proc.send_signal(signal.SIGHUP)  # NSD re-reads its zone files and sends NOTIFY
        wait_serial(server, 2026112202, timeout=20)
        assert server.query("from-nsd.diff.test", "TXT").answer
        assert "NOTIFY from 127.0.0.1" in server.output()
    finally:
        if server is not None:
            server.stop()
        primary.stop()


def test_a_knot_secondary_with_the_key_transfers_from_fastdns_and_one_without_is_refused(tmp_path):
    """allow_transfer_key: the AXFR request must be signed with the key, and every message of
    the answer is (RFC 8945 5.3.1, checked by Knot DNS)."""
    import dns.query
    import dns.tsig

    zone = {"name": "diff.test", "file": "diff.test.zone", "allow_transfer": ["127.0.0.0/8"],
            "allow_transfer_key": "k1"}
    server = RunningServer(tmp_path / "fastdns", {"diff.test": ZONE.read_text()}, 1,
                           {"zones": [zone], "tsig": [{"name": "k1", "secret": KEY}]})
    secondary = None
    try:
        unsigned = dns.query.tcp(dns.message.make_query("diff.test", "AXFR"), "127.0.0.1", port=server.port,
                                 timeout=2)
        assert unsigned.rcode() == dns.rcode.REFUSED
        secondary = KnotSecondary(tmp_path / "knot", server.port, free_port(), key=KEY)
        deadline = time.monotonic() + 20
        while secondary.serial() != 2026112201 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert secondary.serial() == 2026112201, (tmp_path / "knot" / "knot.log").read_text()
        # dnspython checks every message's signature too
        keyring = {dns.name.from_text("k1"): dns.tsig.Key("k1", KEY, "hmac-sha256")}
        messages = list(dns.query.xfr("127.0.0.1", "diff.test", port=server.port, keyring=keyring, keyname="k1",
                                      timeout=5))
        assert messages and all(m.had_tsig for m in messages)
    finally:
        if secondary is not None:
            secondary.stop()
        server.stop()


def secondary_answer(secondary: KnotSecondary, name: str) -> str:
    import dns.query

    reply = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=secondary.port, timeout=2)
    return " ".join(str(rrset) for rrset in reply.answer)


def test_notify_to_the_service_address_reaches_the_control_process_over_udp_and_tcp(tmp_path):
    """NOTIFY sent where the zone is served (port 53 in production): over TCP (Knot DNS's
    way) the control process takes it; over UDP the workers' socket group steers it to a
    socket of the control process (fastdns.sockets), so no worker answers it NOTIMP."""
    port = free_port()
    primary = notifying(KnotPrimary, tmp_path / "knot", port)
    server = None
    try:
        server = start_secondary(tmp_path / "fastdns", [f"127.0.0.1@{primary.port}"], None, None,
                                 listen=[f"127.0.0.1@{port}"], workers=2)
        primary.set_zone(with_serial(ZONE.read_text(), 2026112202, "added IN TXT \"via port 53\"\n"), 2026112202)
        wait_serial(server, 2026112202)  # Knot DNS's NOTIFY over TCP to the service port
        for _ in range(4):  # whichever worker's CPU receives it
            assert notify(port, source="127.0.0.2").rcode() == dns.rcode.REFUSED
            assert notify(port).rcode() == dns.rcode.NOERROR
        (zone,) = json.loads(server.cli("status", "--json").stdout)["zones"]
        assert zone["notifies"] >= 5 and zone["notifies_refused"] == 4
        stats = json.loads(server.cli("stats", "--json").stdout)
        assert sum(w.get("notimp", 0) for w in stats["workers"]) == 0
    finally:
        if server is not None:
            server.stop()
        primary.stop()
