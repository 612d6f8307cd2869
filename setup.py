# SPDX-License-Identifier: MIT
"""Build of the data plane (ext/): fastdns._dataplane always; fastdns._xdp and the XDP
program (fastdns/xdp_dns.bpf.o) where libxdp, libbpf and clang are installed. And of the
control plane's native code (native/): fastdns._zonefile, the master-file reader over ldns
(libldns-dev), and fastdns._compiler, the zone compiler, always.

The set of extensions follows what is buildable now, so `make build` (build_ext --inplace,
incremental) picks up the AF_XDP backend as soon as its packages arrive. A wheel carries the
XDP program and the bundled configuration and zones (fastdns/zones/), both written into the
build directory by build_py: package data is collected there, before build_ext runs.
"""
import os
import shutil
import subprocess
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.command.build_py import build_py

DEBUG = os.environ.get("FASTDNS_DEBUG") == "1"
BPF_SOURCES = ["ext/bpf/xdp_dns.bpf.c", "ext/bpf/xdp_dns.h"]
BPF_OBJECT = "xdp_dns.bpf.o"  # in the fastdns package, next to _xdp
ZONES = Path("zones")  # the bundled configuration and zones: fastdns/zones/ in a wheel
COMMON = {
    "include_dirs": ["ext/includes", "ext/bpf"],
    "define_macros": [("FASTDNS_DEBUG", "1" if DEBUG else "0")],
    "extra_compile_args": ["-O2", "-Wall", "-Wno-unused-function"],
}

# native/ is the control plane's C side (zone files never reach ext/): its own include path.
NATIVE = {**COMMON, "include_dirs": ["native", "native/includes"]}
# The data plane: NSEC3's SHA-1 from OpenSSL's libcrypto (ext/denial.pxi), its one-shot
# SHA1_* calls (no allocation per query), which OpenSSL 3 keeps but marks deprecated; DNS
# cookies' SipHash-2-4 from libsodium (ext/cookies.pxi: OpenSSL 3 offers it only through
# EVP_MAC, a provider dispatch per call).
DATAPLANE = {**COMMON, "libraries": ["crypto", "sodium"],
             "define_macros": [*COMMON["define_macros"], ("OPENSSL_SUPPRESS_DEPRECATED", None)]}


def xdp_buildable() -> bool:
    """libxdp/libbpf headers and clang present (Debian: libxdp-dev libbpf-dev clang)."""
    return (os.path.exists("/usr/include/xdp/xsk.h") and os.path.exists("/usr/include/bpf/libbpf.h")
            and shutil.which("clang") is not None)


def zscanner_wanted() -> bool:
    """The opt-in reader over Knot DNS's libzscanner: only with FASTDNS_ZSCANNER=1, never
    because libknot-dev happens to be installed, since a build linking it is GPL-3+ as a
    whole (docs/zone-parser.md)."""
    if os.environ.get("FASTDNS_ZSCANNER") != "1":
        return False
    if not os.path.exists("/usr/include/libzscanner/scanner.h"):
        raise SystemExit("FASTDNS_ZSCANNER=1 needs libzscanner's headers (Debian: libknot-dev)")
    return True


def compile_bpf(package_dir: str) -> None:
    """clang -target bpf, then check the object carries BTF (libbpf needs it for the maps)."""
    obj = os.path.join(package_dir, BPF_OBJECT)
    if os.path.exists(obj) and all(os.path.getmtime(obj) >= os.path.getmtime(s) for s in BPF_SOURCES):
        return
    os.makedirs(package_dir, exist_ok=True)
    multiarch = subprocess.run(["gcc", "-print-multiarch"], capture_output=True, text=True).stdout.strip()
    subprocess.check_call(["clang", "-O2", "-g", "-Wall", "-target", "bpf", "-Iext/bpf",
                           f"-I/usr/include/{multiarch}", "-c", BPF_SOURCES[0], "-o", obj])
    with open(obj, "rb") as f:
        if b".BTF\0" not in f.read():
            raise RuntimeError(f"{obj} has no .BTF section")


class BuildPy(build_py):
    """Adds to the build directory what is not a file of the source package: the compiled
    XDP program and the bundled zones (one copy in git, under zones/)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:  # the checkout serves: build_ext --inplace, config's fallback
            return
        package = os.path.join(self.build_lib, "fastdns")
        if xdp_buildable():
            compile_bpf(package)
        zones = os.path.join(package, "zones")
        os.makedirs(zones, exist_ok=True)
        for path in self.bundled_zones():
            self.copy_file(str(path), os.path.join(zones, path.name))

    @staticmethod
    def bundled_zones() -> list[Path]:
        return sorted(p for p in ZONES.iterdir() if p.suffix in (".yaml", ".zone"))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        package = os.path.join(self.build_lib, "fastdns")
        extra = [os.path.join(package, "zones", p.name) for p in self.bundled_zones()]
        if xdp_buildable():
            extra.append(os.path.join(package, BPF_OBJECT))
        return super().get_outputs(include_bytecode) + extra


class BuildExt(build_ext):
    def run(self) -> None:
        self.force = self.force or flavour_changed(Path(self.build_temp) / "fastdns-flavour")
        if xdp_buildable() and (self.inplace or self.editable_mode):
            compile_bpf("fastdns")  # a wheel's copy is build_py's
        if not zscanner_wanted():  # a build without the opt-in is the MIT one: ldns alone,
            # also where an opt-in build left its module (in place, or in build/lib, which
            # a wheel built from this tree would carry)
            for built in [*Path("fastdns").glob("_zscanner.*.so"),
                          *Path(self.build_lib, "fastdns").glob("_zscanner.*.so")]:
                built.unlink()
        super().run()


def flavour_changed(stamp: Path) -> bool:
    """True (and the new flavour recorded) when FASTDNS_DEBUG differs from the last build's:
    the sources did not change, so the incremental build would keep the other flavour."""
    flavour = f"FASTDNS_DEBUG={int(DEBUG)}\n"
    old = stamp.read_text() if stamp.exists() else "FASTDNS_DEBUG=0\n"
    if old == flavour:
        return False
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(flavour)
    return True


extensions = [Extension("fastdns._dataplane", sources=["ext/dataplane.pyx"], **DATAPLANE),
              Extension("fastdns._zonefile", sources=["native/zonefile.pyx"], libraries=["ldns"],
                        **NATIVE),
              # the compiler hashes names for NSEC3 chains as the data plane does (native/denial.pxi)
              Extension("fastdns._compiler", sources=["native/zonecompiler.pyx"],
                        **{**NATIVE, "libraries": ["crypto"], "define_macros": DATAPLANE["define_macros"]})]
if zscanner_wanted():
    extensions.append(Extension("fastdns._zscanner", sources=["native/zscanner.pyx"], libraries=["zscanner"],
                                **NATIVE))
if xdp_buildable():
    extensions.append(Extension("fastdns._xdp", sources=["ext/xdp.pyx"],
                                **{**DATAPLANE, "libraries": ["xdp", "bpf", "crypto", "sodium"]}))

setup(
    cmdclass={"build_ext": BuildExt, "build_py": BuildPy},
    ext_modules=cythonize(
        extensions,
        include_path=["ext", "ext/includes", "native", "native/includes"],
        language_level=3,
        annotate=DEBUG,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    ),
)
