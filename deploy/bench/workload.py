# SPDX-License-Identifier: MIT
"""The benchmark's workload: a generated zone and a dnsperf query file with a stated mix."""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

ORIGIN = "bench.test"
#: Kinds of names in the zone, with their share of the names (the rest are plain A hosts).
NAME_KINDS = (("a+aaaa", 0.30), ("mx", 0.08), ("txt", 0.10), ("cname", 0.10), ("a", 0.41),
              ("delegation", 0.01))
#: The query mix: share of each kind of question in the query file.
QUERY_MIX = (("existing", 0.70), ("nxdomain", 0.10), ("nodata", 0.07), ("cname", 0.06),
             ("wildcard", 0.05), ("referral", 0.02))
#: The signed run's mix (all with DO=1): a random-subdomain flood's share of NXDOMAIN, the
#: attack authoritative servers of signed zones meet most.
SIGNED_QUERY_MIX = (("existing", 0.50), ("nxdomain", 0.30), ("nodata", 0.07), ("cname", 0.06),
                    ("wildcard", 0.05), ("referral", 0.02))
RANDOM_CASE_SHARE = 0.25  #: of all queries, written in random letter case (as 0x20 resolvers do)
#: Label words, so names look like hosts rather than numbers only.
#: Names per zone of the hoster shape: with the fixed apex records, about 35 records a zone.
HOSTER_NAMES = 24
WORDS = ("www", "mail", "api", "cdn", "img", "vpn", "db", "app", "shop", "blog", "dev", "m",
         "static", "auth", "edge", "web", "git", "ns", "mx", "smtp")


@dataclass
class Workload:
    zone_file: Path
    query_file: Path
    names: int
    queries: int
    mix: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        parts = ", ".join(f"{share:.0%} {kind}" for kind, share in self.mix.items())
        return (f"{self.names:,} names; queries: {parts}; {RANDOM_CASE_SHARE:.0%} of all queries "
                f"in random letter case")


def _owner(rng: random.Random, i: int) -> str:
    """A name 1-3 labels below the apex; the index keeps it unique."""
    word = WORDS[i % len(WORDS)]
    depth = rng.choice((1, 1, 2, 2, 3))
    if depth == 1:
        return f"{word}{i}"
    if depth == 2:
        return f"{word}{i}.site{i % 997}"
    return f"{word}{i}.rack{i % 89}.dc{i % 7}"


def _kinds(rng: random.Random, count: int) -> list[str]:
    kinds, weights = zip(*NAME_KINDS)
    return rng.choices(kinds, weights, k=count)


def write_zone(path: Path, names: int, seed: int = 4, origin: str = ORIGIN) -> dict[str, list[str]]:
    """Write a zone of about `names` owner names; returns the owners by kind for queries."""
    rng = random.Random(seed)
    by_kind: dict[str, list[str]] = {k: [] for k, _ in NAME_KINDS}
    lines = [f"$ORIGIN {origin}.", "$TTL 3600",
             "@ IN SOA ns1 hostmaster 2024010101 3600 900 604800 300",
             "@ IN NS ns1", "@ IN NS ns2", "ns1 IN A 198.18.0.1", "ns2 IN A 198.18.0.1",
             "@ IN A 198.18.100.1", "@ IN MX 10 ns1",
             "*.wild IN A 198.18.200.200", "*.wild IN TXT \"wildcard\""]
    owners = [_owner(rng, i) for i in range(max(names - 8, 1))]
    for owner, kind in zip(owners, _kinds(rng, len(owners))):
        n = len(by_kind[kind])
        v4 = f"198.{18 + n // 65536 % 2}.{n // 256 % 256}.{n % 256}"
        if kind == "cname" and by_kind["a"]:
            lines.append(f"{owner} IN CNAME {rng.choice(by_kind['a'])}")
        elif kind == "delegation":
            # A child zone with in-bailiwick glue: answered with a referral.
            lines += [f"{owner} IN NS ns1.{owner}", f"{owner} IN NS ns2.{owner}",
                      f"ns1.{owner} IN A {v4}", f"ns2.{owner} IN AAAA 2001:2::{n % 65536:x}"]
        else:
            kind = "a" if kind == "cname" else kind
            lines.append(f"{owner} IN A {v4}")
            if kind == "a+aaaa":
                lines.append(f"{owner} IN AAAA 2001:2:{n // 65536:x}::{n % 65536:x}")
            elif kind == "mx":
                lines.append(f"{owner} IN MX 10 {owner}")
            elif kind == "txt":
                lines.append(f'{owner} IN TXT "v=spf1 ip4:{v4} -all" "id={n}"')
        by_kind[kind].append(owner)
    path.write_text("\n".join(lines) + "\n")
    return by_kind


def hoster_origin(index: int) -> str:
    return f"site{index}.hoster.test"


def write_hoster_zones(directory: Path, zones: int,
                       names: int = HOSTER_NAMES) -> list[tuple[str, Path, dict[str, list[str]]]]:
    """A DNS hoster's shape: `zones` small zones in the same mix, each seeded by its index.

    Returns (origin, file, owners by kind) per zone, in order.
    """
    directory.mkdir(parents=True, exist_ok=True)
    out = []
    for index in range(zones):
        origin = hoster_origin(index)
        path = directory / f"{origin}.zone"
        out.append((origin, path, write_zone(path, names, seed=index, origin=origin)))
    return out


