# SPDX-License-Identifier: MIT
"""What one run measures: dnsperf's report, CPU time of processes and threads, steal, memory."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int], user_only: bool = False) -> float:
    """utime + stime of these processes (all their threads, live or exited), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited: its time is lost, which a run notices as a missing server
        total += int(fields[11]) + (0 if user_only else int(fields[12]))  # utime, stime: fields 14, 15
    return total / CLOCK_TICKS


def user_seconds(pids: list[int]) -> float:
    """utime only: the server's own code, without the system calls it makes."""
    return cpu_seconds(pids, user_only=True)


def cpu_ticks() -> dict[int, tuple[int, int, int]]:
    """Per CPU: (all ticks, steal ticks, idle+iowait ticks) from /proc/stat."""
    ticks = {}
    for line in Path("/proc/stat").read_text().splitlines():
        m = re.match(r"cpu(\d+) (.*)", line)
        if m:
            v = [int(x) for x in m.group(2).split()]
            ticks[int(m.group(1))] = (sum(v[:8]), v[7], v[3] + v[4])  # steal is the 8th field
    return ticks


def busy_percent(before: dict[int, tuple[int, int, int]], after: dict[int, tuple[int, int, int]],
                 cpus: set[int]) -> float:
    """How busy `cpus` were between two reads (100 = every one of them all the time)."""
    total = sum(after[c][0] - before[c][0] for c in cpus)
    idle = sum(after[c][2] - before[c][2] for c in cpus)
    return 100.0 * (total - idle) / total if total > 0 else 0.0


def foreign_percent(before: dict[int, tuple[int, int, int]], after: dict[int, tuple[int, int, int]],
                    cpus: set[int], accounted_seconds: float) -> float:
    """Busy time on `cpus` that the measured tasks do not account for, in % of their capacity:
    another program (or an unattributed kernel path) competing with the server."""
    total = sum(after[c][0] - before[c][0] for c in cpus)
    idle = sum(after[c][2] - before[c][2] for c in cpus)
    if total <= 0:
        return 0.0
    return max(0.0, 100.0 * ((total - idle) / CLOCK_TICKS - accounted_seconds) / (total / CLOCK_TICKS))


def steal_percent(before: dict[int, tuple[int, int, int]], after: dict[int, tuple[int, int, int]],
                  cpus: set[int]) -> float:
    """The largest share of time stolen by the hypervisor on any of `cpus` between two reads."""
    worst = 0.0
    for cpu in cpus:
        total = after[cpu][0] - before[cpu][0]
        if total > 0:
            worst = max(worst, 100.0 * (after[cpu][1] - before[cpu][1]) / total)
    return worst


def pss_bytes(pids: list[int]) -> int:
    """Proportional set size of these processes: resident memory, shared pages split fairly."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            continue
    return total


def processes(pids: list[int]) -> list[dict[str, object]]:
    """Each process: pid, command name, threads, PSS bytes (where the memory goes)."""
    out = []
    for pid in pids:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            threads = len(list(Path(f"/proc/{pid}/task").iterdir()))
        except OSError:
            continue
        out.append({"pid": pid, "comm": comm, "threads": threads, "pss_bytes": pss_bytes([pid])})
    return out


@dataclass
class DnsperfResult:
    sent: int
    completed: int
    lost: int
    qps: float
    seconds: float
    latency_avg_ms: float
    latency_max_ms: float
    rcodes: str

    @property
    def loss_percent(self) -> float:
        return 100.0 * self.lost / self.sent if self.sent else 100.0


def _field(text: str, label: str) -> str:
    m = re.search(rf"^\s*{re.escape(label)}:\s*(.*)$", text, re.M)
    if not m:
        raise ValueError(f"dnsperf output has no '{label}':\n{text[-2000:]}")
    return m.group(1).strip()


def parse_dnsperf(text: str) -> DnsperfResult:
    latency = re.match(r"([\d.]+) \(min [\d.]+, max ([\d.]+)\)", _field(text, "Average Latency (s)"))
    if not latency:
        raise ValueError(f"cannot read dnsperf's latency line:\n{text[-2000:]}")
    rcodes = re.search(r"^\s*Response codes:\s*(.*)$", text, re.M)
    return DnsperfResult(
        sent=int(_field(text, "Queries sent")),
        completed=int(_field(text, "Queries completed").split()[0]),
        lost=int(_field(text, "Queries lost").split()[0]),
        qps=float(_field(text, "Queries per second")),
        seconds=float(_field(text, "Run time (s)")),
        latency_avg_ms=float(latency.group(1)) * 1000,
        latency_max_ms=float(latency.group(2)) * 1000,
        rcodes=rcodes.group(1).strip() if rcodes else "",
    )


def verbose_latencies(text: str) -> list[float]:
    """Per-query latencies in ms from `dnsperf -v` lines like '> NOERROR name A 0.000123'."""
    return [float(line.rsplit(" ", 1)[1]) * 1000 for line in text.splitlines()
            if line.startswith("> ") and line.count(" ") >= 4]


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100.0 * len(ordered)))]


def dnsperf_command(server: str, port: int, query_file: Path, seconds: float, *,
                    clients: int, outstanding: int, timeout_s: float, max_qps: int | None = None,
                    runs: int | None = None, verbose: bool = False, dnssec_ok: bool = False) -> list[str]:
    """dnsperf with EDNS, one thread; `clients` sockets and `outstanding` queries in flight;
    dnssec_ok: every query with DO=1."""
    cmd = ["dnsperf", "-s", server, "-p", str(port), "-d", str(query_file), "-e",
           "-T", "1", "-c", str(clients), "-q", str(outstanding), "-t", f"{timeout_s:g}",
           "-l", f"{seconds:g}"]
    if max_qps:
        cmd += ["-Q", str(max_qps)]
    if runs:
        cmd += ["-n", str(runs)]
    if verbose:
        cmd += ["-v"]
    if dnssec_ok:
        cmd += ["-D"]
    return cmd


def run_bounded(cmd: list[str], timeout: float) -> str:
    """Run a command to completion within `timeout` seconds; its stdout."""
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:12])}... exited {done.returncode}: {done.stderr[-1500:]}")
    return done.stdout
