# SPDX-License-Identifier: MIT
"""fastdns and its peers side by side under dnsperf, on a namespace + veth bench: `make bench`."""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import callgrind  # noqa: E402
import measure  # noqa: E402
import perfprofile  # noqa: E402
import report  # noqa: E402
import topology  # noqa: E402
import workload  # noqa: E402
from servers import REGISTRY, REPO, Context, Running  # noqa: E402
from topology import NETNS, Cgroup, Link  # noqa: E402

BASELINE = "knot"  #: ratios are to Knot DNS with kernel UDP workers
#: and, for the AF_XDP entries, also to Knot DNS's XDP mode: the same path through the kernel
SAME_PATH_PEER = {"fastdns": "knot", "fastdns-xdp": "knot-xdp", "nsd": "knot",
                  # the rows with rate limiting on: beside the same server without it
                  "fastdns-rrl": "fastdns", "knot-rrl": "knot"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--servers", default=",".join(REGISTRY),
                   help=f"comma-separated, from: {', '.join(REGISTRY)} (default: all available)")
    p.add_argument("--names", type=int, default=100_000, help="names in the generated zone")
    p.add_argument("--queries", type=int, default=100_000, help="lines in the dnsperf query file")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=float, default=10.0, help="seconds of dnsperf per run")
    p.add_argument("--warmup", type=float, default=1.0, help="seconds of unrecorded load per server")
    p.add_argument("--server-cpus", default="0", help="CPUs every server is confined to")
    p.add_argument("--generator-cpus", default="1", help="CPUs dnsperf is confined to")
    p.add_argument("--clients", type=int, default=4, help="dnsperf -c")
    p.add_argument("--outstanding", type=int, default=100, help="dnsperf -q")
    p.add_argument("--timeout", type=float, default=1.0, help="dnsperf -t, seconds")
    p.add_argument("--steal-max", type=float, default=5.0, help="repeat a run whose steal %% exceeds this")
    p.add_argument("--foreign-max", type=float, default=10.0,
                   help="repeat a run when more than this %% of the server CPUs went to other tasks")
    p.add_argument("--steal-retries", type=int, default=2, help="repeats of a disturbed run")
    p.add_argument("--retry-until", type=float, default=360.0,
                   help="seconds into the benchmark after which disturbed runs are no longer repeated"
                        " (keeps a full run within its time bound)")
    p.add_argument("--p99-rate", type=int, default=20_000, help="qps of the latency-percentile run")
    p.add_argument("--p99-duration", type=float, default=2.0, help="seconds; 0 skips it")
    p.add_argument("--perf-servers", default="fastdns,knot",
                   help="servers profiled with perf (kernel included) during an extra run; '' skips")
    p.add_argument("--perf-seconds", type=float, default=5.0)
    p.add_argument("--callgrind-servers", default="fastdns,fastdns-rrl,knot,nsd")
    p.add_argument("--callgrind-queries", type=int, default=10_000, help="0 skips callgrind")
    p.add_argument("--callgrind-names", type=int, default=10_000)
    p.add_argument("--callgrind-rate", type=int, default=0,
                   help="qps limit under callgrind (default 0: none, dnsperf's -q bounds what is in flight,"
                        " so the server batches as it does under load)")
    p.add_argument("--start-timeout", type=float, default=300.0, help="seconds for a server to answer")
    p.add_argument("--signed-names", type=int, default=100_000,
                   help="names in the NSEC3-signed zone of the signed run (0 skips it)")
    p.add_argument("--signed-servers", default="fastdns,knot,nsd", help="servers of the signed run")
    p.add_argument("--signed-start-timeout", type=float, default=900.0,
                   help="seconds for a server to answer the signed zone (fastdns compiles a signed "
                        "zone with its Python compiler)")
    p.add_argument("--port", type=int, default=5300)
    p.add_argument("--work", type=Path, default=Path("/tmp/fastdns-bench"), help="scratch directory")
    p.add_argument("--out", type=Path, default=REPO / "deploy" / "bench" / "results")
    return p.parse_args(argv)


def cpu_set(text: str) -> set[int]:
    return {int(c) for c in text.split(",") if c.strip()}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


