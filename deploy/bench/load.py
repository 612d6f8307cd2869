# SPDX-License-Identifier: MIT
"""Loading zones side by side: start to first answer, memory serving, and a one-record change
until the new answer is served; fastdns, Knot DNS and NSD on loopback: `make bench-load`."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import dns.exception  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import measure  # noqa: E402
import workload  # noqa: E402
from bench import log, machine  # noqa: E402
from loadservers import LOAD_REGISTRY, LOOPBACK, LoadContext, Loopback, free_port  # noqa: E402
from report import _num, _ratio  # noqa: E402
from servers import REPO, Running  # noqa: E402

BASELINE = "knot"  #: ratios are to Knot DNS in the same run
NEW_ADDRESS = "192.0.2.53"  #: what the one-record change points its name at (RFC 5737)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--names", default="100000,1000000",
                   help="comma-separated sizes of the one-zone shape, in names ('' for none)")
    p.add_argument("--zones", default="10000",
                   help=f"comma-separated counts of the hoster shape: zones of {workload.HOSTER_NAMES} "
                        "names ('' or 0 for none)")
    p.add_argument("--servers", default=",".join(LOAD_REGISTRY),
                   help=f"comma-separated, from: {', '.join(LOAD_REGISTRY)}")
    p.add_argument("--timeout", type=float, default=900.0,
                   help="seconds a server may take to answer, and again for the change (then: timeout)")
    p.add_argument("--settle", type=float, default=3.0, help="seconds serving before memory is read")
    p.add_argument("--cpus", default=",".join(map(str, sorted(os.sched_getaffinity(0)))),
                   help="CPUs the servers are confined to (each runs one worker per CPU)")
    p.add_argument("--work", type=Path, default=Path("/tmp/fastdns-bench-load"), help="scratch directory")
    p.add_argument("--out", type=Path, default=REPO / "deploy" / "bench" / "results" / "load",
                   help="writes OUT.md and OUT.json")
    p.add_argument("--rounds", type=int, default=3,
                   help="times each server is measured per shape (the servers take turns); the table "
                        "gives each figure's median")
    p.add_argument("--merge", action="store_true",
                   help="keep the rows of OUT.json that this run does not measure again")
    return p.parse_args(argv)


def _sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s.strip() and int(s) > 0]


# -- the zones -----------------------------------------------------------------------------

@dataclass
class Shape:
    """One set of zones to serve: a zone of `size` names, or `size` small zones."""

    kind: str  #: "names" or "zones"
    size: int
    zone_file: Path  #: the measured zone: the one changed, and for "zones" the last configured
    origin: str
    owner: str  #: the name whose A record the change points at NEW_ADDRESS
    more_zones: list[tuple[str, Path]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.size:,} {self.kind}"


def one_zone(directory: Path, names: int) -> Shape:
    directory.mkdir(parents=True, exist_ok=True)
    zone_file = directory / f"{workload.ORIGIN}.zone"
    by_kind = workload.write_zone(zone_file, names)
    return Shape("names", names, zone_file, workload.ORIGIN, workload.a_owner(by_kind))


def hoster(directory: Path, zones: int) -> Shape:
    made = workload.write_hoster_zones(directory, zones)
    origin, zone_file, by_kind = made[-1]
    return Shape("zones", zones, zone_file, origin, workload.a_owner(by_kind),
                 [(o, path) for o, path, _ in made[:-1]])


# -- asking ------------------------------------------------------------------------------

def ask(port: int, qname: str, rdtype: dns.rdatatype.RdataType, timeout: float) -> dns.message.Message | None:
    """One UDP query; the reply if it is an authoritative NOERROR answer, else None."""
    try:
        reply = dns.query.udp(dns.message.make_query(qname, rdtype), LOOPBACK, port=port, timeout=timeout)
    except (dns.exception.DNSException, OSError):
        return None  # not listening yet, or no reply in time
    good = reply.rcode() == dns.rcode.NOERROR and reply.flags & dns.flags.AA and reply.answer
    return reply if good else None


def poll(port: int, qname: str, rdtype: dns.rdatatype.RdataType,
         accept: Callable[[dns.message.Message], bool], interval: float, deadline: float,
         alive: Callable[[], bool]) -> float | None:
    """Ask every `interval` s until a reply passes `accept`: its time.time(); None at the deadline."""
    while time.monotonic() < deadline:
        asked = time.monotonic()
        reply = ask(port, qname, rdtype, interval)
        if reply is not None and accept(reply):
            return time.time()
        if not alive():
            raise RuntimeError("the server exited")
        time.sleep(max(0.0, interval - (time.monotonic() - asked)))
    return None


def all_answer(port: int, origins: list[str], deadline: float) -> float | None:
    """Ask each zone's SOA, again for those not answering yet, until all have: the time.time()."""
    pending = origins
    while pending and time.monotonic() < deadline:
        pending = [o for o in pending if ask(port, o, dns.rdatatype.SOA, 0.2) is None]
        if pending:
            time.sleep(0.05)
    return None if pending else time.time()


