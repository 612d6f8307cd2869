# SPDX-License-Identifier: MIT
"""Where the server's CPU goes, kernel included: `perf record` on the server CPUs under load."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

IDLE_SYMBOLS = ("pv_native_safe_halt", "default_idle", "cpuidle", "intel_idle", "acpi_idle",
                "poll_idle", "native_safe_halt")


def available() -> bool:
    return shutil.which("perf") is not None


def record(cpus: set[int], out: Path, load: Callable[[], object], seconds: float) -> None:
    """Sample the CPUs (timer-based, so it works without a PMU in a VM) while `load` runs."""
    cmd = ["perf", "record", "-q", "-o", str(out), "-F", "999", "-C", ",".join(map(str, sorted(cpus))),
           "--", "sleep", f"{seconds + 1:g}"]
    perf = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        load()
    finally:
        try:
            perf.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            perf.kill()
            perf.wait()


def top(data: Path, count: int = 20) -> list[tuple[str, float]]:
    """Busy samples by thread and symbol, in % of the busy samples (idle left out)."""
    text = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children",
                           "--sort", "comm,sym", "--percent-limit", "0.2"],
                          capture_output=True, text=True, timeout=120).stdout
    rows, idle = [], 0.0
    for line in text.splitlines():
        m = re.match(r"^\s*([\d.]+)%\s+(\S+)\s+\[[k.]\]\s+(.+?)\s*$", line)
        if not m:
            continue
        if any(symbol in m.group(3) for symbol in IDLE_SYMBOLS):
            idle += float(m.group(1))
        else:
            rows.append((f"{m.group(2)}: {m.group(3)}", float(m.group(1))))
    busy = max(100.0 - idle, 1e-9)
    return [(name, 100.0 * share / busy) for name, share in rows[:count]]