def a_owner(by_kind: dict[str, list[str]]) -> str:
    """An owner with exactly one A record (the middle one of its kind): the record to change."""
    owners = by_kind["a"] or by_kind["a+aaaa"] or by_kind["mx"] or by_kind["txt"]
    return owners[len(owners) // 2] if owners else "ns1"


def change_address(path: Path, owner: str, address: str) -> None:
    """The one-record change: point `owner`'s A at `address` and bump the SOA serial.

    The new file replaces the old by rename, so a server never reads it half written.
    """
    text = path.read_text()
    text, changed = re.subn(rf"^{re.escape(owner)} IN A \S+$", f"{owner} IN A {address}", text,
                            count=1, flags=re.M)
    text, bumped = re.subn(r"^(@ IN SOA \S+ \S+ )(\d+)", lambda m: f"{m[1]}{int(m[2]) + 1}", text,
                           count=1, flags=re.M)
    if not (changed and bumped):
        raise ValueError(f"{path}: no A record of {owner} or no SOA to change")
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(text)
    os.replace(temporary, path)


def _random_case(rng: random.Random, name: str) -> str:
    return "".join(c.upper() if rng.random() < 0.5 else c for c in name)


def _question(rng: random.Random, kind: str, by_kind: dict[str, list[str]]) -> tuple[str, str]:
    if kind == "existing":
        owner_kind = rng.choices(("a", "a+aaaa", "mx", "txt"), (0.4, 0.35, 0.1, 0.15))[0]
        qtype = {"a": "A", "a+aaaa": rng.choice(("A", "AAAA")), "mx": "MX", "txt": "TXT"}[owner_kind]
        return rng.choice(by_kind[owner_kind]), qtype
    if kind == "nxdomain":
        return f"nx{rng.getrandbits(40):x}", rng.choice(("A", "AAAA"))
    if kind == "nodata":
        return rng.choice(by_kind["a"]), rng.choice(("AAAA", "MX", "TXT"))
    if kind == "cname":
        return rng.choice(by_kind["cname"]), "A"
    if kind == "wildcard":
        return f"h{rng.getrandbits(32):x}.wild", rng.choice(("A", "TXT"))
    return f"www.{rng.choice(by_kind['delegation'])}", "A"  # referral


def write_queries(path: Path, by_kind: dict[str, list[str]], count: int, seed: int = 5,
                  mix: tuple[tuple[str, float], ...] = QUERY_MIX) -> None:
    """Write `count` lines of `name TYPE` in dnsperf's format, mixed as `mix` says."""
    rng = random.Random(seed)
    # A tiny zone may have drawn no delegation or CNAME: leave those questions out.
    needs = {"existing": ("a", "a+aaaa", "mx", "txt"), "nodata": ("a",), "cname": ("cname",),
             "referral": ("delegation",)}
    usable = [(kind, share) for kind, share in mix
              if all(by_kind[k] for k in needs.get(kind, ()))]
    kinds, weights = zip(*usable)
    lines = []
    for kind in rng.choices(kinds, weights, k=count):
        name, qtype = _question(rng, kind, by_kind)
        name = f"{name}.{ORIGIN}"
        if rng.random() < RANDOM_CASE_SHARE:
            name = _random_case(rng, name)
        lines.append(f"{name} {qtype}")
    path.write_text("\n".join(lines) + "\n")


def generate(directory: Path, names: int, queries: int) -> Workload:
    """The zone and query file under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    zone_file, query_file = directory / f"{ORIGIN}.zone", directory / "queries.txt"
    by_kind = write_zone(zone_file, names)
    write_queries(query_file, by_kind, queries)
    return Workload(zone_file, query_file, names, queries, dict(QUERY_MIX))


def generate_signed(directory: Path, names: int, queries: int) -> Workload:
    """The zone signed with NSEC3 (no salt beyond 2 bytes, no extra iterations, as RFC 9276
    advises) by BIND's dnssec-signzone, and a query file in SIGNED_QUERY_MIX (sent with DO=1)."""
    import subprocess

    directory.mkdir(parents=True, exist_ok=True)
    source, signed, query_file = directory / "unsigned.zone", directory / f"{ORIGIN}.zone", directory / "queries.txt"
    by_kind = write_zone(source, names)
    for old in directory.glob("K*"):
        old.unlink()
    commands = [["dnssec-keygen", "-q", "-K", str(directory), "-a", "ECDSAP256SHA256", *flags, ORIGIN]
                for flags in (["-f", "KSK"], [])]
    commands.append(["dnssec-signzone", "-q", "-S", "-K", str(directory), "-3", "abcd", "-H", "0",
                     "-o", ORIGIN, "-f", str(signed), str(source)])
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, cwd=directory)
        if done.returncode != 0:
            raise RuntimeError(f"{command[0]} failed on {source}: {done.stderr.strip()[-500:]}")
    write_queries(query_file, by_kind, queries, mix=SIGNED_QUERY_MIX)
    return Workload(signed, query_file, names, queries, dict(SIGNED_QUERY_MIX))
