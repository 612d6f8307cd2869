# SPDX-License-Identifier: MIT
"""Parse-only figures behind docs/zone-parser.md: dnspython (fastdns.zone.load_zone), ldns
(fastdns._zonefile.parse_zone) and libzscanner (zscanner_bench.c) on the benchmark's zone.

Each parse runs in its own process, so its peak RSS is its own; the C parsers' time is the
best of --runs, dnspython's a single run (minutes at 1 M names).
  .venv/bin/python native/bench/parse_bench.py --names 100000 1000000 --dnspython 100000
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "bench"))

import workload  # noqa: E402

ORIGIN = workload.ORIGIN
# Each prints "records seconds peak-RSS-KiB"; the clock covers the parse only. Peak RSS is
# VmHWM: getrusage's ru_maxrss would carry over the forking parent's peak through exec.
PY_TIMED = """
import re, sys, time
t = time.perf_counter()
{call}
t = time.perf_counter() - t
hwm = re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)
print(n, f"{{t:.3f}}", hwm)
"""
LDNS = ("from fastdns._zonefile import parse_zone; import dns.name\n"
        "n = parse_zone(sys.argv[1], dns.name.from_text(sys.argv[2]).to_wire()).count")
DNSPYTHON = ("from fastdns.zone import load_zone\n"
             "n = sum(len(r) for _, node in load_zone(sys.argv[2], sys.argv[1]).zone.items() for r in node)")


def run(argv: list[str]) -> tuple[int, float, int]:
    out = subprocess.run(argv, check=True, capture_output=True, text=True, cwd=ROOT).stdout.split()
    return int(out[0]), float(out[1]), int(out[2])


def zscanner_binary(workdir: Path) -> Path | None:
    """Built on demand: libzscanner (libknot-dev) is measured, never linked into fastdns."""
    binary = workdir / "zscanner_bench"
    if not binary.exists():
        if not Path("/usr/include/libzscanner/scanner.h").exists() or not shutil.which("cc"):
            return None
        subprocess.run(["cc", "-O2", str(HERE / "zscanner_bench.c"), "-lzscanner", "-o", str(binary)],
                       check=True)
    return binary


def measure(zone: Path, runs: int, dnspython: bool, zscanner: Path | None) -> dict[str, tuple]:
    py = [sys.executable, "-c"]
    results = {"ldns": min((run(py + [PY_TIMED.format(call=LDNS), str(zone), ORIGIN])
                            for _ in range(runs)), key=lambda r: r[1])}
    if zscanner:
        results["libzscanner"] = min((run([str(zscanner), str(zone), ORIGIN + "."])
                                      for _ in range(runs)), key=lambda r: r[1])
    if dnspython:
        results["dnspython"] = run(py + [PY_TIMED.format(call=DNSPYTHON), str(zone), ORIGIN])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--names", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dnspython", type=int, nargs="*", default=[100_000],
                        help="the sizes dnspython is run on (once each)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/fastdns-parse-bench"))
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    zscanner = zscanner_binary(args.workdir)
    print("| names | records | parser | seconds | records/s | peak RSS MiB |\n|--:|--:|---|--:|--:|--:|")
    for names in args.names:
        zone = args.workdir / f"bench-{names}.zone"
        if not zone.exists():
            workload.write_zone(zone, names)
        for parser_name, (count, seconds, rss) in measure(zone, args.runs, names in args.dnspython,
                                                           zscanner).items():
            print(f"| {names:,} | {count:,} | {parser_name} | {seconds:.3f} | {count / seconds:,.0f} "
                  f"| {rss / 1024:,.0f} |", flush=True)


if __name__ == "__main__":
    main()