@dataclass
class RunRecord:
    server: str
    round: int
    attempts: int
    steal_percent: float
    foreign_percent: float  #: % of the servers' CPUs busy with something other than the server
    server_cpu_busy: float  #: % of the servers' CPUs busy (anything) during the run
    generator_cpu_busy: float  #: % of dnsperf's CPUs busy
    qps: float
    sent: int
    completed: int
    lost: int
    loss_percent: float
    latency_avg_ms: float
    latency_max_ms: float
    cpu_seconds: float
    rx_seconds: float
    cpu_us_per_query: float | None
    user_us_per_query: float | None  #: the user-space part of cpu_us_per_query
    rx_us_per_query: float | None
    rcodes: str
    server_counters: dict[str, int] | None
    stray_threads: list[str]


class Bench:
    """One benchmark run: owns the namespace, links, cgroups and servers until close()."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.server_cpus, self.gen_cpus = cpu_set(args.server_cpus), cpu_set(args.generator_cpus)
        if not self.server_cpus or not self.gen_cpus or self.server_cpus & self.gen_cpus:
            raise SystemExit("bench: --server-cpus and --generator-cpus must be disjoint and non-empty")
        self.running: dict[str, Running] = {}
        self.links: dict[str, Link] = {}
        self.skipped: dict[str, str] = {}
        self.loadgen: Cgroup | None = None
        self.callgrind_link = ""  #: the link the callgrind runs borrow (theirs are all stopped)
        self.dnssec_ok = False  #: the signed run's queries have DO=1
        self.started = time.monotonic()

    # -- set-up ------------------------------------------------------------------------------

    def setup(self, names: list[str]) -> None:
        topology.cleanup_all()  # a previous run that crashed
        topology.create_namespace()
        self.loadgen = Cgroup("loadgen", self.gen_cpus)
        for index, name in enumerate(names):
            link = Link(index, queues=len(self.server_cpus))
            topology.create_link(link, self.server_cpus, self.gen_cpus)
            self.links[name] = link

    def context(self, name: str, zone: Path, directory: Path, wrapper: list[str] | None = None,
                link_of: str | None = None) -> Context:
        return Context(name=name, work=directory, link=self.links[link_of or name], port=self.args.port,
                       zone_file=zone, origin=workload.ORIGIN, cpus=set(self.server_cpus),
                       wrapper=wrapper or [])

    def start(self, name: str, zone: Path, work: str = "") -> None:
        """Start a server alone on its CPUs; a failure skips it with the reason."""
        log(f"starting {name}")
        server = None
        try:
            server = Running(REGISTRY[name], self.context(name, zone, self.args.work / work / name))
            server.wait_ready(self.args.start_timeout)
            topology.repin_napi(self.links[name], self.server_cpus, self.gen_cpus)
            stray = server.cgroup.stray_threads()
            if stray:
                raise RuntimeError(f"threads allowed outside CPUs {sorted(self.server_cpus)}: {stray}")
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            self.skipped[name] = str(e).splitlines()[0][:300]
            log(f"{name} skipped: {self.skipped[name]}")
            if server is not None:
                server.stop()
            return
        self.running[name] = server
        log(f"{name} answers after {server.load_seconds:.2f} s")

    # -- one measured run ----------------------------------------------------------------------

    def dnsperf(self, name: str, query_file: Path, seconds: float, kind: str | None = None,
                **options: Any) -> str:
        """dnsperf from the namespace to name's link, with the query options of kind (the
        registry's name; default: name's)."""
        assert self.loadgen is not None
        a = self.args
        options.setdefault("dnssec_ok", self.dnssec_ok)
        cmd = measure.dnsperf_command(self.links[name].host_addr, a.port, query_file, seconds,
                                      clients=a.clients, outstanding=options.pop("outstanding", a.outstanding),
                                      timeout_s=a.timeout, **options) + REGISTRY[kind or name].dnsperf_options()
        return measure.run_bounded(self.loadgen.wrap(["ip", "netns", "exec", NETNS, *cmd]),
                                   timeout=seconds + a.timeout + 30)

    def measure_once(self, name: str, query_file: Path, round_no: int) -> RunRecord:
        """dnsperf for --duration seconds, repeated while the hypervisor steals too much."""
        server, link = self.running[name], self.links[name]
        cpus = self.server_cpus | self.gen_cpus
        for attempt in range(1, self.args.steal_retries + 2):
            pids = server.pids()
            napi = topology.napi_threads(link.host_if)
            counters_before = server.kind.counters(server.ctx)
            user0, rx0, ticks0 = measure.user_seconds(pids), measure.cpu_seconds(napi), measure.cpu_ticks()
            cpu0 = measure.cpu_seconds(pids)
            out = self.dnsperf(name, query_file, self.args.duration)
            ticks1, cpu1, rx1 = measure.cpu_ticks(), measure.cpu_seconds(pids), measure.cpu_seconds(napi)
            user1 = measure.user_seconds(pids)
            counters_after = server.kind.counters(server.ctx)
            steal = measure.steal_percent(ticks0, ticks1, cpus)
            foreign = measure.foreign_percent(ticks0, ticks1, self.server_cpus, cpu1 - cpu0 + rx1 - rx0)
            if (steal <= self.args.steal_max and foreign <= self.args.foreign_max) \
                    or attempt > self.args.steal_retries \
                    or time.monotonic() - self.started > self.args.retry_until:
                break
            log(f"  {name}: {steal:.1f} % steal, {foreign:.1f} % of the server CPU to other tasks: "
                "repeating the run")
        result = measure.parse_dnsperf(out)
        answered = result.completed or 0
        counters = None
        if counters_before and counters_after:
            counters = {k: counters_after[k] - counters_before[k] for k in ("rx", "tx", "batches")}
        return RunRecord(
            server=name, round=round_no, attempts=attempt, steal_percent=round(steal, 2),
            foreign_percent=round(foreign, 1),
            server_cpu_busy=round(measure.busy_percent(ticks0, ticks1, self.server_cpus), 1),
            generator_cpu_busy=round(measure.busy_percent(ticks0, ticks1, self.gen_cpus), 1),
            qps=result.qps, sent=result.sent, completed=result.completed, lost=result.lost,
            loss_percent=result.loss_percent, latency_avg_ms=result.latency_avg_ms,
            latency_max_ms=result.latency_max_ms, cpu_seconds=cpu1 - cpu0, rx_seconds=rx1 - rx0,
            cpu_us_per_query=(cpu1 - cpu0) / answered * 1e6 if answered else None,
            user_us_per_query=(user1 - user0) / answered * 1e6 if answered else None,
            rx_us_per_query=(rx1 - rx0) / answered * 1e6 if answered else None,
            rcodes=result.rcodes, server_counters=counters, stray_threads=server.cgroup.stray_threads())

    def measure_rounds(self, names: list[str], query_file: Path, label: str = "") -> list[RunRecord]:
        """A warm-up for each server, then --rounds interleaved runs of them all."""
        if self.args.warmup > 0:
            for name in names:
                self.dnsperf(name, query_file, self.args.warmup)
        records: list[RunRecord] = []
        for round_no in range(1, self.args.rounds + 1):
            for name in names:
                record = self.measure_once(name, query_file, round_no)
                records.append(record)
                log(f"{label}round {round_no}/{self.args.rounds} {name:<12} {record.qps:>10,.0f} qps  "
                    f"loss {record.loss_percent:5.2f} %  CPU {record.cpu_us_per_query or 0:6.2f} "
                    f"+rx {record.rx_us_per_query or 0:5.2f} µs/q  busy {record.server_cpu_busy:.0f}/"
                    f"{record.generator_cpu_busy:.0f} %  other {record.foreign_percent:.0f} %  "
                    f"steal {record.steal_percent:.1f} %  {record.rcodes}")
        return records

    def p99(self, name: str, query_file: Path) -> float | None:
        """The 99th percentile latency at a fixed, moderate rate (dnsperf -v lists each query)."""
        if self.args.p99_duration <= 0:
            return None
        out = self.dnsperf(name, query_file, self.args.p99_duration, max_qps=self.args.p99_rate,
                           verbose=True)
        return measure.percentile(measure.verbose_latencies(out), 99.0)

    def perf(self, name: str, query_file: Path) -> list[tuple[str, float]] | None:
        """perf's view of the server CPUs during one more run: threads and symbols, kernel too."""
        if not perfprofile.available():
            return None
        data = self.args.work / f"perf-{name}.data"
        perfprofile.record(self.server_cpus, data,
                            lambda: self.dnsperf(name, query_file, self.args.perf_seconds),
                            self.args.perf_seconds)
        return perfprofile.top(data)

    # -- callgrind ------------------------------------------------------------------------------

    def instructions(self, name: str, zone: Path, query_file: Path, queries: int) -> dict[str, Any]:
        """Instructions per query: a run with `queries` queries minus an idle run as long."""
        a = self.args
        runs: dict[str, dict[str, Any]] = {}
        loaded_seconds = 0.0
        for mode in ("loaded", "idle"):
            out_dir = a.work / "callgrind" / name / mode
            out_dir.mkdir(parents=True, exist_ok=True)
            for old in callgrind.output_files(out_dir):
                old.unlink()
            ctx = self.context(f"cg-{name}-{mode}", zone, out_dir, callgrind.valgrind_command(out_dir),
                               link_of=self.callgrind_link)
            log(f"callgrind: {name} {mode}")
            server = Running(REGISTRY[name], ctx)
            try:
                # A slow retry and a drain, so each probe is answered exactly once and counted.
                server.wait_ready(a.start_timeout, retry=2.0, drain=1.0)
                completed = 0
                if mode == "loaded":
                    started = time.monotonic()
                    result = measure.parse_dnsperf(self.dnsperf(
                        self.callgrind_link, query_file, 120, kind=name, max_qps=a.callgrind_rate or None, runs=1))
                    loaded_seconds = time.monotonic() - started
                    completed = result.completed
                else:
                    time.sleep(loaded_seconds)
            finally:
                server.stop(timeout=120)
            runs[mode] = {"instructions": callgrind.total_instructions(out_dir), "queries": completed,
                          "probe_answers": server.probe_answers, "dir": out_dir}
        loaded, idle = runs["loaded"], runs["idle"]
        answered = loaded["queries"] + loaded["probe_answers"] - idle["probe_answers"]
        per_query = (loaded["instructions"] - idle["instructions"]) / answered if answered > 0 else None
        summary: dict[str, Any] = {
            "per_query": per_query, "queries": loaded["queries"],
            "loaded_instructions": loaded["instructions"], "idle_instructions": idle["instructions"],
            "probe_answers": [loaded["probe_answers"], idle["probe_answers"]]}
        if name.startswith("fastdns") and answered > 0:
            summary["top_functions"] = callgrind.top_per_query(loaded["dir"], idle["dir"], answered)
            summary["top_lines"] = callgrind.top_lines_per_query(loaded["dir"], idle["dir"], answered)
        log(f"callgrind: {name}: {per_query:,.0f} instructions/query" if per_query else
            f"callgrind: {name}: no answers counted")
        return summary

    # -- tear-down -----------------------------------------------------------------------------

    def stop_all(self) -> None:
        for name, server in list(self.running.items()):
            try:
                server.stop()
            finally:
                del self.running[name]

    def close(self) -> None:
        try:
            self.stop_all()
        finally:
            if self.loadgen is not None:
                self.loadgen.remove()
            topology.cleanup_all()


