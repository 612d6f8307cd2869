# SPDX-License-Identifier: MIT
"""Reload under load: no query lost, none answered from a mix of two versions, and every
query sent after `fastdns reload` returned is answered from the new version."""

import json
import subprocess
import sys
import time
from pathlib import Path

LOADGEN = str(Path(__file__).with_name("loadgen.py"))
RELOADS = 5


def zone_version(k: int) -> str:
    return f"""$TTL 60
@ IN SOA ns1 hostmaster {k} 3600 900 604800 60
@ IN NS ns1
ns1 IN A 192.0.2.1
alias IN CNAME v{k}
v{k} IN A 198.51.100.{k}
"""


def test_reloads_under_load_lose_nothing_and_switch_at_once(serve, tmp_path):
    server = serve(zones={"example.com": zone_version(1)})
    zone_file = server.dir / "example.com.zone"
    outputs = [tmp_path / f"load{i}.json" for i in range(2)]
    stop = tmp_path / "stop"
    # the clients stop when told; 120 s is only a bound: on a loaded machine each `fastdns
    # reload` (a new Python process) can take seconds
    loads = [subprocess.Popen([sys.executable, LOADGEN, str(server.port), "120", "2000000", str(out),
                               str(stop)]) for out in outputs]
    returned_at = {}
    try:
        time.sleep(0.5)
        for k in range(2, 2 + RELOADS):
            zone_file.write_text(zone_version(k))
            result = server.cli("reload")
            returned_at[k] = time.monotonic()
            assert result.returncode == 0, result.stderr
            assert f"example.com: serial {k - 1} -> {k}" in result.stdout
            time.sleep(0.5)
    finally:
        stop.touch()
        for load in loads:
            load.wait(timeout=30)
    results = [json.loads(out.read_text()) for out in outputs]
    print(f"reload under load: {sum(r['sent'] for r in results)} queries, "
          f"{sum(r['lost'] for r in results)} lost, {sum(r['mixed'] for r in results)} mixed, "
          f"{RELOADS} reloads")
    for result in results:
        assert result["lost"] == 0, f"{result['lost']} of {result['sent']} queries lost"
        assert result["mixed"] == 0, f"{result['mixed']} replies mixed two zone versions"
        assert result["sent"] > 1000
        versions = [v for _, v in result["samples"]]
        assert versions == sorted(versions), "a client saw an older version after a newer one"
        assert set(versions) == set(range(1, 2 + RELOADS))
        for sent, version in result["samples"]:
            newest_published = max([k for k, t in returned_at.items() if t <= sent], default=1)
            assert version >= newest_published, (
                f"a query sent after reload {newest_published} returned got version {version}")
    stats = json.loads(server.cli("stats", "--json").stdout)
    assert stats["total"]["image_switches"] >= RELOADS  # each worker switched images
