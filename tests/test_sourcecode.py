# SPDX-License-Identifier: MIT
"""The source itself: ruff (lint) and mypy (types, with the extensions' stubs) as configured
in pyproject.toml. `make test` installs both into .venv."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINTED = ["fastdns", "tests", "deploy", "fuzz", "setup.py"]


def tool(name: str) -> str:
    """The tool installed next to this interpreter (the venv's), else one on PATH."""
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (make test installs it)")
    return found


def run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_ruff() -> None:
    result = run(tool("ruff"), "check", "--no-fix", "--output-format", "concise", *LINTED)
    if result.returncode != 0:
        pytest.fail(f"ruff check {' '.join(LINTED)}:\n{result.stdout}{result.stderr}", pytrace=False)


def test_mypy() -> None:
    result = run(tool("mypy"))  # files and options from [tool.mypy]
    if result.returncode != 0:
        pytest.fail(f"mypy:\n{result.stdout}{result.stderr}", pytrace=False)
