# SPDX-License-Identifier: MIT
"""`make build` builds what this machine can build now, whatever the stamps say.

The README's order, `make run` on a machine without the XDP packages and then `make test`
(which installs them), used to leave fastdns._xdp unbuilt: the stamps were newer than the
packages' headers. Here the AF_XDP build products are moved aside and every stamp in .venv
made newer than everything, as after such a `make run`; `make build` must bring them back.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
VENV = ROOT / ".venv"
# What the AF_XDP build leaves behind, in the package and in setup.py's build directory;
# ext/xdp.c too, so Cython runs again as on a machine that never built it.
XDP_PRODUCTS = ["fastdns/_xdp*.so", "fastdns/xdp_dns.bpf.o", "build/lib.*/fastdns/_xdp*.so",
                "build/lib.*/fastdns/xdp_dns.bpf.o", "ext/xdp.c"]


def xdp_buildable() -> bool:
    """As setup.py decides: libxdp/libbpf headers and clang."""
    return (Path("/usr/include/xdp/xsk.h").exists() and Path("/usr/include/bpf/libbpf.h").exists()
            and shutil.which("clang") is not None)


def make_env() -> dict[str, str]:
    """The environment without the outer make's (we run inside `make test`): a fresh make."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


def move_aside(patterns: list[str], to: Path) -> list[tuple[Path, Path]]:
    """Moves what matches into to; returns (original, moved) pairs."""
    moved = []
    for i, name in enumerate(sorted({p for pattern in patterns for p in glob.glob(str(ROOT / pattern))})):
        target = to / f"{i}-{Path(name).name}"
        shutil.move(name, target)
        moved.append((Path(name), target))
    return moved


def stamps_newer_than_everything() -> None:
    for stamp in VENV.glob(".*"):
        if stamp.is_file():
            os.utime(stamp)  # now: after every source and every installed header


def test_make_build_builds_xdp_after_its_packages_arrive(tmp_path):
    if not xdp_buildable():
        pytest.skip("libxdp-dev, libbpf-dev or clang not installed (make test installs them)")
    if shutil.which("make") is None or not (VENV / "bin" / "python").exists():
        pytest.skip("needs make and the checkout's .venv (make build)")
    moved = move_aside(XDP_PRODUCTS, tmp_path)
    passed = False
    try:
        stamps_newer_than_everything()
        build = subprocess.run(["make", "build"], cwd=ROOT, env=make_env(), capture_output=True,
                               text=True, timeout=600)
        assert build.returncode == 0, f"make build failed:\n{build.stdout}{build.stderr}"
        assert glob.glob(str(ROOT / "fastdns/_xdp*.so")), f"make build did not build fastdns._xdp:\n{build.stdout}"
        assert (ROOT / "fastdns/xdp_dns.bpf.o").exists(), "make build did not build fastdns/xdp_dns.bpf.o"
        imported = subprocess.run([sys.executable, "-c", "import fastdns._xdp"], cwd=ROOT,
                                  capture_output=True, text=True, timeout=60)
        assert imported.returncode == 0, imported.stderr
        passed = True
    finally:
        if not passed:  # leave the checkout as it was
            for original, aside in moved:
                if original.exists():
                    original.unlink()
                shutil.move(aside, original)
