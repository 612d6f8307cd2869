# SPDX-License-Identifier: MIT
"""Configuration: the bundled one is valid; bad values are named before anything starts;
the file is judged alone, the same on every machine (host facts: test_host.py)."""

import re
from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from fastdns.config import (
    DEFAULT_CONFIG,
    KNOWN_KEYS,
    SETTINGS,
    Config,
    control_socket_of,
    default_config_path,
    load_config,
    settings_markdown,
)
from fastdns.errors import ConfigError

README = Path(__file__).resolve().parents[2] / "README.md"


def write(tmp_path, data) -> str:
    path = tmp_path / "fastdns.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return str(path)


BASE = {"listen": ["127.0.0.1@5300"], "zones": [{"name": "example.com", "file": "e.zone"}]}


def test_bundled_config_is_valid_and_unprivileged():
    config = load_config(DEFAULT_CONFIG)
    assert [str(a) for a in config.listen] == ["127.0.0.1@5300", "::1@5300"]
    assert all(a.port > 1024 for a in config.listen)
    assert config.workers is None and config.cpus is None  # auto: decided when serving
    assert config.udp_payload == 1232


def test_default_config_is_the_packaged_one_when_installed(tmp_path):
    package = tmp_path / "site-packages" / "fastdns"
    (package / "zones").mkdir(parents=True)
    (package / "zones" / "fastdns.yaml").write_text("")
    assert default_config_path(package) == package / "zones" / "fastdns.yaml"


def test_default_config_is_the_checkouts_in_a_source_tree(tmp_path):
    package = tmp_path / "checkout" / "fastdns"
    package.mkdir(parents=True)
    assert default_config_path(package) == tmp_path / "checkout" / "zones" / "fastdns.yaml"


def test_defaults_of_the_table_are_the_dataclasses(tmp_path):
    """A file with only the required settings gives Config's own defaults: one source."""
    config = load_config(write(tmp_path, {"zones": BASE["zones"]}))
    for f in fields(Config):
        if f.name not in ("path", "listen", "udp_payload", "run_dir", "control_socket", "zones"):
            assert getattr(config, f.name) == f.default, f.name
    assert [str(a) for a in config.listen] == ["127.0.0.1@5300"]
    assert config.run_dir == "/run/fastdns"
    assert config.control_socket == "/run/fastdns/control.sock"


def test_every_setting_is_a_config_field():
    assert KNOWN_KEYS == {f.name for f in fields(Config)} - {"path"}


def test_readme_shows_the_table_of_settings():
    table = settings_markdown()
    assert table in README.read_text(encoding="utf-8"), "README.md: paste settings_markdown()"
    assert table.count("\n") == 2 + len(SETTINGS) + sum(len(s.children) for s in SETTINGS)


def test_relative_paths_are_resolved_against_the_config(tmp_path):
    config = load_config(write(tmp_path, {**BASE, "run_dir": "run"}))
    assert config.zones[0].file == str(tmp_path / "e.zone")
    assert config.run_dir == str(tmp_path / "run")
    assert config.control_socket == str(tmp_path / "run" / "control.sock")


@pytest.mark.parametrize("extra", [{}, {"run_dir": "run"}, {"control_socket": "/tmp/x.sock", "run_dir": "r"}])
def test_the_commands_that_talk_to_a_server_find_its_socket_as_the_server_does(tmp_path, extra):
    path = write(tmp_path, {**BASE, **extra, "zones": [{"name": f"z{i}.test", "file": "z.zone"} for i in range(3)]})
    assert control_socket_of(path) == load_config(path).control_socket
    with pytest.raises(ConfigError, match="control_socket: expected a path"):
        control_socket_of(write(tmp_path, {**BASE, "control_socket": ""}))


def test_workers_and_cpus_are_kept_as_written(tmp_path):
    assert load_config(write(tmp_path, {**BASE, "workers": 3})).workers == 3
    config = load_config(write(tmp_path, {**BASE, "cpus": [1, 0]}))
    assert config.cpus == (1, 0) and config.workers is None
    assert load_config(write(tmp_path, {**BASE, "cpus": [0, 1], "workers": 2})).workers == 2


def test_host_facts_are_not_checked_here(tmp_path):
    """`fastdns check` passes a file meant for another machine; `serve` judges it (host.place)."""
    config = load_config(write(tmp_path, {**BASE, "workers": 1000}))
    assert config.workers == 1000
    assert load_config(write(tmp_path, {**BASE, "cpus": [999]})).cpus == (999,)


