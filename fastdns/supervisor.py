# SPDX-License-Identifier: MIT
"""Supervision of the worker processes: start one per slot, restart a dead one on the same
CPU with the same sockets (backing off when it keeps dying), stop them all on the way out."""

from __future__ import annotations

import asyncio
import logging
import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import fastdns
from fastdns.workerspec import WorkerSpec

log = logging.getLogger("fastdns")

RESTART_POLL_S = 0.1  #: how often dead workers are looked for: restarts well within 1 s
STOP_GRACE_S = 5.0  #: how long workers get to finish their batch before SIGKILL
#: a worker that exits (or cannot be started) within STABLE_S of its start is restarted
#: after a delay doubling from RESTART_BACKOFF_MIN_S to RESTART_BACKOFF_MAX_S
STABLE_S = 10.0
RESTART_BACKOFF_MIN_S = 0.1
RESTART_BACKOFF_MAX_S = 5.0

Spawn = Callable[[int], "subprocess.Popen[bytes]"]


@dataclass
class WorkerHandle:
    slot: int
    cpu: int
    process: subprocess.Popen[bytes]
    started: float  #: time.time() of the last start
    restarts: int = 0
    backoff: float = 0.0  #: seconds waited before the last restart attempt
    retry_at: float | None = None  #: time.monotonic() of the next restart attempt, when down

    @property
    def alive(self) -> bool:
        return self.process.poll() is None


#: The directory holding the fastdns package this process runs: the workers import that
#: one, whatever their working directory holds or the interpreter would find by default.
PACKAGE_ROOT = str(Path(fastdns.__file__).resolve().parent.parent)


def spawn_worker(spec: WorkerSpec) -> subprocess.Popen[bytes]:
    """Start the worker process a spec describes: from "/", with `-P` (so nothing in a
    working directory is imported) and this process's fastdns first on its path."""
    # A profiling hook, e.g. FASTDNS_WORKER_WRAPPER="valgrind --tool=callgrind" for the
    # benchmark's instruction counts; never set in normal operation.
    wrapper = shlex.split(os.environ.get("FASTDNS_WORKER_WRAPPER", ""))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PACKAGE_ROOT, env.get("PYTHONPATH")]))
    return subprocess.Popen(spec.command(wrapper), pass_fds=spec.pass_fds(), cwd="/", env=env)


class Supervisor:
    """Keeps one worker process per slot running."""

    def __init__(self, cpus: tuple[int, ...], spawn: Spawn) -> None:
        """:param spawn: starts the worker of a slot (a spec built by the caller)."""
        self.cpus = cpus
        self.spawn = spawn
        self.workers: list[WorkerHandle] = []
        self._stopping = False

    def start(self) -> None:
        for slot, cpu in enumerate(self.cpus):
            self.workers.append(WorkerHandle(slot, cpu, self.spawn(slot), time.time()))

    async def run(self) -> None:
        """Restart workers that die, until cancelled or stopped."""
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
            worker.process = self.spawn(worker.slot)
        except Exception as e:
            worker.backoff = _next_backoff(worker.backoff)
            worker.retry_at = now + worker.backoff
            log.error("worker %d (CPU %d): cannot restart: %s; retrying in %.1f s",
                      worker.slot, worker.cpu, e, worker.backoff)
            return
        worker.retry_at = None
        worker.started = time.time()

    async def stop(self) -> None:
        """SIGTERM every worker, SIGKILL those still running after STOP_GRACE_S."""
        self._stopping = True
        for worker in self.workers:
            if worker.alive:
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and any(w.alive for w in self.workers):
            await asyncio.sleep(0.02)
        for worker in self.workers:
            if worker.alive:
                log.warning("worker %d did not stop in %.0f s; killing it", worker.slot, STOP_GRACE_S)
                worker.process.kill()
                worker.process.wait()


def _next_backoff(previous: float) -> float:
    return min(max(2 * previous, RESTART_BACKOFF_MIN_S), RESTART_BACKOFF_MAX_S)


def _exit_text(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"status {code}"
