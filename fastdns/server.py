# SPDX-License-Identifier: MIT
"""The control process: loads and compiles zones, publishes images, starts and supervises
the workers, and answers the control socket (reload, status, stats).

It never touches a DNS packet: the workers answer from the image it publishes.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from fastdns import _dataplane, image, systemd
from fastdns.compiler import compile_zones
from fastdns.config import Config
from fastdns.controlblock import COUNTERS, ControlBlock
from fastdns.errors import FastDNSError, ZoneError
from fastdns.sockets import open_udp_group
from fastdns.tcp import TcpServer, open_tcp_listener
from fastdns.worker import image_path
from fastdns.zone import LoadedZone, load_zone

log = logging.getLogger("fastdns")

RESTART_POLL_S = 0.1  #: how often dead workers are looked for: restarts well within 1 s
STOP_GRACE_S = 5.0  #: how long workers get to finish their batch before SIGKILL
#: a worker that exits (or cannot be started) within STABLE_S of its start is restarted
#: after a delay doubling from RESTART_BACKOFF_MIN_S to RESTART_BACKOFF_MAX_S
STABLE_S = 10.0
RESTART_BACKOFF_MIN_S = 0.1
RESTART_BACKOFF_MAX_S = 5.0
MAX_REQUEST = 64 * 1024  #: bytes of one control request


@dataclass
class WorkerHandle:
    slot: int
    cpu: int
    process: subprocess.Popen[bytes]
    started: float
    restarts: int = 0
    backoff: float = 0.0  #: seconds waited before the last restart attempt
    retry_at: float | None = None  #: time.monotonic() of the next restart attempt, when down


class Server:
    """One fastdns appliance instance, as configured."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.zones: dict[str, LoadedZone] = {}
        self.generation = 0
        self.workers: list[WorkerHandle] = []
        self.groups: list[list[socket.socket]] = []
        self.control: ControlBlock | None = None
        self.tcp_sockets: list[socket.socket] = []
        self.tcp: TcpServer | None = None
        self.fallback: _dataplane.Engine | None = None  # UDP the XDP program passes to the kernel
        self.xdp_program = None  # fastdns._xdp.XdpProgram with backend xdp
        self._engine: _dataplane.Engine | None = None
        self._compile_cache: dict = {}  # compiled names of unchanged zones, across reloads
        self.last_compile: dict = {}
        self.started = time.time()
        self._lock_fd: int | None = None
        self._stopping = False

    # -- start-up --------------------------------------------------------------------------

    def prepare(self) -> None:
        """Everything that can fail on bad input, before any worker starts.

        :raises FastDNSError: a zone does not load, the run directory is taken, or a listen
            address cannot be bound.
        """
        cfg = self.config
        os.makedirs(cfg.run_dir, exist_ok=True)
        self._lock_run_dir()
        zones, errors = {}, []
        for zc in cfg.zones:
            try:
                zones[zc.name] = load_zone(zc.name, zc.file)
            except ZoneError as e:
                errors.append(str(e))
        if errors:
            raise FastDNSError("\n".join(errors))
        self.control = ControlBlock(os.path.join(cfg.run_dir, "control.block"), len(cfg.cpus))
        self._publish(zones)
        self.zones = zones
        if cfg.backend == "xdp":
            # One plain socket per address answers, from the control process, whatever
            # the XDP program passes to the kernel (fragments, IP options, a queue whose
            # worker is restarting).
            self.groups = [open_udp_group(address, (0,)) for address in cfg.listen]
            self.xdp_program = attach_xdp(cfg)
        else:
            self.groups = [open_udp_group(address, cfg.cpus) for address in cfg.listen]
        self.tcp_sockets = [open_tcp_listener(address) for address in cfg.listen]
        if cfg.user is not None:
            self._drop_privileges(cfg.user)

    def _drop_privileges(self, user: str) -> None:
        """Become user once every socket is bound: workers and reloads run unprivileged."""
        import pwd

        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            raise FastDNSError(f"user {user}: no such user") from None
        if os.geteuid() != 0:
            raise FastDNSError(f"user {user}: only root can switch users (or start fastdns as {user})")
        for name in os.listdir(self.config.run_dir):  # images, control block: still ours to write
            os.chown(os.path.join(self.config.run_dir, name), entry.pw_uid, entry.pw_gid)
        os.chown(self.config.run_dir, entry.pw_uid, entry.pw_gid)
        os.setgroups([])
        os.setgid(entry.pw_gid)
        os.setuid(entry.pw_uid)
        if not os.access(sys.executable, os.X_OK):
            raise FastDNSError(f"user {user}: cannot run {sys.executable} for the workers "
                               "(install fastdns where that user can read and execute it)")
        log.info("running as %s (uid %d) from now on", user, entry.pw_uid)

    def _lock_run_dir(self) -> None:
        fd = os.open(os.path.join(self.config.run_dir, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FastDNSError(f"{self.config.run_dir}: another fastdns is running with this "
                               "run_dir (stop it, or set a different run_dir)") from None
        self._lock_fd = fd

    def _publish(self, zones: dict[str, LoadedZone]) -> float:
        """Compile zones into a new image beside the old one, check it, then publish it.

        :returns: the compile time in seconds.
        """
        assert self.control is not None
        cfg = self.config
        result = compile_zones(list(zones.values()), cfg.version, cfg.identity, cfg.minimal_responses,
                               progress=_log_progress, cache=self._compile_cache)
        self.last_compile = {"compiled": result.compiled, "reused": result.reused,
                             "seconds": round(result.seconds, 3)}
        generation = self.generation + 1
        path = image_path(self.config.run_dir, generation)
        with open(path + ".tmp", "wb") as f:
            f.write(result.image)
        os.replace(path + ".tmp", path)
        engine = self._check_image(path, zones)
        if self.tcp is not None:
            self.tcp.engine.set_image(engine.image)  # TCP switches with the workers
        if self.fallback is not None:
            self.fallback.set_image(engine.image)
        self._engine = engine
        self.control.publish(generation)
        self.generation = generation
        stale = image_path(self.config.run_dir, generation - 2)
        if os.path.exists(stale):
            os.unlink(stale)  # workers that mapped it keep their mapping until they switch
        return result.seconds

    def _check_image(self, path: str, zones: dict[str, LoadedZone]) -> _dataplane.Engine:
        """Read the file back as a worker will: checksum, header, and each zone's SOA.

        :returns: an engine answering from the image, for the TCP path.
        """
        import dns.message
        import dns.rcode

        with open(path, "rb") as f:
            image.read_header(f.read())
        engine = _dataplane.Engine(_dataplane.Image(path), self.config.udp_payload)
        for zone in zones.values():
            query = dns.message.make_query(zone.origin, "SOA", use_edns=False)
            reply = engine.answer(query.to_wire())
            if reply is None or dns.message.from_wire(reply).rcode() != dns.rcode.NOERROR:
                raise FastDNSError(f"compiled image {path} does not answer {zone.origin} SOA")
        return engine

    # -- running ---------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGTERM/SIGINT; returns the exit code."""
        try:
            asyncio.run(self._main())
        finally:
            self._cleanup()
        return 0

    async def _main(self) -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        self._reload_lock = asyncio.Lock()
        loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(self._reload_logged()))
        if os.path.exists(self.config.control_socket):
            os.unlink(self.config.control_socket)  # left by a crash: the run_dir lock is ours
        control = await asyncio.start_unix_server(
            self._serve_client, path=self.config.control_socket, limit=MAX_REQUEST)
        self.tcp = TcpServer(_dataplane.Engine(self._engine.image, self.config.udp_payload),
                             self.config.tcp_idle_timeout, self.config.tcp_max_connections)
        await self.tcp.start(self.tcp_sockets)
        if self.xdp_program is not None:
            await self._serve_udp_fallback()
        if self.config.metrics is not None:
            self._start_metrics()
        for slot, cpu in enumerate(self.config.cpus):
            self.workers.append(WorkerHandle(slot, cpu, self._spawn(slot), time.time()))
        supervisor = loop.create_task(self._supervise())
        systemd.notify("READY=1", f"STATUS=serving {len(self.zones)} zones with "
                                  f"{len(self.workers)} workers", f"MAINPID={os.getpid()}")
        if self.config.xdp is not None:
            xdp = self.config.xdp
            log.info("AF_XDP on %s (%s XDP, MTU %d): %s", xdp.interface, self.xdp_program.mode, xdp.mtu,
                     ", ".join(f"queue {q} -> CPU {c}" for q, c in zip(xdp.queues, self.config.cpus)))
        log.info("serving %s on %s with %d workers (CPUs %s)",
                 ", ".join(f"{z.origin.to_text(True)} serial {z.serial}" for z in self.zones.values()),
                 ", ".join(map(str, self.config.listen)), len(self.workers),
                 ", ".join(map(str, self.config.cpus)))
        await stop.wait()
        log.info("stopping")
        systemd.notify("STOPPING=1")
        self._stopping = True
        supervisor.cancel()
        control.close()
        self.tcp.close()
        await self._stop_workers()

    def _start_metrics(self) -> None:
        from fastdns.metrics import start_metrics

        address = self.config.metrics
        assert address is not None
        try:
            start_metrics(self, address.host, address.port)
        except OSError as e:
            raise FastDNSError(f"metrics {address}: cannot serve HTTP: {e.strerror}") from None
        log.info("Prometheus metrics on http://%s/metrics", str(address).replace("@", ":"))

    async def _serve_udp_fallback(self) -> None:
        """Answer UDP on the first socket of each group, with an engine (and counters) of its
        own: these are UDP queries, not TCP ones."""
        assert self._engine is not None
        loop = asyncio.get_running_loop()
        self.fallback = _dataplane.Engine(self._engine.image, self.config.udp_payload)
        for group in self.groups:
            await loop.create_datagram_endpoint(lambda: UdpFallback(self.fallback), sock=group[0])

    def _spawn(self, slot: int) -> subprocess.Popen[bytes]:
        """Start worker slot with the file descriptors and arguments of its backend."""
        if self.xdp_program is not None:
            xdp = self.config.xdp
            assert xdp is not None
            fds = [self.xdp_program.xsks_map_fd]
            backend = ["--backend", "xdp", "--ifname", xdp.interface, "--queue", str(xdp.queues[slot]),
                       "--xsks-map-fd", str(fds[0]), "--mtu", str(xdp.mtu)]
            backend += ["--busy-poll"] if xdp.busy_poll else []
        else:
            fds = [group[slot].fileno() for group in self.groups]
            backend = [arg for fd in fds for arg in ("--fd", str(fd))]
        return self._start_worker_process(slot, fds, backend)

    def _start_worker_process(self, slot: int, fds: list[int],
                              backend_args: list[str]) -> subprocess.Popen[bytes]:
        assert self.control is not None
        cmd = [
            sys.executable, "-m", "fastdns.worker", "--slot", str(slot),
            "--cpu", str(self.config.cpus[slot]), "--run-dir", self.config.run_dir,
            "--control-block", self.control.path, "--control-size", str(self.control.size),
            "--counters-offset", str(self.control.counters_offset(slot)),
            "--udp-payload", str(self.config.udp_payload), "--parent", str(os.getpid()),
        ] + backend_args
        # A profiling hook, e.g. FASTDNS_WORKER_WRAPPER="valgrind --tool=callgrind" for the
        # benchmark's instruction counts; never set in normal operation.
        wrapper = shlex.split(os.environ.get("FASTDNS_WORKER_WRAPPER", ""))
        return subprocess.Popen(wrapper + cmd, pass_fds=fds)

    async def _supervise(self) -> None:
        """Restart a worker that died, on the same CPU with the same sockets; one that keeps
        dying, or cannot be started, is retried with a doubling delay."""
        while True:
            await asyncio.sleep(RESTART_POLL_S)
            for worker in self.workers:
                if self._stopping:
                    return
                try:
                    self._supervise_one(worker)
                except Exception:  # never let the supervisor die: the next poll tries again
                    log.exception("supervising worker %d failed", worker.slot)

    def _supervise_one(self, worker: WorkerHandle) -> None:
        now = time.monotonic()
        if worker.retry_at is None:
            code = worker.process.poll()
            if code is None:
                return
            worker.restarts += 1
            worker.backoff = _next_backoff(worker.backoff) if time.time() - worker.started < STABLE_S else 0.0
            worker.retry_at = now + worker.backoff
            log.warning("worker %d (CPU %d, pid %d) exited with %s; restarting (restart %d)%s",
                        worker.slot, worker.cpu, worker.process.pid, _exit_text(code),
                        worker.restarts, f" in {worker.backoff:.1f} s" if worker.backoff else "")
        if now < worker.retry_at:
            return
        try:
            worker.process = self._spawn(worker.slot)
        except Exception as e:
            worker.backoff = _next_backoff(worker.backoff)
            worker.retry_at = now + worker.backoff
            log.error("worker %d (CPU %d): cannot restart: %s; retrying in %.1f s",
                      worker.slot, worker.cpu, e, worker.backoff)
            return
        worker.retry_at = None
        worker.started = time.time()

    async def _stop_workers(self) -> None:
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and any(w.process.poll() is None for w in self.workers):
            await asyncio.sleep(0.02)
        for worker in self.workers:
            if worker.process.poll() is None:
                log.warning("worker %d did not stop in %.0f s; killing it", worker.slot, STOP_GRACE_S)
                worker.process.kill()
                worker.process.wait()

    def _cleanup(self) -> None:
        for group in self.groups:
            for sock in group:
                sock.close()
        for sock in self.tcp_sockets:
            sock.close()
        if self.xdp_program is not None:
            self.xdp_program.detach()  # after the workers: the interface is as we found it
        run_dir = self.config.run_dir
        for generation in (self.generation - 1, self.generation):
            _unlink_quietly(image_path(run_dir, generation))
        _unlink_quietly(self.config.control_socket)
        if self.control is not None:
            self.control.close()
            _unlink_quietly(self.control.path)
        if self._lock_fd is not None:
            os.close(self._lock_fd)

    # -- control socket --------------------------------------------------------------------

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            try:
                request = json.loads(line)
                command = request["command"]
            except (ValueError, KeyError, TypeError):
                reply = {"ok": False, "errors": ["bad request: expected a JSON object with a command"]}
            else:
                reply = await self._dispatch(command, request)
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()

    async def _dispatch(self, command: str, request: dict) -> dict:
        if command == "reload":
            return await self.reload(request.get("zones") or None)
        if command == "status":
            return self.status()
        if command == "stats":
            return self.stats()
        return {"ok": False, "errors": [f"unknown command '{command}' (reload, status, stats)"]}

    async def reload(self, names: list[str] | None) -> dict:
        """Reload on a daemon thread: a compile of minutes neither blocks the control socket
        nor holds up the process when SIGTERM stops it halfway."""
        async with self._reload_lock:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[dict] = loop.create_future()

            def work() -> None:
                try:
                    result = self._reload_sync(names)
                except Exception as e:  # reported to the client, never lost in a thread
                    result = {"ok": False, "errors": [f"reload failed: {e}"], "changes": []}
                loop.call_soon_threadsafe(lambda: done.done() or done.set_result(result))

            threading.Thread(target=work, name="fastdns-reload", daemon=True).start()
            return await done

    async def _reload_logged(self) -> None:
        reply = await self.reload(None)
        for line in reload_report(reply):
            (log.info if reply["ok"] else log.error)("reload: %s", line)

    def _reload_sync(self, names: list[str] | None) -> dict:
        """Re-read the zone files that changed on disk and publish the result; a zone that
        fails to load keeps its previous version serving."""
        _lower_thread_priority()
        started = time.monotonic()
        wanted = self.config.zones
        if names is not None:
            known = {_canonical(z.name): z for z in self.config.zones}
            unknown = [n for n in names if _canonical(n) not in known]
            if unknown:
                return {"ok": False, "errors": [f"{unknown[0]}: no such zone in {self.config.path}"],
                        "changes": []}
            wanted = tuple(known[_canonical(n)] for n in names)
        zones = dict(self.zones)
        changes, errors = [], []
        for zc in wanted:
            old = self.zones[zc.name]
            if old.file_unchanged():
                changes.append({"zone": zc.name, "old_serial": old.serial,
                                "new_serial": old.serial, "changed": False})
                continue
            try:
                new = load_zone(zc.name, zc.file)
            except ZoneError as e:
                errors.append(f"{e} ({zc.name} keeps serving serial {old.serial})")
                continue
            changed = new.zone != old.zone
            changes.append({"zone": zc.name, "old_serial": old.serial, "new_serial": new.serial,
                            "changed": changed})
            if changed:
                zones[zc.name] = new
            else:  # touched, same content: remember the file as it is now, and skip it next time
                old.mtime_ns, old.size = new.mtime_ns, new.size  # same object: compile cache kept
        if any(c["changed"] for c in changes):
            try:
                self._publish(zones)
            except (FastDNSError, ValueError) as e:
                return {"ok": False, "errors": errors + [f"compile failed, nothing changed: {e}"],
                        "changes": []}
            self.zones = zones
        return {"ok": not errors, "changes": changes, "errors": errors,
                "generation": self.generation, "seconds": round(time.monotonic() - started, 3),
                "compile": self.last_compile}

    def status(self) -> dict:
        now = time.time()
        return {
            "ok": True,
            "pid": os.getpid(),
            "uptime": round(now - self.started, 1),
            "generation": self.generation,
            "listen": [str(a) for a in self.config.listen],
            "zones": [{"zone": z.origin.to_text(True), "serial": z.serial, "file": z.filename}
                      for z in self.zones.values()],
            "workers": [{"slot": w.slot, "cpu": w.cpu, "pid": w.process.pid,
                         "queue": self.config.xdp.queues[w.slot] if self.config.xdp else None,
                         "alive": w.process.poll() is None, "restarts": w.restarts,
                         "uptime": round(now - w.started, 1)} for w in self.workers],
        }

    def stats(self) -> dict:
        assert self.control is not None
        reply = {"ok": True, "total": self.control.totals(),
                 "workers": [self.control.counters(w.slot) for w in self.workers],
                 "tcp": self.tcp.stats() if self.tcp is not None else {}}
        fallback = self.fallback_counters()
        if fallback is not None:
            reply["fallback"] = fallback
        return reply

    def fallback_counters(self) -> dict | None:
        """Counters of the UDP the control process answers itself (backend xdp), else None."""
        if self.fallback is None:
            return None
        return dict(zip(COUNTERS, self.fallback.counters()))


def attach_xdp(config: Config):  # -> fastdns._xdp.XdpProgram
    """Load the XDP program and attach it to the configured interface.

    :raises FastDNSError: when the extension is missing or the kernel refuses.
    """
    import ipaddress

    try:
        from fastdns import _xdp
    except ImportError:
        raise FastDNSError("backend xdp needs the AF_XDP extension: install libxdp-dev, "
                           "libbpf-dev and clang, then rebuild (make build)") from None
    xdp = config.xdp
    assert xdp is not None
    addresses = [ipaddress.ip_address(a.host) for a in config.listen]
    unspecified = any(a.is_unspecified for a in addresses)
    v4 = [] if unspecified else [a.packed for a in addresses if a.version == 4]
    v6 = [] if unspecified else [a.packed for a in addresses if a.version == 6]
    obj = os.path.join(os.path.dirname(__file__), "xdp_dns.bpf.o")
    try:
        return _xdp.XdpProgram(xdp.interface, obj, config.listen[0].port, v4, v6,
                               generic=xdp.mode == "generic")
    except (OSError, ValueError) as e:
        raise FastDNSError(str(e)) from None


class UdpFallback(asyncio.DatagramProtocol):
    """Answers, in the control process, datagrams the XDP program leaves to the kernel."""

    def __init__(self, engine: _dataplane.Engine) -> None:
        self.engine = engine
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        reply = self.engine.answer(data)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


def reload_report(reply: dict) -> list[str]:
    """Human-readable lines for a reload reply: one per zone, then the errors."""
    lines = []
    for c in reply.get("changes", []):
        if not c["changed"]:
            lines.append(f"{c['zone']}: serial {c['new_serial']}, unchanged")
        elif c["new_serial"] == c["old_serial"]:
            lines.append(f"{c['zone']}: serial {c['old_serial']} -> {c['new_serial']} "
                         "(content changed but the serial did not increase)")
        else:
            lines.append(f"{c['zone']}: serial {c['old_serial']} -> {c['new_serial']}")
    if "seconds" in reply and any(c["changed"] for c in reply.get("changes", [])):
        compiled = ", ".join(reply.get("compile", {}).get("compiled", [])) or "none"
        lines.append(f"published generation {reply['generation']} in {reply['seconds']:.3f} s "
                     f"(recompiled: {compiled})")
    lines += [f"error: {e}" for e in reply.get("errors", [])]
    return lines


#: nice value of the thread that loads and compiles zones on reload: a long compile shares
#: a CPU with a worker, and the worker must win.
COMPILE_NICE = 10


def _lower_thread_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), COMPILE_NICE)
    except OSError:
        pass  # not permitted here: compile at normal priority


def _log_progress(zone: str, done: int, total: int) -> None:
    log.info("compiling %s: %d/%d names (%d%%)", zone, done, total, 100 * done // total)


def _canonical(name: str) -> str:
    return name.lower().rstrip(".")


def _next_backoff(previous: float) -> float:
    return min(max(2 * previous, RESTART_BACKOFF_MIN_S), RESTART_BACKOFF_MAX_S)


def _exit_text(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"status {code}"


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