def has_new_address(reply: dns.message.Message) -> bool:
    return any(rr.address == NEW_ADDRESS for rrset in reply.answer
               if rrset.rdtype == dns.rdatatype.A for rr in rrset)


# -- one server, one shape -------------------------------------------------------------------

@dataclass
class Row:
    shape: str  #: Shape.label
    server: str
    label: str
    status: str = "ok"  #: "ok", "timeout: ..." or "failed: ..."
    load_seconds: float | None = None  #: start to the first answer for the measured zone's SOA
    all_zones_seconds: float | None = None  #: start to every zone answered (the hoster shape)
    pss_bytes: int | None = None
    change_seconds: float | None = None  #: reload command to the new answer
    reload_exit: int | None = None
    ratios: dict[str, float | None] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)  #: each round's figures, when several


def median_row(rows: list[Row]) -> Row:
    """One row of several rounds of one server and shape: each figure's median over the
    rounds that measured it; the status of the first that failed, if one did."""
    def median(key: str) -> Any:
        values = [getattr(r, key) for r in rows if getattr(r, key) is not None]
        return statistics.median(values) if values else None

    first = rows[0]
    failed = next((r for r in rows if r.status != "ok"), None)
    return Row(first.shape, first.server, first.label, failed.status if failed else "ok",
               median("load_seconds"), median("all_zones_seconds"), median("pss_bytes"),
               median("change_seconds"), next((r.reload_exit for r in rows if r.reload_exit), first.reload_exit),
               rounds=[{"load_seconds": r.load_seconds, "pss_bytes": r.pss_bytes, "change_seconds": r.change_seconds,
                        "status": r.status} for r in rows] if len(rows) > 1 else [])


def start(name: str, shape: Shape, work: Path, port: int, cpus: set[int]) -> Running:
    """The server, started on a fresh copy of the shape's zones."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    for _, path in shape.more_zones:
        shutil.copy(path, work / path.name)
    # The cgroup's name carries our PID: stopping a server kills its whole cgroup, so two
    # runs at once (a smoke test beside a long run) must not share one.
    ctx = LoadContext(name=f"load-{name}-{os.getpid()}", work=work, link=Loopback(0, 1), port=port,
                      zone_file=shape.zone_file, origin=shape.origin, cpus=cpus,
                      more_zones=[(origin, path.name) for origin, path in shape.more_zones])
    return Running(LOAD_REGISTRY[name], ctx)


def measure_server(name: str, shape: Shape, args: argparse.Namespace) -> Row:
    row = Row(shape.label, name, LOAD_REGISTRY[name].label)
    port = free_port()
    server = start(name, shape, args.work / f"{shape.size}-{shape.kind}" / name, port,
                   {int(c) for c in args.cpus.split(",")})
    try:
        measure_running(server, shape, row, port, args)
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as e:
        row.status = f"failed: {e}; {server.output()[-300:]}"
    finally:
        server.stop()
        for directory in LOAD_REGISTRY[name].scratch_dirs(server.ctx):
            shutil.rmtree(directory, ignore_errors=True)
    return row


def measure_running(server: Running, shape: Shape, row: Row, port: int, args: argparse.Namespace) -> None:
    """Load, memory, change: each bounded by args.timeout; fills `row` as far as it gets."""
    def alive() -> bool:
        return server.proc.poll() is None

    first = poll(port, shape.origin, dns.rdatatype.SOA, lambda _: True, 0.03,
                 time.monotonic() + args.timeout, alive)
    if first is None:
        row.status = f"timeout: no answer within {args.timeout:g} s"
        return
    row.load_seconds = first - server.started
    if shape.more_zones:
        every = all_answer(port, [o for o, _ in shape.more_zones], time.monotonic() + args.timeout)
        row.all_zones_seconds = None if every is None else every - server.started
    time.sleep(args.settle)
    row.pss_bytes = measure.pss_bytes(server.pids())
    workload.change_address(server.ctx.zone_file, shape.owner, NEW_ADDRESS)
    command = LOAD_REGISTRY[row.server].reload_command(server.ctx, shape.origin)
    with open(server.ctx.work / "reload.log", "w") as out:
        issued = time.time()
        reload = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=server.ctx.work)
        try:
            served = poll(port, f"{shape.owner}.{shape.origin}", dns.rdatatype.A, has_new_address,
                          0.01, time.monotonic() + args.timeout, alive)
        finally:
            row.reload_exit = _finish(reload)
    if served is None:
        row.status = f"timeout: no new answer within {args.timeout:g} s of the reload command"
    else:
        row.change_seconds = served - issued


def _finish(proc: subprocess.Popen, timeout: float = 60.0) -> int:
    """The reload command's exit status; killed (by its PID) when it outlives `timeout`."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


