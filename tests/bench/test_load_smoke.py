# SPDX-License-Identifier: MIT
"""`make bench-load` at a tiny scale: fastdns and Knot DNS load, serve and reload, and the
table comes out with every cell measured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOAD = ROOT / "deploy" / "bench" / "load.py"
sys.path.insert(0, str(LOAD.parent))

import topology  # noqa: E402


def _cannot_run() -> str | None:
    """Why the load benchmark cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root for its cpuset cgroups"
    missing = [tool for tool in ("knotd", "knotc", "nsd") if shutil.which(tool) is None]
    if missing:
        return f"{missing[0]} is not installed"
    try:
        topology._cgroup_root()
    except RuntimeError as e:
        return str(e)
    return None


def test_tiny_load_bench_prints_the_table(tmp_path: Path) -> None:
    reason = _cannot_run()
    if reason:
        pytest.skip(reason)
    out = tmp_path / "results" / "load"
    cmd = [sys.executable, str(LOAD), "--names", "200", "--zones", "20", "--servers", "fastdns,knot",
           "--timeout", "20", "--settle", "0.2", "--work", str(tmp_path / "work"), "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    assert "| size | server | load s | memory MiB | one-record change s | load ÷ Knot" in done.stdout
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert {(r["shape"], r["server"]) for r in rows} == {
        (shape, server) for shape in ("200 names", "20 zones") for server in ("fastdns", "knot")}
    for row in rows:
        assert row["status"] == "ok", row
        assert row["load_seconds"] > 0 and row["pss_bytes"] > 0 and row["change_seconds"] > 0, row
        assert row["reload_exit"] == 0, row
        assert row["ratios"]["load"] is not None, row
    assert all(r["all_zones_seconds"] for r in rows if r["shape"] == "20 zones")
    assert out.with_suffix(".md").read_text().count("| 20 zones |") == 2
