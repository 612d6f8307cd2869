# SPDX-License-Identifier: MIT
"""Zone loading: good zones load; every broken zone names its file, line and reason; the
dnspython reader (the specification's) and the native one (ldns) alike."""

import pytest

from fastdns.errors import ZoneError
from fastdns.zone import load_native_zone, load_zone


@pytest.fixture(params=[load_zone, load_native_zone], ids=["dnspython", "native"])
def loader(request):
    return request.param

GOOD = """$TTL 300
@ IN SOA ns1 hostmaster 7 3600 900 604800 60
@ IN NS ns1
ns1 IN A 192.0.2.1
"""


def load(loader, tmp_path, text, origin="example.com"):
    path = tmp_path / "example.com.zone"
    path.write_text(text)
    return loader(origin, str(path)), str(path)


def error_of(loader, tmp_path, text) -> ZoneError:
    path = tmp_path / "example.com.zone"
    path.write_text(text)
    with pytest.raises(ZoneError) as info:
        loader("example.com", str(path))
    return info.value


def test_good_zone_loads_with_its_serial(loader, tmp_path):
    zone, _ = load(loader, tmp_path, GOOD)
    assert zone.serial == 7
    assert str(zone.origin) == "example.com."


def test_syntax_error_names_file_and_line(loader, tmp_path):
    e = error_of(loader, tmp_path, GOOD + "www IN AX 192.0.2.2\n")
    assert e.line == 5 and "AX" in e.reason
    assert str(e).startswith(f"{tmp_path}/example.com.zone:5: ")


def test_bad_rdata_names_its_line(loader, tmp_path):
    e = error_of(loader, tmp_path, GOOD + "www IN A 192.0.2.300\n")
    assert e.line == 5


def test_cname_and_other_data_is_rejected_at_its_line(loader, tmp_path):
    e = error_of(loader, tmp_path, GOOD + "www IN A 192.0.2.2\nwww IN CNAME ns1\n")
    assert e.line == 6 and "CNAME" in e.reason


def test_cname_at_the_apex_is_rejected(loader, tmp_path):
    e = error_of(loader, tmp_path, GOOD + "@ IN CNAME ns1\n")
    assert e.line == 5 and "CNAME" in e.reason


def test_out_of_zone_record_is_rejected_at_its_line(loader, tmp_path):
    e = error_of(loader, tmp_path, GOOD + "www.example.org. IN A 192.0.2.2\nx IN A 192.0.2.3\n")
    assert e.line == 5 and "outside the zone" in e.reason


def test_missing_soa_is_rejected(loader, tmp_path):
    e = error_of(loader, tmp_path, "$TTL 300\n@ IN NS ns1\nns1 IN A 192.0.2.1\n")
    assert "SOA" in e.reason


def test_missing_apex_ns_is_rejected(loader, tmp_path):
    e = error_of(loader, tmp_path, "$TTL 300\n@ IN SOA ns1 h 1 2 3 4 5\nns1 IN A 192.0.2.1\n")
    assert "NS" in e.reason


def test_soa_below_the_apex_is_rejected_at_its_line(loader, tmp_path):
    e = error_of(loader, tmp_path, GOOD + "sub IN SOA ns1 h 1 2 3 4 5\n")
    assert e.line == 5 and "SOA" in e.reason


def test_last_line_without_newline_still_has_its_line(loader, tmp_path):
    e = error_of(loader, tmp_path, GOOD + "www IN A 192.0.2.2\nwww IN CNAME ns1")
    assert e.line == 6


def test_unreadable_file_is_named(loader, tmp_path):
    with pytest.raises(ZoneError, match="cannot read zone file"):
        loader("example.com", str(tmp_path / "missing.zone"))


def test_include_is_refused(loader, tmp_path):
    e = error_of(loader, tmp_path, GOOD + "$INCLUDE /etc/passwd\n")
    assert e.line == 5