def summarise(name: str, records: list[RunRecord], server: Running | None, p99: float | None,
              pss: int | None, zone_bytes: int | None, pinning: str) -> dict[str, Any]:
    def median(values: list[float | None]) -> float | None:
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    mine = [r for r in records if r.server == name]
    cpu = median([r.cpu_us_per_query for r in mine])
    rx = median([r.rx_us_per_query for r in mine])
    totals = [r.cpu_us_per_query + r.rx_us_per_query for r in mine
              if r.cpu_us_per_query is not None and r.rx_us_per_query is not None]
    batches = [r.server_counters["rx"] / r.server_counters["batches"] for r in mine
               if r.server_counters and r.server_counters.get("batches")]
    return {
        "name": name, "label": REGISTRY[name].label,
        "qps": median([r.qps for r in mine]), "loss_percent": median([r.loss_percent for r in mine]),
        "latency_avg_ms": median([r.latency_avg_ms for r in mine]), "p99_ms": p99,
        "cpu_us_per_query": cpu, "rx_us_per_query": rx,
        "user_us_per_query": median([r.user_us_per_query for r in mine]),
        "total_us_per_query": statistics.median(totals) if totals else None,
        "packets_per_batch": statistics.median(batches) if batches else None,
        "server_cpu_busy": median([r.server_cpu_busy for r in mine]),
        "generator_cpu_busy": median([r.generator_cpu_busy for r in mine]),
        "load_seconds": server.load_seconds if server else None, "zone_bytes": zone_bytes,
        "pss_bytes": pss, "pinning": pinning, "instructions_per_query": None,
        "qps_vs_knot": None, "cpu_vs_knot": None, "total_cpu_vs_knot": None,
        "peer": SAME_PATH_PEER.get(name), "cpu_vs_peer": None, "total_cpu_vs_peer": None,
    }


