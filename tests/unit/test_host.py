# SPDX-License-Identifier: MIT
"""Placement: the file's wishes checked against a machine's facts (CPUs, interfaces), with
hand-made facts so every case runs anywhere, and one look at this machine."""

import os

import pytest
import yaml

from fastdns.config import load_config
from fastdns.errors import ConfigError
from fastdns.host import Host, Interface, Placement, place

BASE = {"listen": ["127.0.0.1@5300"], "zones": [{"name": "example.com", "file": "e.zone"}]}
FOUR = Host((0, 1, 2, 3), {"eth1": Interface(rx_queues=2, mtu=1500), "lo": Interface(1, 65536)})


def config_of(tmp_path, **change):
    path = tmp_path / "fastdns.yaml"
    path.write_text(yaml.safe_dump({**BASE, **change}))
    return load_config(path)


def xdp_config(tmp_path, cpus=None, **xdp):
    extra = {"cpus": cpus} if cpus is not None else {}
    return config_of(tmp_path, backend="xdp", xdp={"interface": "eth1", **xdp}, **extra)


@pytest.mark.parametrize("change, cpus", [
    ({}, (0, 1, 2, 3)),                      # auto: every CPU we may run on
    ({"workers": 2}, (0, 1)),                # the first N
    ({"cpus": [3, 1]}, (3, 1)),              # as listed, in slot order
    ({"cpus": [2], "workers": 1}, (2,)),
])
def test_udp_workers_go_one_per_cpu(tmp_path, change, cpus):
    assert place(config_of(tmp_path, **change), FOUR) == Placement(cpus, None, None)


def test_xdp_workers_go_one_per_queue(tmp_path):
    assert place(xdp_config(tmp_path), FOUR) == Placement((0, 1), (0, 1), 1500)
    assert place(xdp_config(tmp_path, queues=[1]), FOUR) == Placement((0,), (1,), 1500)
    assert place(xdp_config(tmp_path, cpus=[3, 2, 1]), FOUR) == Placement((3, 2), (0, 1), 1500)


@pytest.mark.parametrize("make, message", [
    (lambda p: config_of(p, workers=5), "workers: 5 workers but only 4 CPUs: one worker per CPU"),
    (lambda p: config_of(p, cpus=[1, 999]),
     "cpus: CPU 999 is not available (allowed: [0, 1, 2, 3])"),
    (lambda p: config_of(p, backend="xdp", xdp={"interface": "nosuch0"}),
     "xdp.interface: no network interface named 'nosuch0'"),
    (lambda p: xdp_config(p, queues=[2]),
     "xdp.queues: expected 'auto' or distinct queue numbers below 2"),
    (lambda p: xdp_config(p, cpus=[0]),
     "cpus: 2 queues on eth1 need as many CPUs, only 1 available: list fewer xdp.queues"),
    (lambda p: xdp_config(p, cpus=[7]), "cpus: CPU 7 is not available"),
])
def test_what_the_host_lacks_is_named(tmp_path, make, message):
    config = make(tmp_path)  # the file itself is fine: `fastdns check` accepts it
    with pytest.raises(ConfigError) as info:
        place(config, FOUR)
    assert str(info.value).startswith(f"{config.path}: {message}")


def test_an_interface_without_queues_is_refused(tmp_path):
    host = Host((0,), {"eth1": Interface(rx_queues=0, mtu=1500)})
    with pytest.raises(ConfigError) as info:
        place(xdp_config(tmp_path), host)
    assert "xdp.queues: expected 'auto' or distinct queue numbers below 0" in str(info.value)


def test_facts_are_read_from_sysfs(tmp_path):
    for name, queues, mtu in (("eth1", 3, "9000\n"), ("lo", 1, "65536\n")):
        for q in range(queues):
            (tmp_path / name / "queues" / f"rx-{q}").mkdir(parents=True)
            (tmp_path / name / "queues" / f"tx-{q}").mkdir(parents=True)
        (tmp_path / name / "mtu").write_text(mtu)
    (tmp_path / "bonding_masters").write_text("\n")  # a file, not an interface
    host = Host.from_machine(tmp_path)
    assert host.interfaces == {"eth1": Interface(3, 9000), "lo": Interface(1, 65536)}
    assert host.allowed_cpus == tuple(sorted(os.sched_getaffinity(0)))


def test_this_machine(tmp_path):
    host = Host.from_machine()
    assert host.allowed_cpus == tuple(sorted(os.sched_getaffinity(0)))
    assert host.interfaces["lo"].mtu > 0 and host.interfaces["lo"].rx_queues >= 1
    placement = place(config_of(tmp_path, backend="xdp", xdp={"interface": "lo"}))
    assert placement.queues == tuple(range(host.interfaces["lo"].rx_queues))
    assert len(placement.cpus) == min(len(placement.queues), len(host.allowed_cpus))
    assert placement.mtu == host.interfaces["lo"].mtu
