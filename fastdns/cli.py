# SPDX-License-Identifier: MIT
"""The `fastdns` command: serve, reload, transfer, check, status, stats."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from fastdns import control
from fastdns.config import DEFAULT_CONFIG, control_socket_of, load_config
from fastdns.errors import FastDNSError, ZoneError
from fastdns.signed import set_nsec3_iterations_max


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `fastdns stats | head` ends quietly
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.handler(args)
    except FastDNSError as e:
        print(f"fastdns: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fastdns", description="Authoritative DNS appliance.")
    sub = parser.add_subparsers(dest="command")

    def add(name: str, handler, help_text: str) -> argparse.ArgumentParser:  # noqa: ANN001
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler)
        p.add_argument("-c", "--config", help=f"configuration file (default: {DEFAULT_CONFIG})")
        return p

    add("serve", _serve, "Serve the configured zones until SIGTERM/SIGINT.")
    p = add("reload", _reload, "Re-read zone files and publish the changes to the workers.")
    p.add_argument("zones", nargs="*", help="zones to reload (default: all)")
    p.add_argument("--socket", help="control socket (default: from the configuration)")
    p = add("transfer", _transfer, "Ask a secondary zone's primaries for its serial now; transfer it when newer.")
    p.add_argument("zone", help="the secondary zone")
    p.add_argument("--socket", help="control socket (default: from the configuration)")
    p = add("check", _check, "Validate the configuration and zones, or zone files, without serving.")
    p.add_argument("files", nargs="*", help="zone files to check instead of the configuration")
    p.add_argument("-o", "--origin", help="zone name for the files (default: from the file name)")
    p.add_argument("--expiry-warning", type=float, default=7, metavar="DAYS",
                   help="warn of signatures that expire within DAYS (default 7)")
    p = add("status", _status, "Show the running server's zones and workers.")
    p.add_argument("--socket", help="control socket (default: from the configuration)")
    p.add_argument("--json", action="store_true", help="print the raw JSON")
    p = add("stats", _stats, "Show the workers' counters.")
    p.add_argument("--socket", help="control socket (default: from the configuration)")
    p.add_argument("--json", action="store_true", help="print the raw JSON")
    return parser


def _serve(args: argparse.Namespace) -> int:
    from fastdns.host import place
    from fastdns.server import Server

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s fastdns[%(process)d]: %(message)s")
    config = load_config(args.config)
    set_nsec3_iterations_max(config.nsec3_iterations_max)
    server = Server(config, place(config))
    server.prepare()
    return server.run()


def _reload(args: argparse.Namespace) -> int:
    reply = control.request(_socket_path(args), control.ReloadRequest(tuple(args.zones)))
    for line in control.reload_report(reply):
        print(line, file=sys.stdout if reply.get("ok") else sys.stderr)
    return 0 if reply.get("ok") else 1


def _transfer(args: argparse.Namespace) -> int:
    reply = control.request(_socket_path(args), control.TransferRequest(args.zone))
    if not reply.get("ok", True) or reply.get("error"):
        print(f"{args.zone}: {reply.get('error') or '; '.join(reply.get('errors', []))}", file=sys.stderr)
        return 1
    if reply["transferred"]:
        print(f"{reply['zone']}: serial {reply['serial']} transferred from {reply['primary']} "
              f"({reply.get('kind', 'AXFR')}, {reply['seconds']:.2f} s)")
    else:
        print(f"{reply['zone']}: serial {reply['serial']} is current (primary {reply['primary']} has "
              f"{reply['primary_serial']})")
    return 0


def _check(args: argparse.Namespace) -> int:
    from fastdns.nativecompiler import NativeUnsupported, compile_native
    from fastdns.zone import load_native_zone

    options: dict = {}
    if args.files:
        targets = [(args.origin or _origin_from_filename(f), f) for f in args.files]
    else:
        config = load_config(args.config)
        set_nsec3_iterations_max(config.nsec3_iterations_max)
        targets = [(z.name, z.file) for z in config.zones]
        options = {"chaos_version": config.version, "chaos_identity": config.identity,
                   "minimal_responses": config.minimal_responses}
        print(f"{config.path}: configuration OK")
    loaded, failed = [], 0
    for origin, filename in targets:
        try:
            zone = load_native_zone(origin, filename)
        except ZoneError as e:
            print(e, file=sys.stderr)
            failed += 1
            continue
        if _RRSIG in zone.native.rdtypes and not _review_signed(zone, args.expiry_warning):
            failed += 1
            continue
        loaded.append(zone)
        print(f"{filename}: zone {zone.origin.to_text(True)} OK, serial {zone.serial}, "
              f"{zone.record_count} records")
    if failed:
        return 1
    try:
        result = compile_native([z.native for z in loaded], **options, progress=_print_progress)
    except NativeUnsupported as e:
        from fastdns.compiler import compile_zones
        from fastdns.zone import load_zone

        print(f"native compiler: {e}; compiling with the Python compiler", file=sys.stderr)
        result = compile_zones([load_zone(z.origin, z.filename) for z in loaded], **options,
                               progress=_print_progress)
    print(f"compiled {result.node_count} names into a {result.size}-byte image "
          f"in {result.seconds:.3f} s")
    return 0


_RRSIG = 46


def _secondary(zone: dict) -> str:
    """A secondary zone's transfer state, for `fastdns status`."""
    import time

    if zone.get("role") != "secondary":
        return ""
    out = f", secondary of {', '.join(zone['primaries'])}"
    if zone.get("primary_serial") is not None:
        out += f" (serial {zone['primary_serial']} there)"
    last = zone.get("last_transfer")
    if last:
        out += (f", last transfer {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(last['at']))} UTC "
                f"{last['kind']} {last['seconds']:.2f} s from {last['primary']}")
    out += f", next refresh in {max(0, zone['next_refresh'] - time.time()):.0f} s"
    if zone.get("expired"):
        out += ", EXPIRED (no primary reached for its SOA EXPIRE): answered SERVFAIL"
    if zone.get("last_error"):
        out += f", last check failed: {zone['last_error']}"
    return out


