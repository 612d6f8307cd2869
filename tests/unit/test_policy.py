# SPDX-License-Identifier: MIT
"""The rate_limit and cookies settings, their errors, and the policy the workers get."""

import pytest
import yaml

from fastdns.config import CookieConfig, RateLimitConfig, load_config
from fastdns.controlblock import POLICY, POLICY_FIELDS
from fastdns.errors import ConfigError, FastDNSError
from fastdns.policy import Policy, packed_address, read_secret_file

SECRET = "00112233445566778899aabbccddeeff"


def config(tmp_path, **settings):
    path = tmp_path / "fastdns.yaml"
    (tmp_path / "z.zone").write_text("")
    path.write_text(yaml.safe_dump({"zones": [{"name": "example.com", "file": "z.zone"}], **settings}))
    return load_config(path)


def test_defaults_rate_limiting_off_cookies_on(tmp_path):
    cfg = config(tmp_path)
    assert cfg.rate_limit is None and cfg.cookies == CookieConfig()


def test_rate_limit_settings(tmp_path):
    cfg = config(tmp_path, rate_limit={"rate": 100, "slip": 0, "ipv6_prefix": 48})
    assert cfg.rate_limit == RateLimitConfig(rate=100, slip=0, ipv4_prefix=24, ipv6_prefix=48)


@pytest.mark.parametrize("settings, message", [
    ({"rate_limit": {"slip": 2}}, "rate_limit.rate: required"),
    ({"rate_limit": {"rate": 0}}, "rate_limit.rate: expected responses per second from 1 to 1000000"),
    ({"rate_limit": {"rate": 10, "slip": 11}}, "rate_limit.slip: expected a number from 0 to 10"),
    ({"rate_limit": {"rate": 10, "ipv6_prefix": 96}}, "rate_limit.ipv6_prefix: expected a number from 16 to 64"),
    ({"rate_limit": {"rate": 10, "burst": 3}}, "rate_limit.burst: unknown setting"),
    ({"rate_limit": 10}, "rate_limit: expected a mapping with at least rate:"),
    ({"cookies": "yes"}, "cookies: expected true, false or a mapping"),
    ({"cookies": {"secret_file": "missing"}}, "cookies.secret_file: .*missing: cannot read the cookie secrets"),
])
def test_bad_settings_are_named(tmp_path, settings, message):
    with pytest.raises(ConfigError, match=message):
        config(tmp_path, **settings)


@pytest.mark.parametrize("text, message", [
    ("abc\n", ":1: expected a secret of 32 hex digits"),
    (f"# the current one\n{SECRET}\n{SECRET}\n{SECRET}\n", "expected one or two secrets .* found 3"),
    ("\n", "found 0"),
])
def test_bad_secret_files_are_named(tmp_path, text, message):
    (tmp_path / "secrets").write_text(text)
    with pytest.raises(FastDNSError, match=message):
        read_secret_file(str(tmp_path / "secrets"))


def unpack(policy: Policy) -> dict:
    return dict(zip(POLICY_FIELDS, POLICY.unpack(policy.packed())))


def test_each_worker_gets_its_share_of_the_rate():
    policy = Policy(RateLimitConfig(rate=101), None, 4)
    fields = unpack(policy)
    assert fields["rrl_rate"] == 26 and fields["rrl_slip"] == 2 and fields["cookies"] == 0
    assert (fields["rrl_ipv4_prefix"], fields["rrl_ipv6_prefix"]) == (24, 56)


def test_a_random_secret_rotates_keeping_the_previous():
    policy = Policy(None, CookieConfig(), 2)
    first = unpack(policy)
    assert first["cookies"] == 1 and first["cookie_previous"] == 0 and first["rrl_rate"] == 0
    policy.rotate()
    second = unpack(policy)
    assert second["cookie_previous"] == 1 and second["cookie_secret_previous"] == first["cookie_secret"]
    assert second["cookie_secret"] != first["cookie_secret"]


def test_a_secret_file_is_read_again_on_rotation(tmp_path):
    path = tmp_path / "secrets"
    path.write_text(f"{SECRET}\n")
    policy = Policy(None, CookieConfig(str(path)), 1)
    assert unpack(policy)["cookie_secret"] == bytes.fromhex(SECRET)
    path.write_text(f"{'ab' * 16}\n{SECRET}\n")
    policy.rotate()
    fields = unpack(policy)
    assert fields["cookie_secret"] == bytes.fromhex("ab" * 16)
    assert fields["cookie_secret_previous"] == bytes.fromhex(SECRET) and fields["cookie_previous"] == 1


@pytest.mark.parametrize("host, packed", [
    ("198.18.0.1", bytes([198, 18, 0, 1])),
    ("::ffff:198.18.0.1", bytes([198, 18, 0, 1])),
    ("fe80::1%eth0", bytes.fromhex("fe800000000000000000000000000001")),
    ("not an address", None),
])
def test_client_addresses_are_keyed_as_the_data_plane_keys_them(host, packed):
    assert packed_address(host) == packed
