# SPDX-License-Identifier: MIT
"""Dropping root: once every socket is bound, the control process becomes the configured
user, and so do the workers and reloads it starts from then on."""

from __future__ import annotations

import logging
import os
import pwd
import sys

from fastdns.errors import FastDNSError
from fastdns.rundir import RunDir

log = logging.getLogger("fastdns")


def drop_privileges(user: str, run_dir: RunDir) -> None:
    """Become user; the run directory (images, control block) is handed over first.

    :raises FastDNSError: no such user, not root, or the user cannot run the workers.
    """
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise FastDNSError(f"user {user}: no such user") from None
    if os.geteuid() != 0:
        raise FastDNSError(f"user {user}: only root can switch users (or start fastdns as {user})")
    run_dir.give_to(entry.pw_uid, entry.pw_gid)
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)
    if not os.access(sys.executable, os.X_OK):
        raise FastDNSError(f"user {user}: cannot run {sys.executable} for the workers "
                           "(install fastdns where that user can read and execute it)")
    log.info("running as %s (uid %d) from now on", user, entry.pw_uid)
