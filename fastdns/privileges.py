# SPDX-License-Identifier: MIT
"""Privileges once fastdns serves (docs/privileges.md has the table of who holds what).

The control process binds every socket and attaches the XDP program with what it was
started with (root, or the ambient capabilities systemd gives it), then
- becomes the configured `user:` (drop_privileges), or, started unprivileged with
  capabilities, lowers them (keep_capabilities);
- keeps only what its backend's workers need to open their endpoint (none for `udp`;
  CAP_NET_RAW and CAP_IPC_LOCK, and CAP_BPF on older kernels, for `xdp`) in its permitted,
  inheritable and ambient sets, never in its effective set: nothing it runs (zone files,
  TCP, transfers) can use them without raising them first; the workers it starts get them
  as ambient capabilities, effective from their exec;
- a worker drops every capability once its endpoint is open (drop_capabilities).

Linux keeps capabilities per thread: they are set in the main thread, which starts every
worker, before any other thread runs; threads started later copy them.  Python has no
wrapper for capset or PR_CAP_AMBIENT, so libc's are called through ctypes.
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import pwd
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from fastdns.errors import FastDNSError
from fastdns.rundir import RunDir

log = logging.getLogger("fastdns")

# linux/capability.h
CAP_NET_BIND_SERVICE = 10
CAP_NET_ADMIN = 12
CAP_NET_RAW = 13
CAP_IPC_LOCK = 14
CAP_SYS_ADMIN = 21
CAP_BPF = 39
NAMES = {CAP_NET_BIND_SERVICE: "CAP_NET_BIND_SERVICE", CAP_NET_ADMIN: "CAP_NET_ADMIN", CAP_NET_RAW: "CAP_NET_RAW",
         CAP_IPC_LOCK: "CAP_IPC_LOCK", CAP_SYS_ADMIN: "CAP_SYS_ADMIN", CAP_BPF: "CAP_BPF"}

# linux/prctl.h
PR_SET_KEEPCAPS = 8
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4
_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


# The process's own symbols, libc's among them: ctypes.util.find_library would cost each
# worker 2 MiB of imports (and may run ldconfig) for the same answer.
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass(frozen=True)
class Capabilities:
    """A thread's capability sets, as bit masks (bit n: capability n)."""

    effective: int
    permitted: int
    inheritable: int
    ambient: int
    bounding: int


def mask(caps: Iterable[int]) -> int:
    return sum(1 << cap for cap in set(caps))


def names(bits: int) -> str:
    """Capability names of a mask, like "CAP_NET_RAW, CAP_IPC_LOCK"; "none"."""
    caps = [NAMES.get(cap, f"capability {cap}") for cap in range(64) if bits >> cap & 1]
    return ", ".join(caps) or "none"


def current() -> Capabilities:
    """The calling thread's capability sets (/proc/thread-self/status)."""
    fields = {}
    with open("/proc/thread-self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key.startswith("Cap"):
                fields[key] = int(value, 16)
    return Capabilities(fields["CapEff"], fields["CapPrm"], fields["CapInh"], fields["CapAmb"], fields["CapBnd"])


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _set(effective: int, permitted: int, inheritable: int) -> None:
    """capset(2) on the calling thread."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)(*[_Data(effective >> s & 0xFFFFFFFF, permitted >> s & 0xFFFFFFFF,
                               inheritable >> s & 0xFFFFFFFF) for s in (0, 32)])
    _check(_libc.capset(ctypes.byref(header), data), "capset")


def _prctl(option: int, arg2: int, arg3: int = 0) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(0), ctypes.c_ulong(0)),
           f"prctl({option}, {arg2})")


def _hold_for_workers(keep: int) -> None:
    """Keep exactly the capabilities of keep: permitted, inheritable and ambient (what an
    exec'd worker gets), not effective (what this process may use)."""
    _set(0, keep, keep)
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    for cap in range(64):
        if keep >> cap & 1:
            _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap)
    held = current()
    if (held.effective, held.permitted, held.ambient) != (0, keep, keep):
        raise FastDNSError(f"capabilities: kept {names(held.permitted)} (ambient {names(held.ambient)}, "
                           f"effective {names(held.effective)}), not {names(keep)}")


def drop_privileges(user: str, run_dir: RunDir, keep: Iterable[int] = ()) -> None:
    """Become user; the run directory (images, control block) is handed over first.  The
    capabilities in keep stay permitted and ambient for the workers (not effective); every
    other capability goes, from the bounding set too.  Without keep: a plain setuid.

    :raises FastDNSError: no such user, not root, or the user cannot run the workers.
    """
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise FastDNSError(f"user {user}: no such user") from None
    if os.geteuid() != 0:
        raise FastDNSError(f"user {user}: only root can switch users (or start fastdns as {user})")
    wanted = mask(keep)
    kept = wanted & current().permitted  # root in a container may lack some
    if wanted & ~kept:
        log.warning("started without %s: the workers may not open their endpoints (docs/privileges.md)",
                    names(wanted & ~kept))
    run_dir.give_to(entry.pw_uid, entry.pw_gid)
    _other_threads()  # glibc aborts a set*id whose call fails in one thread and not another
    try:
        _become(entry, kept)
    except OSError as e:
        raise FastDNSError(f"user {user}: cannot drop privileges: {e.strerror or e}") from None
    if not os.access(sys.executable, os.X_OK):
        raise FastDNSError(f"user {user}: cannot run {sys.executable} for the workers "
                           "(install fastdns where that user can read and execute it)")
    held = f"; kept for the workers (ambient, not effective): {names(kept)}" if kept else ""
    log.info("running as %s (uid %d) from now on%s", user, entry.pw_uid, held)


def _become(entry: pwd.struct_passwd, kept: int) -> None:
    """setuid to entry's user, keeping kept permitted and ambient (and in the bounding set)."""
    if kept:
        _prctl(PR_SET_KEEPCAPS, 1)  # this thread's permitted set survives the setuid below
        last = int(open("/proc/sys/kernel/cap_last_cap").read())
        for cap in range(last + 1):
            if not kept >> cap & 1:
                _prctl(PR_CAPBSET_DROP, cap)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)  # every thread: the others (none should run) lose every capability
    if kept:
        _prctl(PR_SET_KEEPCAPS, 0)
        _hold_for_workers(kept)


