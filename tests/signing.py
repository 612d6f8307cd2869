# SPDX-License-Identifier: MIT
"""Zones signed for the tests, as an operator's signer would sign them: NSEC by dnspython's
dns.dnssec.sign_zone, NSEC3 (with or without opt-out) by BIND's dnssec-signzone."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone

DNSSEC_KEYGEN = shutil.which("dnssec-keygen") or "/usr/bin/dnssec-keygen"
DNSSEC_SIGNZONE = shutil.which("dnssec-signzone") or "/usr/bin/dnssec-signzone"
#: signatures valid from a day ago for thirty days: the tests' answers validate today
LIFETIME = 30 * 86400
KINDS = ("nsec", "nsec3", "nsec3-optout")


def have_signers() -> bool:
    return Path(DNSSEC_SIGNZONE).exists() and Path(DNSSEC_KEYGEN).exists()


def sign(kind: str, origin: str, source: Path, directory: Path, iterations: int = 0,
         lifetime: int = LIFETIME) -> Path:
    """source signed (kind: one of KINDS) into directory/<origin>.zone; its DNSKEY at the
    apex; NSEC3 with that many extra iterations; signatures valid for lifetime seconds."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{origin}.zone"
    if kind == "nsec":
        _sign_nsec(origin, source, target, lifetime)
    else:
        _sign_nsec3(origin, source, target, optout=kind == "nsec3-optout", workdir=directory / f"keys-{origin}",
                    iterations=iterations, lifetime=lifetime)
    return target


def _sign_nsec(origin: str, source: Path, target: Path, lifetime: int) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    zone = dns.zone.from_file(str(source), origin, relativize=False)
    key = ec.generate_private_key(ec.SECP256R1())
    dnskey = dns.dnssec.make_dnskey(key.public_key(), dns.dnssec.Algorithm.ECDSAP256SHA256, flags=257)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dnspython's DSA support is deprecated upstream
        dns.dnssec.sign_zone(zone, keys=[(key, dnskey)], inception=_now() - 86400, lifetime=lifetime)
    zone.to_file(str(target), relativize=False)


def _sign_nsec3(origin: str, source: Path, target: Path, optout: bool, workdir: Path, iterations: int,
                lifetime: int) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    for flags in (["-f", "KSK"], []):
        subprocess.run([DNSSEC_KEYGEN, "-q", "-K", str(workdir), "-a", "ECDSAP256SHA256", *flags, origin],
                       check=True, capture_output=True)
    subprocess.run([DNSSEC_SIGNZONE, "-q", "-S", "-K", str(workdir), "-3", "abcd", "-H", str(iterations),
                    *(["-A"] if optout else []), "-s", "now-86400", "-e", f"now+{lifetime}",
                    "-o", origin, "-f", str(target), str(source)],
                   check=True, capture_output=True, cwd=workdir)


def _now() -> int:
    import time

    return int(time.time())


def dnskeys(path: Path, origin: str) -> dict:
    """{apex name: DNSKEY rdataset}, the keyring dns.dnssec.validate takes."""
    zone = dns.zone.from_file(str(path), origin, relativize=False)
    name = dns.name.from_text(origin)
    rdataset = zone.find_rdataset(name, dns.rdatatype.DNSKEY)
    return {name: rdataset}
