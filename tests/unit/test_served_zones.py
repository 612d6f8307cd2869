# SPDX-License-Identifier: MIT
"""Loading the configured zones at start-up: on several threads, reported in order."""

import pytest

from fastdns.config import ZoneConfig
from fastdns.errors import FastDNSError
from fastdns.progress import LoadProgress
from fastdns.reload import ServedZones

ZONE = """$TTL 300
@ IN SOA ns1 hostmaster 1 3600 900 604800 60
@ IN NS ns1
ns1 IN A 192.0.2.1
www IN A 192.0.2.80
"""


def configured(tmp_path, count: int, broken: set[int]) -> tuple[ZoneConfig, ...]:
    zones = []
    for i in range(count):
        path = tmp_path / f"z{i}.test.zone"
        path.write_text(ZONE + ("bad IN A 192.0.2.300\n" if i in broken else ""))
        zones.append(ZoneConfig(name=f"z{i}.test", file=str(path)))
    return tuple(zones)


@pytest.mark.parametrize("count", [40, 150])  # one load task, and several (reload.LOAD_BATCH)
def test_every_zone_is_loaded_and_counted(tmp_path, count):
    progress = LoadProgress()
    zones = ServedZones(configured(tmp_path, count, set()), "fastdns.yaml").load_all(progress)
    assert list(zones) == [f"z{i}.test" for i in range(count)]
    assert progress.records == count * 4 and all(z.record_count == 4 for z in zones.values())


def test_every_broken_zone_is_named_in_the_configured_order(tmp_path):
    with pytest.raises(FastDNSError) as info:
        ServedZones(configured(tmp_path, 150, {131, 7}), "fastdns.yaml").load_all(LoadProgress())
    lines = str(info.value).splitlines()
    assert len(lines) == 2 and "z7.test.zone:6:" in lines[0] and "z131.test.zone:6:" in lines[1]
