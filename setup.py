# SPDX-License-Identifier: MIT
"""Build of the data plane (ext/): fastdns._dataplane always; fastdns._xdp and the XDP
program (fastdns/xdp_dns.bpf.o) where libxdp, libbpf and clang are installed."""
import os
import shutil
import subprocess

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("FASTDNS_DEBUG") == "1"
BPF_SOURCE = "ext/bpf/xdp_dns.bpf.c"
BPF_OBJECT = "fastdns/xdp_dns.bpf.o"
COMMON = dict(
    include_dirs=["ext/includes", "ext/bpf"],
    define_macros=[("FASTDNS_DEBUG", "1" if DEBUG else "0")],
    extra_compile_args=["-O2", "-Wall", "-Wno-unused-function"],
)


def xdp_buildable() -> bool:
    """libxdp/libbpf headers and clang present (Debian: libxdp-dev libbpf-dev clang)."""
    return (os.path.exists("/usr/include/xdp/xsk.h") and os.path.exists("/usr/include/bpf/libbpf.h")
            and shutil.which("clang") is not None)


def compile_bpf() -> None:
    """clang -target bpf, then check the object carries BTF (libbpf needs it for the maps)."""
    multiarch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip()
    sources = [BPF_SOURCE, "ext/bpf/xdp_dns.h"]
    if os.path.exists(BPF_OBJECT) and all(os.path.getmtime(BPF_OBJECT) >= os.path.getmtime(s) for s in sources):
        return
    subprocess.check_call(["clang", "-O2", "-g", "-Wall", "-target", "bpf", "-Iext/bpf",
                           f"-I/usr/include/{multiarch}", "-c", BPF_SOURCE, "-o", BPF_OBJECT])
    with open(BPF_OBJECT, "rb") as f:
        if b".BTF\0" not in f.read():
            raise RuntimeError(f"{BPF_OBJECT} has no .BTF section")


class BuildExt(build_ext):
    def run(self) -> None:
        if xdp_buildable():
            compile_bpf()
        super().run()


extensions = [Extension("fastdns._dataplane", sources=["ext/dataplane.pyx"], **COMMON)]
if xdp_buildable():
    extensions.append(Extension("fastdns._xdp", sources=["ext/xdp.pyx"],
                                libraries=["xdp", "bpf"], **COMMON))

setup(
    cmdclass={"build_ext": BuildExt},
    ext_modules=cythonize(
        extensions,
        include_path=["ext", "ext/includes"],
        language_level=3,
        annotate=DEBUG,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
    package_data={"fastdns": ["xdp_dns.bpf.o"]},
)
