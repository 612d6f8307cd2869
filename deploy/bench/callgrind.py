# SPDX-License-Identifier: MIT
"""User-space instructions per query, counted by callgrind: a loaded run minus an idle run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  #: callgrind names the generated C relative to it


def valgrind_command(out_dir: Path) -> list[str]:
    """The wrapper: one output file per process (NSD forks its servers)."""
    return ["valgrind", "--tool=callgrind", "--quiet",
            f"--callgrind-out-file={out_dir}/callgrind.out.%p"]


def output_files(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("callgrind.out.*"))


def total_instructions(out_dir: Path) -> int:
    """Instructions executed by every process that ran under callgrind in this directory."""
    total = 0
    for path in output_files(out_dir):
        text = path.read_text(errors="replace")
        m = re.search(r"^totals:\s*(\d+)", text, re.M) or re.search(r"^summary:\s*(\d+)", text, re.M)
        if m:
            total += int(m.group(1))
    return total


_LINE = re.compile(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.+?)\s*$")


def functions(out_dir: Path) -> dict[str, int]:
    """Exclusive instructions per function ("file:function [object]"), over all processes."""
    counts: dict[str, int] = {}
    for path in output_files(out_dir):
        text = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no",
                               str(path)], capture_output=True, text=True, timeout=120, cwd=REPO).stdout
        if "file:function" not in text:
            continue
        table = text.split("file:function", 1)[1].split("\n", 2)[-1]  # after the header rule
        for line in table.splitlines():
            m = _LINE.match(line)
            if m:
                name = _short(m.group(2))
                counts[name] = counts.get(name, 0) + int(m.group(1).replace(",", ""))
    return counts


def _short(name: str) -> str:
    """'./malloc/./malloc/malloc.c:_int_malloc [/usr/lib/.../libc.so.6]' -> '_int_malloc (libc.so.6)'."""
    m = re.match(r"(?:.*?:)?([^:\[\s]+(?:'\d+)?)\s*(?:\[(.*)\])?$", name)
    if not m:
        return name
    function, obj = m.group(1), (m.group(2) or "").rsplit("/", 1)[-1]
    return f"{function} ({obj})" if obj else function


def top_per_query(loaded: Path, idle: Path, queries: int, count: int = 15) -> list[tuple[str, float]]:
    """The functions that cost the most per query: loaded minus idle, divided by queries."""
    busy, quiet = functions(loaded), functions(idle)
    diff = {name: (n - quiet.get(name, 0)) / queries for name, n in busy.items()}
    return sorted(diff.items(), key=lambda item: -item[1])[:count]


_MARKER = re.compile(r'/\* "([^"]+\.(?:pyx|pxi|pxd))":(\d+)')
_COST = re.compile(r"^\s*([\d,]+|\.)\s{2}(.*)$")


def source_lines(out_dir: Path, c_file: str = "dataplane.c") -> dict[str, int]:
    """Instructions per source line of fastdns's data plane, over all processes.

    callgrind counts lines of the generated C; Cython marks each block of C with the
    .pyx/.pxi line it came from (a comment with that line flagged by '<<<<'), and the C
    lines' costs are summed under the last mark seen ("ext/respond.pxi:120: the line").
    Hand-written C under ext/ (inline helpers in headers) is keyed by file and line text.
    Call lines ('=>') are inclusive costs of callees, counted where the callee is.
    """
    counts: dict[str, int] = {}
    for path in output_files(out_dir):
        text = subprocess.run(["callgrind_annotate", "--auto=yes", "--show-percs=no", "--context=1000000",
                               "--threshold=100", str(path)],
                              capture_output=True, text=True, timeout=300, cwd=REPO).stdout
        where, section, opened = "", "", False
        for line in text.splitlines():
            if line.startswith("-- Auto-annotated source:"):
                name = line.split(":", 1)[1].strip()
                section = ("cython" if name.endswith(c_file) else
                           name[name.find("ext/"):] if "ext/" in name else "")
                opened = True
                continue
            if line.startswith("-----"):  # the rule under a header, or the end of a section
                section, opened = (section if opened else ""), False
                continue
            m = _COST.match(line) if section else None
            if not m:
                continue
            cost, code = m.groups()
            if section != "cython":
                if cost != "." and not code.lstrip().startswith("=>"):
                    key = f"{section}: {code.strip()[:90]}"
                    counts[key] = counts.get(key, 0) + int(cost.replace(",", ""))
                continue
            marker = _MARKER.search(code)
            if marker:
                where = f"{marker.group(1)}:{marker.group(2)}"
            elif "<<<<<<<<<<<<<<" in code and where.count(":") == 1:
                where += ": " + code.strip(" *").replace("# <<<<<<<<<<<<<<", "").strip()
            elif cost != "." and where and not code.lstrip().startswith("=>"):
                counts[where] = counts.get(where, 0) + int(cost.replace(",", ""))
    return counts


def top_lines_per_query(loaded: Path, idle: Path, queries: int, count: int = 15) -> list[tuple[str, float]]:
    """The Cython source lines that cost the most per query: loaded minus idle."""
    busy, quiet = source_lines(loaded), source_lines(idle)
    diff = {name: (n - quiet.get(name, 0)) / queries for name, n in busy.items()}
    return sorted(diff.items(), key=lambda item: -item[1])[:count]