def _ratio(row: dict[str, Any], base: dict[str, Any] | None, key: str) -> float | None:
    """row[key] ÷ base[key], when both were measured."""
    if base is None or not base[key] or row[key] is None:
        return None
    return row[key] / base[key]


def machine() -> dict[str, str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    debian = Path("/etc/debian_version").read_text().strip() if Path("/etc/debian_version").exists() else "?"

    def version(cmd: list[str]) -> str:
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
        except OSError:
            return "not installed"
        return (done.stdout + done.stderr).strip().splitlines()[0] if (done.stdout + done.stderr).strip() else "?"

    commit = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                            capture_output=True, text=True, timeout=10).stdout.strip() or "?"
    return {
        "description": f"{os.cpu_count()} vCPU {cpu} VM, {mem_kb // 1048576} GiB, Debian {debian}, "
                       f"kernel {platform.release()}",
        "fastdns_commit": commit, "knotd": version(["knotd", "-V"]), "nsd": version(["nsd", "-v"]),
        "dnsperf": "dnsperf " + version(["sh", "-c", "dnsperf -h 2>&1 | grep ^Version"]),
        "valgrind": version(["valgrind", "--version"]),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    wanted = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in REGISTRY]
    if unknown:
        raise SystemExit(f"bench: unknown server {unknown[0]} (known: {', '.join(REGISTRY)})")
    bench = Bench(args)
    # The orchestration runs beside dnsperf, never on the servers' CPUs.
    os.sched_setaffinity(0, bench.gen_cpus)
    started = bench.started
    for name in wanted:
        reason = REGISTRY[name].unavailable()
        if reason:
            bench.skipped[name] = reason
            log(f"{name} skipped: {reason}")
    names = [n for n in wanted if n not in bench.skipped]
    log(f"generating a {args.names:,}-name zone and {args.queries:,} queries in {args.work}")
    work = workload.generate(args.work / "workload", args.names, args.queries)
    log(work.describe())
    records: list[RunRecord] = []
    callgrind_results: dict[str, Any] = {}
    extra: dict[str, dict[str, Any]] = {}
    try:
        bench.setup(names)
        for name in names:
            bench.start(name, work.zone_file)
        measured = [n for n in names if n in bench.running]
        if not measured:
            raise SystemExit("bench: no server could be started: " + "; ".join(
                f"{k}: {v}" for k, v in bench.skipped.items()))
        records += bench.measure_rounds(measured, work.query_file)
        for name in measured:
            server = bench.running[name]
            stray = server.cgroup.stray_threads()
            extra[name] = {
                "p99": bench.p99(name, work.query_file), "pss": measure.pss_bytes(server.pids()),
                "processes": measure.processes(server.pids()),
                "zone_bytes": server.zone_bytes(),
                "perf_top": bench.perf(name, work.query_file)
                if name in args.perf_servers.split(",") and args.perf_seconds > 0 else None,
                "pinning": "yes" if not stray else f"NO: {'; '.join(stray)}"}
        loaded = {name: bench.running[name] for name in measured}
        bench.stop_all()
        if args.callgrind_queries > 0:
            cg_names = [n for n in args.callgrind_servers.split(",") if n in measured]
            cg_work = workload.generate(args.work / "callgrind-workload", args.callgrind_names,
                                        args.callgrind_queries)
            bench.callgrind_link = measured[0]
            for name in cg_names:
                try:
                    callgrind_results[name] = bench.instructions(name, cg_work.zone_file,
                                                                 cg_work.query_file, args.callgrind_queries)
                except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
                    log(f"callgrind: {name} failed: {e}")
                    callgrind_results[name] = {"error": str(e)[:500]}
        signed = None
        if args.signed_names > 0:
            try:
                signed = run_signed(bench, [n for n in measured if n in args.signed_servers.split(",")])
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                log(f"signed run skipped: {str(e)[:300]}")
    finally:
        bench.close()

    rows = [summarise(n, records, loaded.get(n), extra[n]["p99"], extra[n]["pss"],
                      extra[n]["zone_bytes"], extra[n]["pinning"]) for n in measured]
    for row in rows:
        row["processes"] = extra[row["name"]]["processes"]
        row["perf_top"] = extra[row["name"]]["perf_top"]
    base = next((r for r in rows if r["name"] == BASELINE), None)
    by_name = {r["name"]: r for r in rows}
    for row in rows:
        row["instructions_per_query"] = callgrind_results.get(row["name"], {}).get("per_query")
        row["qps_vs_knot"] = _ratio(row, base, "qps")
        row["cpu_vs_knot"] = _ratio(row, base, "cpu_us_per_query")
        row["total_cpu_vs_knot"] = _ratio(row, base, "total_us_per_query")
        peer = by_name.get(row["peer"])
        row["cpu_vs_peer"] = _ratio(row, peer, "cpu_us_per_query")
        row["total_cpu_vs_peer"] = _ratio(row, peer, "total_us_per_query")
    for entry in callgrind_results.values():
        entry.pop("dir", None)
    return {
        "finished": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "elapsed_seconds": round(time.monotonic() - started, 1),
        "command": " ".join(["make bench"] if os.environ.get("FASTDNS_BENCH_VIA_MAKE") else sys.argv),
        "machine": machine(), "workload": work.describe(),
        "workload_short": f"{args.names:,} names, {args.rounds}×{args.duration:g} s",
        "settings": {
            "server_cpus": ",".join(map(str, sorted(bench.server_cpus))),
            "generator_cpus": ",".join(map(str, sorted(bench.gen_cpus))),
            "dnsperf_options": f"-T 1 -c {args.clients} -q {args.outstanding} -t {args.timeout:g} -e",
            "rounds": args.rounds, "duration": args.duration, "p99_rate": args.p99_rate,
            "p99_duration": args.p99_duration, "callgrind_queries": args.callgrind_queries,
            "callgrind_names": args.callgrind_names, "steal_max_percent": args.steal_max,
            "names": args.names, "queries": args.queries, "perf_seconds": args.perf_seconds},
        "servers": rows, "skipped": bench.skipped, "callgrind": callgrind_results,
        "signed": _signed_rows(signed, rows) if signed else None,
        "runs": [asdict(r) for r in records],
    }


