# SPDX-License-Identifier: MIT
"""Configuration: the bundled one is valid; bad values are named before anything starts."""

import os

import pytest
import yaml

from fastdns.config import DEFAULT_CONFIG, load_config
from fastdns.errors import ConfigError


def write(tmp_path, data) -> str:
    path = tmp_path / "fastdns.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return str(path)


BASE = {"listen": ["127.0.0.1@5300"], "zones": [{"name": "example.com", "file": "e.zone"}]}


def test_bundled_config_is_valid_and_unprivileged():
    config = load_config(DEFAULT_CONFIG)
    assert [str(a) for a in config.listen] == ["127.0.0.1@5300", "::1@5300"]
    assert all(a.port > 1024 for a in config.listen)
    assert config.cpus == tuple(sorted(os.sched_getaffinity(0)))
    assert config.udp_payload == 1232


def test_relative_paths_are_resolved_against_the_config(tmp_path):
    config = load_config(write(tmp_path, {**BASE, "run_dir": "run"}))
    assert config.zones[0].file == str(tmp_path / "e.zone")
    assert config.run_dir == str(tmp_path / "run")
    assert config.control_socket == str(tmp_path / "run" / "control.sock")


@pytest.mark.parametrize("change, message", [
    ({"lisen": ["127.0.0.1@53"]}, "lisen: unknown setting"),
    ({"listen": ["localhost@53"]}, "listen: 'localhost' is not an IPv4 or IPv6 address"),
    ({"listen": ["127.0.0.1@99999"]}, "listen: '99999' is not a port number"),
    ({"listen": ["127.0.0.1@53", "127.0.0.1@53"]}, "listed twice"),
    ({"workers": 0}, "workers: expected 'auto' or a positive number"),
    ({"workers": 1000}, "only"),
    ({"cpus": [999]}, "CPU 999 is not available"),
    ({"udp_payload": 100}, "udp_payload: expected a number of bytes from 512 to 4096"),
    ({"zones": []}, "zones: expected a list of zones"),
    ({"zones": [{"name": "example.com"}]}, "zones[0].file"),
    ({"zones": [{"name": "example.com", "file": "a", "typo": 1}]}, "zones[0].typo: unknown"),
    ({"zones": [{"name": "a..b", "file": "a"}]}, "zones[0].name"),
])
def test_bad_settings_are_named(tmp_path, change, message):
    path = write(tmp_path, {**BASE, **change})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(info.value).startswith(path)


def test_invalid_yaml_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "listen: [\n"))


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="cannot read configuration"):
        load_config(tmp_path / "nope.yaml")


def test_ipv6_listen_address_and_default_port(tmp_path):
    config = load_config(write(tmp_path, {**BASE, "listen": ["::1", "[::1]@5353"]}))
    assert [str(a) for a in config.listen] == ["::1@53", "::1@5353"]


# -- backend: xdp ------------------------------------------------------------------------

def test_xdp_backend_defaults_to_every_queue_of_the_interface(tmp_path):
    config = load_config(write(tmp_path, {**BASE, "backend": "xdp", "xdp": {"interface": "lo"}}))
    assert config.backend == "xdp" and config.xdp.interface == "lo"
    assert config.xdp.queues == (0,) and config.xdp.mode == "native" and not config.xdp.busy_poll
    assert len(config.cpus) == 1  # one worker per queue
    assert config.xdp.mtu > 0


@pytest.mark.parametrize("change, message", [
    ({"backend": "dpdk"}, "backend: expected udp or xdp"),
    ({"backend": "xdp"}, "xdp: expected a mapping"),
    ({"backend": "xdp", "xdp": {"interface": "nosuch0"}}, "xdp.interface: no network interface"),
    ({"backend": "xdp", "xdp": {"interface": "lo", "queues": [5]}}, "xdp.queues"),
    ({"backend": "xdp", "xdp": {"interface": "lo", "mode": "fast"}}, "xdp.mode"),
    ({"backend": "xdp", "xdp": {"interface": "lo", "qeues": [0]}}, "xdp.qeues: unknown setting"),
    ({"xdp": {"interface": "lo"}}, "xdp: set backend: xdp"),
    ({"backend": "xdp", "xdp": {"interface": "lo"}, "listen": ["127.0.0.1@53", "::1@54"]},
     "same port"),
])
def test_bad_xdp_settings_are_named(tmp_path, change, message):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, {**BASE, **change}))
    assert message in str(info.value)