# -- the run ---------------------------------------------------------------------------------

def shapes(args: argparse.Namespace) -> list[Callable[[], Shape]]:
    """Makers of the shapes, in table order: generated one at a time, when their turn comes."""
    zones = args.work / "zones"
    return [*(partial(one_zone, zones / f"{n}-names", n) for n in _sizes(args.names)),
            *(partial(hoster, zones / f"{n}-zones", n) for n in _sizes(args.zones))]


def run(args: argparse.Namespace) -> list[Row]:
    wanted = [n.strip() for n in args.servers.split(",") if n.strip()]
    unknown = [n for n in wanted if n not in LOAD_REGISTRY]
    if unknown:
        raise SystemExit(f"load: unknown server {unknown[0]} (known: {', '.join(LOAD_REGISTRY)})")
    rows = []
    for make in shapes(args):
        shape = make()
        log(f"{shape.label}: zones generated in {shape.zone_file.parent}")
        unavailable = {name: LOAD_REGISTRY[name].unavailable() for name in wanted}
        measured: dict[str, list[Row]] = {name: [] for name in wanted}
        for round_ in range(max(1, args.rounds)):
            for name in wanted:
                reason = unavailable[name]
                row = Row(shape.label, name, LOAD_REGISTRY[name].label, status=f"failed: {reason}") \
                    if reason else measure_server(name, shape, args)
                log(f"{shape.label} {name} (round {round_ + 1}): {row.status}, load {_num(row.load_seconds, 2)} s, "
                    f"memory {_num(row.pss_bytes, 0, 1 / 1048576)} MiB, change {_num(row.change_seconds, 3)} s")
                measured[name].append(row)
        rows += [median_row(measured[name]) for name in wanted]
        shutil.rmtree(shape.zone_file.parent, ignore_errors=True)
    return rows


def with_ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each row's load, memory and change ÷ Knot DNS's for the same shape."""
    keys = {"load": "load_seconds", "memory": "pss_bytes", "change": "change_seconds"}
    for row in rows:
        base = next((r for r in rows if r["shape"] == row["shape"] and r["server"] == BASELINE), None)
        row["ratios"] = {k: row[v] / base[v] if base and base[v] and row[v] is not None else None
                         for k, v in keys.items()}
    return rows


def merged(rows: list[Row], out: Path, merge: bool) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """This run's rows, after those of the previous OUT.json it did not measure again (--merge)."""
    fresh = [asdict(r) for r in rows]
    if not merge or not out.with_suffix(".json").exists():
        return fresh, []
    previous = json.loads(out.with_suffix(".json").read_text())
    again = {(r["shape"], r["server"]) for r in fresh}
    kept = [r for r in previous["rows"] if (r["shape"], r["server"]) not in again]
    return kept + fresh, previous.get("runs", [])