def run_signed(bench: Bench, names: list[str]) -> dict[str, Any] | None:
    """The signed run: the servers (stopped, their links kept) serve the zone signed with
    NSEC3, and are measured as in the main run with every query DO=1 and 30 % of them
    random-subdomain NXDOMAIN."""
    args = bench.args
    if not names:
        return None
    log(f"signed run: signing a {args.signed_names:,}-name zone with NSEC3")
    work = workload.generate_signed(args.work / "signed-workload", args.signed_names, args.queries)
    log(work.describe() + "; every query with DO=1")
    bench.dnssec_ok = True
    records: list[RunRecord] = []
    timeout, args.start_timeout = args.start_timeout, args.signed_start_timeout
    try:
        for name in names:
            bench.start(name, work.zone_file, work="signed")
        measured = [n for n in names if n in bench.running]
        records = bench.measure_rounds(measured, work.query_file, "signed ")
        rows = [summarise(n, records, bench.running[n], None, measure.pss_bytes(bench.running[n].pids()),
                          bench.running[n].zone_bytes(), "yes") for n in measured]
    finally:
        args.start_timeout = timeout
        bench.dnssec_ok = False
        bench.stop_all()
    return {"workload": work.describe() + "; every query with DO=1", "names": args.signed_names, "rows": rows,
            "runs": [asdict(r) for r in records]}


