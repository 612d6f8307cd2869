# SPDX-License-Identifier: MIT
"""The data plane fuzzed (docs/fuzzing.md): fuzz/build.py builds the libFuzzer target over
ext/'s answering core (ASan, UBSan, and fuzz/harness.c's invariants); a bounded run from
the seed corpus ends clean, and every input that once broke it (tests/fuzz/crashes/) and
every seed passes.  `make fuzz` runs it for as long as asked."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
BUILD = ROOT / "build" / "fuzz"
SEEDS = ROOT / "fuzz" / "corpus"
CRASHES = Path(__file__).resolve().parent / "crashes"
#: the bounded run's length; `make test` must stay well under half an hour
SECONDS = 25


def libfuzzer_missing() -> str | None:
    clang = shutil.which("clang")
    if clang is None:
        return "clang is not installed (make test installs it)"
    resource = subprocess.run([clang, "-print-resource-dir"], capture_output=True, text=True).stdout.strip()
    if not (Path(resource) / "lib" / "linux" / "libclang_rt.fuzzer-x86_64.a").exists():
        return "clang's libFuzzer runtime is not installed (Debian: libclang-rt-dev; make test installs it)"
    return None


@pytest.fixture(scope="module")
def fuzzer() -> Path:
    reason = libfuzzer_missing()
    if reason is not None:
        pytest.skip(reason)
    built = subprocess.run([sys.executable, str(ROOT / "fuzz" / "build.py"), str(BUILD)], capture_output=True,
                           text=True, timeout=600, cwd=ROOT)
    assert built.returncode == 0, f"fuzz/build.py failed:\n{built.stdout}{built.stderr}"
    return BUILD / "fastdns-fuzz"


def run(fuzzer: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(fuzzer), *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def report(result: subprocess.CompletedProcess[str]) -> str:
    """The end of libFuzzer's output: the broken invariant or the sanitizer's report, the
    seed, and where the input was written."""
    return "\n".join(result.stderr.splitlines()[-60:])


def test_regressions_and_seeds_pass(fuzzer):
    inputs = sorted(p for d in (CRASHES, SEEDS) for p in d.iterdir() if p.is_file() and p.name != ".gitkeep")
    assert inputs
    result = run(fuzzer, *map(str, inputs), timeout=300)
    assert result.returncode == 0, report(result)
    assert result.stderr.count("Executed ") == len(inputs)


def test_a_bounded_run_finds_nothing(fuzzer, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    result = run(fuzzer, f"-max_total_time={SECONDS}", "-timeout=10", "-rss_limit_mb=2048", "-print_final_stats=1",
                 f"-artifact_prefix={tmp_path}/", str(corpus), str(SEEDS), str(CRASHES), timeout=SECONDS + 120)
    assert result.returncode == 0, report(result)
    executed = [line for line in result.stderr.splitlines() if line.startswith("stat::number_of_executed_units")]
    assert executed and int(executed[0].split(":")[-1]) > 10000, report(result)
