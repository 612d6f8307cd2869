# SPDX-License-Identifier: MIT
"""Builds the fuzzer (docs/fuzzing.md): fuzz/target.pyx cythonized (it includes the data
plane's ext/core.pxi and ext/frame.pxi), compiled with fuzz/harness.c by clang with
libFuzzer, ASan and UBSan into BUILD/fastdns-fuzz; and the images it answers from
(fuzz/make_images.py) into BUILD/images/.  Each step only when its inputs changed.

    build.py [BUILD]        BUILD: build/fuzz by default

Needs clang and its libFuzzer runtime (Debian: clang, libclang-rt-14-dev), libcrypto and
libsodium (what fastdns._dataplane links), and the venv's Python (its headers; libpython
is linked only for symbols the Cython module refers to: the fuzzer never starts Python).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
BINARY = "fastdns-fuzz"
# setup.py's compiler directives for the data plane
DIRECTIVES = "boundscheck=False,wraparound=False,cdivision=True,initializedcheck=False"
SANITIZERS = "-fsanitize=fuzzer,address,undefined"


def newer(target: Path, sources: list[Path]) -> bool:
    """target is missing or older than one of sources."""
    if not target.exists():
        return True
    built = target.stat().st_mtime_ns
    return any(s.stat().st_mtime_ns > built for s in sources)


def clang() -> str:
    found = shutil.which("clang")
    if found is None:
        raise SystemExit("fuzz/build.py: clang is not installed (Debian: clang libclang-rt-14-dev; "
                         "scripts/install-deps.sh test installs them)")
    return found


def libfuzzer_present(cc: str) -> bool:
    """clang can link -fsanitize=fuzzer (Debian ships the runtime in libclang-rt-<N>-dev)."""
    out = subprocess.run([cc, "-print-file-name=libclang_rt.fuzzer-x86_64.a"], capture_output=True, text=True)
    resource = subprocess.run([cc, "-print-resource-dir"], capture_output=True, text=True).stdout.strip()
    candidates = [Path(out.stdout.strip()), Path(resource, "lib", "linux", "libclang_rt.fuzzer-x86_64.a")]
    return any(p.is_absolute() and p.exists() for p in candidates)


def build_binary(build: Path) -> Path:
    cc = clang()
    if not libfuzzer_present(cc):
        raise SystemExit("fuzz/build.py: clang's libFuzzer runtime is missing (Debian: libclang-rt-14-dev)")
    binary = build / BINARY
    ext = ROOT / "ext"
    sources = [FUZZ / "target.pyx", FUZZ / "harness.c", Path(__file__), *ext.glob("*.pxi"),
               *(ext / "includes").iterdir()]
    if not newer(binary, sources):
        return binary
    build.mkdir(parents=True, exist_ok=True)
    c_file = build / "target.c"
    subprocess.run([sys.executable, "-m", "cython", "-3", "--fast-fail", "-X", DIRECTIVES,
                    "-I", str(ext), "-I", str(ext / "includes"), str(FUZZ / "target.pyx"), "-o", str(c_file)],
                   check=True, cwd=ROOT)
    include = sysconfig.get_paths()["include"]
    libdir = sysconfig.get_config_var("LIBDIR")
    pyver = sysconfig.get_config_var("LDVERSION") or sysconfig.get_config_var("VERSION")
    images = build / "images"
    tmp = binary.with_name(BINARY + ".tmp")
    subprocess.run([cc, "-g", "-O1", "-fno-omit-frame-pointer", SANITIZERS, "-fno-sanitize-recover=all",
                    "-Wno-unused-function", "-Wno-unreachable-code-fallthrough", "-Wno-string-plus-int",
                    "-DFASTDNS_DEBUG=0", "-DOPENSSL_SUPPRESS_DEPRECATED", f'-DFUZZ_IMAGE_DIR="{images}"',
                    f"-I{ext / 'includes'}", f"-I{build}", f"-I{include}",
                    str(FUZZ / "harness.c"), str(c_file), "-o", str(tmp),
                    "-lcrypto", "-lsodium", f"-L{libdir}", f"-lpython{pyver}", f"-Wl,-rpath,{libdir}", "-lm"],
                   check=True, cwd=ROOT)
    os.replace(tmp, binary)
    return binary


def build_images(build: Path) -> Path:
    images = build / "images"
    stamp = images / "images.txt"
    sources = [FUZZ / "make_images.py", ROOT / "tests" / "signing.py", *(ROOT / "zones").glob("*.zone"),
               *(ROOT / "tests" / "zones").glob("*.zone"), *(ROOT / "fastdns").glob("*.py"),
               *(ROOT / "fastdns").glob("*.so")]
    if newer(stamp, sources):
        subprocess.run([sys.executable, str(FUZZ / "make_images.py"), str(images)], check=True, cwd=ROOT)
    return images


def main() -> None:
    build = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "build" / "fuzz"
    build = build.resolve()
    build_images(build)
    print(build_binary(build))


if __name__ == "__main__":
    main()