def ordered(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Shapes as the table lists them (one zone by size, then the hoster shape), servers in registry order."""
    def key(r: dict[str, Any]) -> tuple[bool, int, int]:
        count, kind = r["shape"].split(" ", 1)
        order = list(LOAD_REGISTRY)
        return kind == "zones", int(count.replace(",", "")), order.index(r["server"]) if r["server"] in order else 99
    return sorted(rows, key=key)


# -- the report ------------------------------------------------------------------------------

def _cell(row: dict[str, Any], key: str, digits: int, scale: float = 1.0) -> str:
    if row[key] is None and row["status"] != "ok":
        return row["status"].split(":", 1)[0]  # "timeout" or "failed"
    return _num(row[key], digits, scale)


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"Measured on {m['description']}; {m['knotd'].replace('knotd (Knot DNS), version', 'Knot DNS')}, "
        f"{m['nsd'].replace(' version', '')}. Commands: " + "; then ".join(
            f"`{r['command']}` at fastdns {r['fastdns_commit']}, {r['finished']}" for r in result["runs"]) + ".",
        "",
        f"Servers on 127.0.0.1, each confined to CPUs {result['cpus']}, one after another. Zones: "
        f"workload.py's mix; \"N names\": one zone `{workload.ORIGIN}`; \"N zones\": N zones of "
        f"{workload.HOSTER_NAMES} names (about 35 records) each. **load**: process start to the first "
        "authoritative answer for the zone's SOA (N zones: for the last configured zone's SOA). "
        f"**memory**: PSS of the server's whole process tree after {result['settle']:g} s serving. "
        "**one-record change**: one name's A changed and the SOA serial bumped in the file, then "
        "the server's reload command for that zone; seconds from the command to the first answer "
        f"with the new address (polled every 10 ms). Bound: {result['timeout']:g} s each. "
        f"Each figure: the median of {result.get('rounds', 1)} rounds, the servers taking turns "
        "(each round's in load.json). "
        "**fastdns**: the build `pip install` makes (ldns reads zone files; MIT); **fastdns + "
        "libzscanner**: the opt-in `FASTDNS_ZSCANNER=1` build, whose reader of files of 64 kB or "
        "more is Knot DNS's libzscanner (GPL-3+ as a whole; docs/zone-parser.md).",
        "",
        "| size | server | load s | memory MiB | one-record change s | load ÷ Knot | memory ÷ Knot "
        "| change ÷ Knot |",
        "|---|---|--:|--:|--:|--:|--:|--:|",
    ]
    for r in result["rows"]:
        lines.append(f"| {r['shape']} | {r['label']} | {_cell(r, 'load_seconds', 2)} "
                     f"| {_cell(r, 'pss_bytes', 0, 1 / 1048576)} | {_cell(r, 'change_seconds', 3)} "
                     f"| {_ratio(r['ratios']['load'])} | {_ratio(r['ratios']['memory'])} "
                     f"| {_ratio(r['ratios']['change'])} |")
    return "\n".join(lines + _notes(result["rows"])) + "\n"


def _notes(rows: list[dict[str, Any]]) -> list[str]:
    notes = [f"- {r['shape']}, {r['label']}: every zone answered its SOA "
             f"{_num(r['all_zones_seconds'], 2)} s after start (a sequential sweep: an upper bound)."
             for r in rows if r["shape"].endswith("zones") and r["status"] == "ok"]
    notes += [f"- {r['shape']}, {r['label']}: {r['status'][:300]}" for r in rows if r["status"] != "ok"]
    notes += [f"- {r['shape']}, {r['label']}: the reload command exited {r['reload_exit']}."
              for r in rows if r["reload_exit"] not in (0, None)]
    return ["", *notes] if notes else []


def write(result: dict[str, Any], out: Path) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    md, js = out.with_suffix(".md"), out.with_suffix(".json")
    md.write_text(markdown(result))
    js.write_text(json.dumps(result, indent=2) + "\n")
    return [md, js]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.out.suffix in (".md", ".json"):
        args.out = args.out.with_suffix("")
    if os.geteuid() != 0:
        print("load: needs root (each server runs in its own cpuset cgroup)", file=sys.stderr)
        return 2
    # SIGTERM unwinds like Ctrl-C, through every finally: no server is left running.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    started = time.monotonic()
    command = "make bench-load" if os.environ.get("FASTDNS_BENCH_LOAD_VIA_MAKE") else shlex.join(sys.argv)
    try:
        rows = run(args)
    except KeyboardInterrupt:
        print("load: interrupted; servers stopped", file=sys.stderr)
        return 130
    all_rows, runs = merged(rows, args.out, args.merge)
    host = machine()
    result = {"finished": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
              "elapsed_seconds": round(time.monotonic() - started, 1),
              "runs": [*runs, {"command": command, "fastdns_commit": host["fastdns_commit"],
                               "finished": datetime.datetime.now().strftime("%Y-%m-%d %H:%M")}],
              "machine": host, "cpus": args.cpus, "settle": args.settle, "timeout": args.timeout,
              "rounds": args.rounds,
              "rows": with_ratios(ordered(all_rows))}
    written = write(result, args.out)
    print()
    print(markdown(result))
    log(f"done in {result['elapsed_seconds']:.0f} s; wrote {', '.join(map(str, written))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