def _expiry(zone: dict) -> str:
    """A signed zone's first signature expiry, for `fastdns status`."""
    import time

    left = zone.get("signatures_expire_in")
    if left is None:
        return ""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(zone["signatures_expire_at"]))
    if left < 0:
        return f", first signature EXPIRED {when}, {-left / 86400:.1f} days ago"
    return f", first signature expires {when}, in {left / 86400:.1f} days"


def _review_signed(zone, warn_days: float) -> bool:
    """The checks of a signed zone (fastdns.signed.review), printed; False on an error."""
    import time

    from fastdns.signed import review
    from fastdns.zone import load_zone_lines

    loaded, lines = load_zone_lines(zone.origin, zone.filename)
    errors, warnings = review(loaded.origin, loaded.zone, zone.filename, lines, time.time(), warn_days)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for error in errors:
        print(error, file=sys.stderr)
    return not errors


def _print_progress(zone: str, done: int, total: int) -> None:
    print(f"compiling {zone}: {done}/{total} names ({100 * done // total}%)", file=sys.stderr,
          flush=True)


def _origin_from_filename(filename: str) -> str:
    name = Path(filename).name
    for suffix in (".zone", ".db", ".txt"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _status(args: argparse.Namespace) -> int:
    reply = control.request(_socket_path(args), control.StatusRequest())
    if args.json:
        print(json.dumps(reply, indent=2))
        return 0
    print(f"fastdns pid {reply['pid']}, up {reply['uptime']:.0f} s, image generation "
          f"{reply['generation']}, listening on {', '.join(reply['listen'])}")
    if "loading" in reply:
        p = reply["loading"]
        names = f", {p['names_done']:,}/{p['names_total']:,} names compiled" if p["names_total"] else ""
        print(f"  reloading ({p['phase']} {p['zone']}): {p['records']:,} records parsed{names}, "
              f"{p['seconds']:.1f} s")
    for z in reply["zones"]:
        print(f"  zone {z['zone']:<30} serial {z['serial']:<12} {z['file']}{_expiry(z)}{_secondary(z)}")
    for w in reply["workers"]:
        state = "running" if w["alive"] else "down"
        queue = f"queue {w['queue']:<3} " if w.get("queue") is not None else ""
        print(f"  worker {w['slot']:<3} CPU {w['cpu']:<3} {queue}pid {w['pid']:<8} {state}, "
              f"up {w['uptime']:.0f} s, {w['restarts']} restarts")
    return 0


def _stats(args: argparse.Namespace) -> int:
    reply = control.request(_socket_path(args), control.StatsRequest())
    if args.json:
        print(json.dumps(reply, indent=2))
        return 0
    workers, tcp = reply["workers"], reply.get("tcp", {})
    # backend xdp: UDP the XDP program passed to the kernel, answered by the control process
    extra = [("tcp", tcp)] + ([("fallback", reply["fallback"])] if "fallback" in reply else [])
    print(f"{'counter':<22}{'udp total':>14}" + "".join(f"{'w' + str(i):>12}" for i in range(len(workers)))
          + "".join(f"{label:>12}" for label, _ in extra))
    for name in reply["total"]:
        print(f"{name:<22}{reply['total'][name]:>14}" + "".join(f"{w[name]:>12}" for w in workers)
              + "".join(f"{counts.get(name, 0):>12}" for _, counts in extra))
    for name in ("connections_open", "connections_accepted", "connections_refused"):
        print(f"tcp {name:<28}{tcp.get(name, 0):>10}")
    return 0


def _socket_path(args: argparse.Namespace) -> str:
    if args.socket:
        return args.socket
    return control_socket_of(args.config)


if __name__ == "__main__":
    sys.exit(main())
