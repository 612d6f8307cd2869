# SPDX-License-Identifier: MIT
"""`make bench` at a tiny scale: it builds its bench, measures, and writes a sane table and JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "deploy" / "bench" / "bench.py"
sys.path.insert(0, str(BENCH.parent))

import workload  # noqa: E402


def _cannot_run() -> str | None:
    """Why the bench cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root for network namespaces and cgroups"
    for tool in ("ip", "ethtool", "dnsperf"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if len(os.sched_getaffinity(0)) < 2:
        return "needs two CPUs: one for the servers, one for dnsperf"
    probe = "fdbench-probe"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=10)
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10)
    if made.returncode != 0:
        return f"network namespaces are unavailable: {made.stderr.strip()}"
    if not Path("/sys/fs/cgroup/cpuset/cpuset.cpus").exists() and "cpuset" not in (
            Path("/sys/fs/cgroup/cgroup.controllers").read_text()
            if Path("/sys/fs/cgroup/cgroup.controllers").exists() else ""):
        return "no cpuset cgroup controller"
    return None


def test_workload_has_the_stated_mix(tmp_path):
    work = workload.generate(tmp_path, names=3000, queries=4000)
    zone = work.zone_file.read_text()
    assert "*.wild IN A" in zone and " IN CNAME " in zone and " IN NS ns1." in zone
    lines = work.query_file.read_text().splitlines()
    assert len(lines) == 4000
    lower = [line.lower() for line in lines]
    share = lambda test: sum(map(test, lower)) / len(lower)  # noqa: E731
    assert 0.07 < share(lambda q: q.startswith("nx")) < 0.13           # NXDOMAIN
    assert 0.03 < share(lambda q: ".wild." in q) < 0.07                 # wildcard
    mixed_case = sum(q.split()[0] != q.split()[0].lower() for q in lines) / len(lines)
    assert 0.2 < mixed_case < 0.3                                       # random letter case


def test_tiny_bench_writes_a_sane_table_and_json(tmp_path):
    reason = _cannot_run()
    if reason:
        pytest.skip(reason)
    out = tmp_path / "results"
    cmd = [sys.executable, str(BENCH), "--servers", "fastdns,knot,nsd", "--names", "300",
           "--queries", "2000", "--rounds", "1", "--duration", "2", "--warmup", "0",
           "--p99-duration", "0.5", "--callgrind-queries", "0", "--perf-seconds", "0",
           "--steal-retries", "0", "--signed-names", "300",
           "--work", str(tmp_path / "work"), "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=150, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    result = json.loads((out / "bench.json").read_text())
    rows = {row["name"]: row for row in result["servers"]}
    assert "fastdns" in rows, result["skipped"]
    for name, row in rows.items():
        assert row["qps"] > 0, name
        assert 0 <= row["loss_percent"] < 100, name
        assert row["cpu_us_per_query"] > 0, name
        assert row["pinning"] == "yes", name
    assert all(run["completed"] > 0 for run in result["runs"])
    assert rows["fastdns"]["zone_bytes"] > 0 and rows["fastdns"]["load_seconds"] > 0

    signed = {row["name"]: row for row in result["signed"]["rows"]}
    assert signed["fastdns"]["cpu_us_per_query"] > 0 and signed["fastdns"]["cpu_vs_unsigned"] > 0
    assert all(run["completed"] > 0 and "NXDOMAIN" in run["rcodes"] for run in result["signed"]["runs"])

    table = (out / "bench.md").read_text()
    assert "| server | qps | loss %" in table and "fastdns (kernel UDP)" in table
    assert "Signed zone (NSEC3)" in table
    # Nothing is left behind: namespace, links, cgroups.
    assert "fdbench" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert not Path("/sys/class/net/fb0").exists()
    assert not Path("/sys/fs/cgroup/cpuset/fastdns-bench").exists()
