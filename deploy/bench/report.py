# SPDX-License-Identifier: MIT
"""Results as a Markdown table, JSON and a PNG chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _num(value: float | None, digits: int = 1, scale: float = 1.0) -> str:
    return "—" if value is None else f"{value * scale:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _size(value: int | None) -> str:
    return "—" if value is None else f"{value / 1048576:,.1f} MiB"


def _signed_table(signed: dict[str, Any] | None) -> list[str]:
    """The signed run: CPU per answer beside Knot DNS's, and beside the server's own unsigned."""
    if not signed:
        return []
    lines = ["", f"Signed zone (NSEC3): {signed['workload']}; same servers, CPUs and dnsperf settings "
             "(with `-D`).", "",
             "| server | qps | loss % | CPU µs/query | +rx µs/query | total µs/query | CPU ÷ Knot signed "
             "| total ÷ Knot signed | CPU ÷ own unsigned | total ÷ own unsigned | load time s | memory (PSS) |",
             "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for row in signed["rows"]:
        lines.append(
            f"| {row['label']} | {_num(row['qps'], 0)} | {_num(row['loss_percent'], 2)} "
            f"| {_num(row['cpu_us_per_query'], 2)} | {_num(row['rx_us_per_query'], 2)} "
            f"| {_num(row['total_us_per_query'], 2)} | {_ratio(row['cpu_vs_knot'])} "
            f"| {_ratio(row['total_cpu_vs_knot'])} | {_ratio(row.get('cpu_vs_unsigned'))} "
            f"| {_ratio(row.get('total_cpu_vs_unsigned'))} | {_num(row['load_seconds'], 1)} "
            f"| {_size(row['pss_bytes'])} |")
    return lines


def markdown(result: dict[str, Any]) -> str:
    """The tables as README shows them."""
    s, m = result["settings"], result["machine"]
    p99_label = f"p99 ms @{s['p99_rate'] // 1000}k qps"
    lines = [
        f"Measured {result['finished']} on {m['description']}; fastdns {m['fastdns_commit']}, "
        f"{m['knotd'].replace('knotd (Knot DNS), version', 'Knot DNS')}, {m['nsd'].replace(' version', '')}, "
        f"{m['dnsperf'].replace(' Version', '')}. Command: `{result['command']}` (as root), "
        f"{result['elapsed_seconds']:.0f} s.",
        "",
        f"Workload: {result['workload']}. Each server pinned to CPU {s['server_cpus']}, dnsperf "
        f"to CPU {s['generator_cpus']} (`{s['dnsperf_options']}`); {s['rounds']} interleaved "
        f"rounds of {s['duration']:g} s, medians shown.",
        "",
        f"| server | qps | loss % | latency avg ms | {p99_label} | CPU µs/query | +rx µs/query "
        "| total µs/query | qps ÷ Knot | CPU ÷ Knot | total ÷ Knot | instructions/query |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for row in result["servers"]:
        lines.append(
            f"| {row['label']} | {_num(row['qps'], 0)} | {_num(row['loss_percent'], 2)} "
            f"| {_num(row['latency_avg_ms'], 3)} | {_num(row['p99_ms'], 3)} "
            f"| {_num(row['cpu_us_per_query'], 2)} | {_num(row['rx_us_per_query'], 2)} "
            f"| {_num(row['total_us_per_query'], 2)} | {_ratio(row['qps_vs_knot'])} "
            f"| {_ratio(row['cpu_vs_knot'])} "
            f"| {_ratio(row['total_cpu_vs_knot'])} | {_num(row['instructions_per_query'], 0)} |")
    lines += ["", "| server | CPU µs/query: user + kernel | CPU, total ÷ peer (Knot on the same path; "
              "for RRL rows the same server without it) "
              "| load time s | zone in memory | memory (PSS) "
              "| packets/batch | CPUs busy server/dnsperf % | threads on server CPUs only |",
              "|---|--:|--:|--:|--:|--:|--:|--:|---|"]
    for row in result["servers"]:
        kernel = (row["cpu_us_per_query"] - row["user_us_per_query"]
                  if row["cpu_us_per_query"] is not None and row["user_us_per_query"] is not None else None)
        peer = (f"{_ratio(row.get('cpu_vs_peer'))}, {_ratio(row.get('total_cpu_vs_peer'))} "
                f"({row['peer']})" if row.get("peer") and row.get("cpu_vs_peer") is not None else "—")
        lines.append(f"| {row['label']} | {_num(row['user_us_per_query'], 2)} + {_num(kernel, 2)} "
                     f"| {peer} | {_num(row['load_seconds'], 2)} | {_size(row['zone_bytes'])} "
                     f"| {_size(row['pss_bytes'])} | {_num(row['packets_per_batch'], 1)} "
                     f"| {_num(row['server_cpu_busy'], 0)} / {_num(row['generator_cpu_busy'], 0)} "
                     f"| {row['pinning']} |")
    for name, reason in result["skipped"].items():
        lines.append(f"\n_{name}: not measured: {reason}_")
    lines += _signed_table(result.get("signed"))
    lines += ["", _notes(result)]
    for row in result["servers"]:
        if row.get("perf_top"):
            lines += ["", f"{row['label']}: where the server CPU goes under load (perf, "
                      f"{result['settings']['perf_seconds']:g} s, % of busy samples, kernel included):", "",
                      "| thread: symbol | % |", "|---|--:|"]
            lines += [f"| `{name}` | {share:.1f} |" for name, share in row["perf_top"][:12]]
    profile = result.get("callgrind", {}).get("fastdns", {})
    if profile.get("top_functions"):
        lines += ["", "fastdns worker under callgrind, instructions per query (loaded − idle), "
                  "by function (the loop inlines everything into two):", "",
                  "| function | instructions/query |", "|---|--:|"]
        lines += [f"| `{name}` | {value:,.1f} |" for name, value in profile["top_functions"][:8]]
    if profile.get("top_lines"):
        lines += ["", "and by Cython source line:", "", "| line | instructions/query |", "|---|--:|"]
        lines += [f"| `{name}` | {value:,.1f} |" for name, value in profile["top_lines"]]
    return "\n".join(lines) + "\n"


def _notes(result: dict[str, Any]) -> str:
    s = result["settings"]
    p99 = (f"p99 from a separate {s['p99_duration']:g} s run at {s['p99_rate']:,} qps (`dnsperf -v`)"
           if s["p99_duration"] > 0 else "p99 not measured")
    instructions = (f"user space, callgrind, {s['callgrind_queries']:,} queries minus an idle run, "
                    f"on a {s['callgrind_names']:,}-name zone of the same shape"
                    if s["callgrind_queries"] > 0 else "not measured")
    return (
        "CPU µs/query: utime+stime of all the server's processes over a run ÷ responses. "
        "+rx: the server-side veth NAPI thread (the kernel receive path, and the XDP program "
        "for the XDP entries) ÷ responses; total = both. "
        f"Latency avg at full load; {p99}. Instructions/query: {instructions}. "
        "Load time: start to first answer (fastdns: load and compile). Zone in memory: "
        "fastdns's compiled image, Knot's own zone-size log line. Packets/batch: fastdns's "
        "counters, packets received ÷ receive batches.")


def write(result: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js, png = out_dir / "bench.md", out_dir / "bench.json", out_dir / "bench.png"
    md.write_text(markdown(result))
    js.write_text(json.dumps(result, indent=2) + "\n")
    written = [md, js]
    if chart(result, png):
        written.append(png)
    return written


def chart(result: dict[str, Any], path: Path) -> bool:
    """qps and CPU per query (server + rx) per server; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    rows = [r for r in result["servers"] if r["qps"] is not None]
    names = [r["name"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.bar(names, [r["qps"] / 1000 for r in rows], color="#4878a8")
    left.set_title("queries per second (thousands)")
    cpu = [r["cpu_us_per_query"] or 0 for r in rows]
    rx = [r["rx_us_per_query"] or 0 for r in rows]
    right.bar(names, cpu, label="server processes", color="#d08040")
    right.bar(names, rx, bottom=cpu, label="+rx (NAPI thread)", color="#e8c080")
    right.set_title("CPU µs per answered query (lower is better)")
    right.legend()
    for axis in (left, right):
        axis.tick_params(axis="x", labelrotation=20)
    fig.suptitle(f"{result['machine']['description']} — {result['workload_short']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
