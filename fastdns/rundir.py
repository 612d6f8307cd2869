# SPDX-License-Identifier: MIT
"""The run directory: what one running fastdns keeps on disk, and who may touch it.

    lock            flock'd by the control process: one fastdns per run directory
    control.block   the generation word and the workers' counters (controlblock.py)
    image.<gen>     compiled images; the published one and the one before it
    control.sock    the control socket (its path may be configured elsewhere)
"""

from __future__ import annotations

import fcntl
import os

from fastdns.controlblock import ControlBlock
from fastdns.errors import FastDNSError


def image_path(run_dir: str, generation: int) -> str:
    """Where the image of a generation lives; the workers and the publisher agree on it."""
    return os.path.join(run_dir, f"image.{generation}")


class RunDir:
    """The control process's run directory: lock, image paths, control block, socket."""

    def __init__(self, path: str, control_socket: str) -> None:
        self.path = path
        self.control_socket = control_socket
        self.control: ControlBlock | None = None
        self._lock_fd: int | None = None

    def lock(self) -> None:
        """Create the directory and take its lock.

        :raises FastDNSError: another fastdns holds it.
        """
        os.makedirs(self.path, exist_ok=True)
        fd = os.open(os.path.join(self.path, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FastDNSError(f"{self.path}: another fastdns is running with this "
                               "run_dir (stop it, or set a different run_dir)") from None
        self._lock_fd = fd

    def image_path(self, generation: int) -> str:
        return image_path(self.path, generation)

    def open_control_block(self, slots: int) -> ControlBlock:
        self.control = ControlBlock(os.path.join(self.path, "control.block"), slots)
        return self.control

    def give_to(self, uid: int, gid: int) -> None:
        """Hand the directory and what is in it (images, control block) to the user we
        become, who must go on writing them."""
        for name in os.listdir(self.path):
            os.chown(os.path.join(self.path, name), uid, gid)
        os.chown(self.path, uid, gid)

    def remove_stale_socket(self) -> None:
        """A control socket left by a crash: the lock is ours, so nobody serves on it."""
        unlink_quietly(self.control_socket)

    def cleanup(self, generations: tuple[int, ...]) -> None:
        """Remove what this run left: the images of the given generations, the socket, the
        control block; then release the lock.  Nothing, when the lock was never ours: the
        files belong to the fastdns that holds it."""
        if self._lock_fd is None:
            return
        for generation in generations:
            unlink_quietly(self.image_path(generation))
        unlink_quietly(self.control_socket)
        if self.control is not None:
            self.control.close()
            unlink_quietly(self.control.path)
        os.close(self._lock_fd)
        self._lock_fd = None


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