def keep_capabilities(keep: Iterable[int]) -> None:
    """Started unprivileged with capabilities (systemd's AmbientCapabilities): once bound
    and attached, keep only those of keep, for the workers (as drop_privileges does), and
    none effective.  Nothing when keep is empty (the `udp` backend: left as it was) or when
    running as root (root's workers are root).

    :raises FastDNSError: another thread is running, so it would keep what it has.
    """
    wanted = mask(keep)
    if not wanted or os.geteuid() == 0:
        return
    others = _other_threads()
    if others:
        raise FastDNSError(f"capabilities: {len(others)} other threads run, and would keep theirs")
    held = current()
    missing = wanted & ~held.permitted
    if missing:
        log.warning("started without %s: the workers may not open their endpoints (docs/privileges.md)",
                    names(missing))
    try:
        _hold_for_workers(wanted & held.permitted)
    except OSError as e:
        raise FastDNSError(f"capabilities: cannot keep them for the workers: {e.strerror or e}") from None
    log.info("capabilities from now on: none effective; kept for the workers (ambient): %s",
             names(wanted & held.permitted))


def _other_threads(wait_s: float = 2.0) -> list[str]:
    """The threads of this process other than the caller's, once those that are ending
    (a Python thread joined may not have left the kernel yet) have gone; waits up to wait_s."""
    me = str(threading.get_native_id())
    deadline = time.monotonic() + wait_s
    while True:
        others = [tid for tid in os.listdir("/proc/self/task") if tid != me]
        if not others or time.monotonic() > deadline:
            return others
        time.sleep(0.005)


def drop_capabilities() -> None:
    """For a worker whose endpoint is open: no capability in any set from now on."""
    held = current()
    if held.effective | held.permitted | held.inheritable | held.ambient:
        _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
        _set(0, 0, 0)


def map_use_needs_cap_bpf(map_fd: int) -> bool:
    """Whether this kernel refuses the bpf() calls on a map fd held by a process without
    CAP_BPF: so before Linux 6.5 with kernel.unprivileged_bpf_disabled set (the check then
    guarded every bpf() command; since, only map and program creation).  Tried, not
    guessed from versions: a thread without effective capabilities asks the map for its
    first key.  True when it cannot be tried (no libbpf to ask through)."""
    import ctypes.util  # the control process's, once at start

    name = ctypes.util.find_library("bpf")
    if name is None:
        return True
    libbpf = ctypes.CDLL(name, use_errno=True)
    refused: list[bool] = []

    def probe() -> None:
        held = current()
        _set(0, held.permitted, held.inheritable)  # this thread only
        try:
            key = ctypes.c_uint32()
            result = libbpf.bpf_map_get_next_key(map_fd, None, ctypes.byref(key))
            refused.append(result != 0 and ctypes.get_errno() == errno.EPERM)
        finally:  # as the other threads again, for the set*id calls to come
            _set(held.effective, held.permitted, held.inheritable)

    thread = threading.Thread(target=probe, name="fastdns-bpf-probe")
    thread.start()
    thread.join()
    return refused == [True]