def _signed_rows(signed: dict[str, Any], unsigned: list[dict[str, Any]]) -> dict[str, Any]:
    """The signed run's rows, with each server's CPU beside Knot DNS's signed figure and its
    own in the main (unsigned) run."""
    rows = signed["rows"]
    base = next((r for r in rows if r["name"] == BASELINE), None)
    plain = {r["name"]: r for r in unsigned}
    for row in rows:
        row["cpu_vs_knot"] = _ratio(row, base, "cpu_us_per_query")
        row["total_cpu_vs_knot"] = _ratio(row, base, "total_us_per_query")
        row["cpu_vs_unsigned"] = _ratio(row, plain.get(row["name"]), "cpu_us_per_query")
        row["total_cpu_vs_unsigned"] = _ratio(row, plain.get(row["name"]), "total_us_per_query")
    return signed


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench: needs root (network namespaces, cgroups, XDP)", file=sys.stderr)
        return 2
    # SIGTERM and SIGHUP unwind like Ctrl-C, through every finally: nothing is left behind.
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_interrupt)
    try:
        result = run(args)
    except KeyboardInterrupt:
        print("bench: interrupted; cleaned up", file=sys.stderr)
        return 130
    written = report.write(result, args.out)
    print()
    print(report.markdown(result))
    log(f"done in {result['elapsed_seconds']:.0f} s; wrote {', '.join(map(str, written))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