@pytest.mark.parametrize("change, message", [
    ({"lisen": ["127.0.0.1@53"]}, "lisen: unknown setting"),
    ({"listen": ["localhost@53"]}, "listen: 'localhost' is not an IPv4 or IPv6 address"),
    ({"listen": ["127.0.0.1@99999"]}, "listen: '99999' is not a port number"),
    ({"listen": ["127.0.0.1@53", "127.0.0.1@53"]}, "listed twice"),
    ({"listen": []}, "listen: expected a list of addresses"),
    ({"workers": 0}, "workers: expected 'auto' or a positive number"),
    ({"workers": True}, "workers: expected 'auto' or a positive number"),
    ({"cpus": "0-3"}, "cpus: expected a list of CPU numbers"),
    ({"cpus": [0, 0]}, "cpus: a CPU is listed twice"),
    ({"cpus": [0, 1], "workers": 3}, "workers: give either workers or cpus, or make them agree"),
    ({"udp_payload": 100}, "udp_payload: expected a number of bytes from 512 to 4096"),
    ({"run_dir": ""}, "run_dir: expected a directory path"),
    ({"control_socket": None}, "control_socket: expected a path"),
    ({"control_socket": "/" + "x" * 120}, "control_socket: path longer than a unix socket allows"),
    ({"zones": []}, "zones: expected a list of zones"),
    ({"zones": ["example.com"]}, "zones[0]: expected a mapping with name and file"),
    ({"zones": [{"name": "example.com"}]}, "zones[0].file"),
    ({"zones": [{"name": "example.com", "file": "a", "typo": 1}]},
     "zones[0].typo: unknown setting (known: allow_transfer, allow_transfer_key, catalog, expire, file, name, "
     "notify, primaries, refresh, retry, tsig)"),
    ({"zones": [{"name": "a..b", "file": "a"}]}, "zones[0].name"),
    ({"zones": [{"name": "a.", "file": "a"}, {"name": "A", "file": "b"}]},
     "zones: a zone is listed twice"),
    ({"tcp_idle_timeout": 0}, "tcp_idle_timeout: expected seconds from 0 to 3600"),
    ({"tcp_max_connections": 0}, "tcp_max_connections: expected a number from 1 to 65536"),
    ({"version": 3}, "version: expected text for CH TXT version queries"),
    ({"identity": ["x"]}, "identity: expected text for CH TXT identity queries"),
    ({"minimal_responses": "yes"}, "minimal_responses: expected true or false"),
    ({"metrics": "localhost@9153"}, "metrics: 'localhost' is not an IPv4 or IPv6 address"),
    ({"user": ""}, "user: expected a user name"),
])
def test_bad_settings_are_named(tmp_path, change, message):
    path = write(tmp_path, {**BASE, **change})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(info.value).startswith(path)


def test_unknown_setting_lists_the_known_ones(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, {**BASE, "lisen": 1}))
    assert f"(known: {', '.join(sorted(KNOWN_KEYS))})" in str(info.value)


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping of settings at the top level"):
        load_config(write(tmp_path, "- listen\n"))


def test_invalid_yaml_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "listen: [\n"))


def test_a_value_yaml_cannot_read_is_reported_with_its_line(tmp_path):
    with pytest.raises(ConfigError, match=r"not valid YAML: cannot read a value: month must be in 1\.\.12"
                                          r"(.|\n)*line 2, column 10"):
        load_config(write(tmp_path, "listen: [127.0.0.1@5300]\nrun_dir: 2001-13-45\n"))


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(tmp_path / "nope.yaml")


def test_ipv6_listen_address_and_default_port(tmp_path):
    config = load_config(write(tmp_path, {**BASE, "listen": ["::1", "[::1]@5353"]}))
    assert [str(a) for a in config.listen] == ["::1@53", "::1@5353"]


def test_every_other_setting_is_read(tmp_path):
    config = load_config(write(tmp_path, {
        **BASE, "tcp_idle_timeout": 2, "tcp_max_connections": 9, "version": "v", "identity": "i",
        "minimal_responses": False, "metrics": "127.0.0.1@9153", "user": "nobody"}))
    assert (config.tcp_idle_timeout, config.tcp_max_connections) == (2.0, 9)
    assert (config.version, config.identity, config.minimal_responses) == ("v", "i", False)
    assert str(config.metrics) == "127.0.0.1@9153" and config.user == "nobody"


# -- backend: xdp ------------------------------------------------------------------------

def test_xdp_backend_defaults_to_every_queue_of_the_interface(tmp_path):
    config = load_config(write(tmp_path, {**BASE, "backend": "xdp", "xdp": {"interface": "lo"}}))
    assert config.backend == "xdp" and config.xdp.interface == "lo"
    assert config.xdp.queues is None  # auto: every queue the interface has when serving
    assert config.xdp.mode == "native" and not config.xdp.busy_poll


def test_xdp_interface_of_another_machine_passes_the_check(tmp_path):
    """The interface, its queues and the CPUs they need are checked by `serve`, not here."""
    config = load_config(write(tmp_path, {**BASE, "backend": "xdp", "cpus": [0, 999],
                                          "xdp": {"interface": "nosuch0", "queues": [7, 3],
                                                  "mode": "generic", "busy_poll": True}}))
    assert config.xdp.interface == "nosuch0" and config.xdp.queues == (7, 3)
    assert config.xdp.mode == "generic" and config.xdp.busy_poll and config.cpus == (0, 999)


@pytest.mark.parametrize("change, message", [
    ({"backend": "dpdk"}, "backend: expected udp or xdp"),
    ({"backend": "xdp"}, "xdp: expected a mapping"),
    ({"backend": "xdp", "xdp": {"mode": "native"}},
     "xdp.interface: no network interface named None"),
    ({"backend": "xdp", "xdp": {"interface": "lo", "queues": [-1]}}, "xdp.queues: expected 'auto'"),
    ({"backend": "xdp", "xdp": {"interface": "lo", "queues": [0, 0]}}, "xdp.queues"),
    ({"backend": "xdp", "xdp": {"interface": "lo", "queues": []}}, "xdp.queues"),
    ({"backend": "xdp", "xdp": {"interface": "lo", "mode": "fast"}}, "xdp.mode"),
    ({"backend": "xdp", "xdp": {"interface": "lo", "busy_poll": 1}}, "xdp.busy_poll"),
    ({"backend": "xdp", "xdp": {"interface": "lo", "qeues": [0]}}, "xdp.qeues: unknown setting"),
    ({"xdp": {"interface": "lo"}}, "xdp: set backend: xdp"),
    ({"xdp": None}, "xdp: set backend: xdp"),
    ({"backend": "xdp", "xdp": {"interface": "lo"}, "listen": ["127.0.0.1@53", "::1@54"]},
     "listen: with backend xdp every address must use the same port"),
])
def test_bad_xdp_settings_are_named(tmp_path, change, message):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, {**BASE, **change}))
    assert message in str(info.value)


SECRET = "9Ky6dmWXQ1qGJVPnF0MxdyVBuhTqT3rFt1RtmIakNzM="


@pytest.mark.parametrize("text", [
    f'key "k1" {{\n\talgorithm hmac-sha384;\n\tsecret "{SECRET}";\n}};\n',  # BIND's tsig-keygen
    f"# hmac-sha384:k1:{SECRET}\nkey:\n  - id: k1\n    algorithm: hmac-sha384\n    secret: {SECRET}\n",  # keymgr -t
])
def test_a_secondary_zone_takes_its_key_from_a_key_file_as_bind_or_knot_write_it(tmp_path, text):
    (tmp_path / "k1.key").write_text(text)
    zone = {"name": "example.com", "file": "e.zone", "primaries": ["198.18.0.10@53"], "tsig": "k1"}
    config = load_config(write(tmp_path, {**BASE, "tsig": [{"file": "k1.key"}], "zones": [zone]}))
    (loaded,) = config.zones
    assert loaded.tsig is not None and (loaded.tsig.name, loaded.tsig.algorithm, loaded.tsig.secret) \
        == ("k1", "hmac-sha384", SECRET)
    assert [str(p) for p in loaded.primaries] == ["198.18.0.10@53"] and loaded.secondary


@pytest.mark.parametrize("change, message", [
    ({"zones": [{"name": "example.com", "file": "e.zone", "primaries": ["198.18.0.10@53"], "tsig": "nope"}]},
     "zones[0].tsig: no key 'nope' under tsig:"),
    ({"zones": [{"name": "example.com", "file": "e.zone", "tsig": "k1"}],
      "tsig": [{"name": "k1", "secret": SECRET}]},
     "zones[0].tsig: a key is for the transfers of a secondary zone: set primaries too"),
    ({"tsig": [{"name": "k1", "secret": "not base64!"}]}, "tsig[0].secret: expected the secret in base64"),
    ({"tsig": [{"name": "k1", "algorithm": "hmac-md5", "secret": SECRET}]}, "tsig[0].algorithm: expected one of"),
    ({"tsig": [{"file": "missing.key"}]}, "tsig[0].file: "),
    ({"zones": [{"name": "example.com", "file": "e.zone", "primaries": ["nowhere"]}]},
     "zones[0].primaries: 'nowhere' is not an IPv4 or IPv6 address"),
])
def test_bad_transfer_settings_are_named(tmp_path, change, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(write(tmp_path, {**BASE, **change}))


def test_a_secondary_zone_s_timers_can_be_set_in_place_of_its_soa_s(tmp_path):
    from fastdns.transfer import Transfers

    zone = {"name": "example.com", "file": "e.zone", "primaries": ["198.18.0.10@53"], "refresh": 30, "expire": 600}
    (loaded,) = load_config(write(tmp_path, {**BASE, "zones": [zone]})).zones
    # the SOA rdata's last 20 bytes: serial, REFRESH, RETRY, EXPIRE, MINIMUM (RFC 1035 3.3.13)
    soa = b"".join(v.to_bytes(4, "big") for v in (7, 3600, 900, 604800, 300))

    async def never(*_):  # noqa: ANN001, ANN202 - nothing is reloaded here
        raise AssertionError

    secondary = Transfers((loaded,), lambda name: soa, never, never).zones["example.com"]
    assert (secondary.serial, secondary.refresh, secondary.retry, secondary.expire) == (7, 30, 900, 600)
    with pytest.raises(ConfigError, match=re.escape("zones[0].refresh: SOA timers are a secondary zone's")):
        load_config(write(tmp_path, {**BASE, "zones": [{"name": "example.com", "file": "e.zone", "refresh": 30}]}))
