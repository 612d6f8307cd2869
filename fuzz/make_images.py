# SPDX-License-Identifier: MIT
"""The images the fuzzer answers from, and its seed corpus (docs/fuzzing.md).

    make_images.py DIR             compile the images into DIR/<i>.image (fuzz/harness.c
                                   maps them in that order; the selector byte picks one)
    make_images.py --corpus DIR    write the seed corpus (fuzz/corpus/ is this, committed)

The images are compiled as `fastdns serve` compiles them (the native compiler, the
specification's where it declines), from the bundled zones and the tests' (tests/zones/),
unsigned and signed three ways (tests/signing.py: NSEC by dnspython, NSEC3 and NSEC3 with
opt-out by BIND's dnssec-signzone), so that the fuzzer reaches every kind of record the
image holds: referrals, wildcards, CNAMEs, truncation's smaller variants, DO=1 variants,
covering NSEC/NSEC3 records put in per query, DO=1 denials, CH TXT, expired zones.
"""

from __future__ import annotations

import argparse
import os
import shutil
import struct
import sys
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import dns.edns
import dns.message
import dns.name
import dns.opcode
import dns.tsigkeyring

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore", message="DSA is deprecated")  # dnspython's, upstream's

from fastdns.compiler import compile_zones  # noqa: E402
from fastdns.nativecompiler import NativeUnsupported, compile_native  # noqa: E402
from fastdns.zone import load_native_zone, load_zone  # noqa: E402
from tests import signing  # noqa: E402

BUNDLED = ROOT / "zones"
TEST_ZONES = ROOT / "tests" / "zones"
TESTS = ("diff.test", "child.diff.test", "rfc4592.test")
#: A zone of large RRsets: UDP replies truncated or answered by a smaller variant, and a
#: wildcard whose DO=1 answer puts its covering NSEC/NSEC3 beyond a compression pointer's
#: reach (16 KiB) when asked over TCP.
BIG = ("$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 900 604800 60\n@ IN NS ns1\nns1 IN A 192.0.2.1\n"
       + "".join(f'big IN TXT "{i:03d} {"x" * 100}"\n' for i in range(12))
       + "".join(f"mx IN MX {i} m{i}\nm{i} IN A 192.0.2.{i + 10}\nm{i} IN AAAA 2001:db8::{i + 10}\n"
                 for i in range(8))
       + "".join(f'*.huge IN TXT "{i:03d} {"y" * 150}"\n' for i in range(120)))


@dataclass
class ImageSpec:
    """One image: its zones (origin, file), how they are compiled."""

    name: str
    zones: Callable[[Path], list[tuple[str, Path]]]
    version: str | None = None
    identity: str | None = None
    minimal: bool = True
    expired: list[str] = field(default_factory=list)


def bundled(_: Path) -> list[tuple[str, Path]]:
    return [("example.com", BUNDLED / "example.com.zone"), ("example.net", BUNDLED / "example.net.zone")]


def big_zone(work: Path) -> Path:
    path = work / "big.test.source.zone"
    path.write_text(BIG)
    return path


def unsigned(work: Path) -> list[tuple[str, Path]]:
    return [(o, TEST_ZONES / f"{o}.zone") for o in TESTS] + [("big.test", big_zone(work))]


def signed(kind: str, iterations: int = 0) -> Callable[[Path], list[tuple[str, Path]]]:
    def zones(work: Path) -> list[tuple[str, Path]]:
        sources = unsigned(work)
        return [(o, signing.sign(kind, o, p, work / kind, iterations=iterations)) for o, p in sources]
    return zones


def bundled_and_diff(work: Path) -> list[tuple[str, Path]]:
    return [*bundled(work), ("diff.test", TEST_ZONES / "diff.test.zone")]


#: In fuzz/harness.c's order: the selector byte's low three bits pick one (modulo their count).
IMAGES = [
    ImageSpec("bundled", bundled, version="fastdns fuzz", identity="fuzz.example"),
    ImageSpec("tests", unsigned, minimal=False),
    ImageSpec("nsec", signed("nsec")),
    ImageSpec("nsec3", signed("nsec3")),
    ImageSpec("nsec3-optout", signed("nsec3-optout", iterations=2), minimal=False, version="v"),
    ImageSpec("expired", bundled_and_diff, identity="id", expired=["example.net"]),
    ImageSpec("empty", lambda _: [], version="only chaos"),
]


def compile_image(spec: ImageSpec, work: Path, path: Path) -> str:
    """spec's image written to path; returns the compiler that wrote it."""
    zones = spec.zones(work)
    native = [load_native_zone(o, str(p)) for o, p in zones]
    expired = frozenset(dns.name.from_text(o).canonicalize().to_wire() or b"" for o in spec.expired)
    try:
        result = compile_native([z.native for z in native], spec.version, spec.identity, spec.minimal,
                                expired=expired)
        compiler = "native"
    except NativeUnsupported:
        result = compile_zones([load_zone(o, str(p)) for o, p in zones], spec.version, spec.identity,
                               spec.minimal, expired=frozenset(dns.name.from_text(o) for o in spec.expired))
        compiler = "specification"
    result.write_image(str(path) + ".tmp")
    os.replace(str(path) + ".tmp", path)
    return compiler


def write_images(directory: Path) -> None:
    if not signing.have_signers():
        raise SystemExit("make_images.py: dnssec-signzone and dnssec-keygen (bind9-utils) are needed")
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.image"):
        old.unlink()
    lines = []
    with tempfile.TemporaryDirectory(prefix="fastdns-fuzz-") as tmp:
        for i, spec in enumerate(IMAGES):
            work = Path(tmp) / spec.name
            work.mkdir()
            compiler = compile_image(spec, work, directory / f"{i}.image")
            lines.append(f"{i}.image  {spec.name}  ({compiler} compiler)\n")
    (directory / "images.txt").write_text("".join(lines))


# -- the seed corpus ---------------------------------------------------------------------

UDP, TCP, FRAME, POLICY = 0x00, 0x10, 0x08, 0x80   # fuzz/harness.c's selector bits
PAYLOAD = {1232: 0, 512: 1, 4096: 2, 1400: 3}
#: fuzz/target.pyx's policy: its clock's seconds, its cookie secrets; the client address
#: of a DNS message (a frame's is its source address)
NOW = 1767225600
SECRET = bytes(range(1, 17))
PREVIOUS = bytes(range(0xA0, 0xB0))
CLIENT = bytes([192, 0, 2, 9])


def selector(image: str, how: int = UDP, payload: int = 1232) -> int:
    return [s.name for s in IMAGES].index(image) | how | PAYLOAD[payload] << 5


def siphash24(key: bytes, data: bytes) -> bytes:
    """SipHash-2-4 (libsodium's crypto_shorthash_siphash24), for server cookies."""
    mask = (1 << 64) - 1
    k0, k1 = struct.unpack("<QQ", key)
    v = [k0 ^ 0x736F6D6570736575, k1 ^ 0x646F72616E646F6D, k0 ^ 0x6C7967656E657261, k1 ^ 0x7465646279746573]

    def rotl(x: int, b: int) -> int:
        return ((x << b) | (x >> (64 - b))) & mask

    def rounds(n: int) -> None:
        for _ in range(n):
            v[0] = (v[0] + v[1]) & mask
            v[1] = rotl(v[1], 13) ^ v[0]
            v[0] = rotl(v[0], 32)
            v[2] = (v[2] + v[3]) & mask
            v[3] = rotl(v[3], 16) ^ v[2]
            v[0] = (v[0] + v[3]) & mask
            v[3] = rotl(v[3], 21) ^ v[0]
            v[2] = (v[2] + v[1]) & mask
            v[1] = rotl(v[1], 17) ^ v[2]
            v[2] = rotl(v[2], 32)

    full = len(data) // 8 * 8
    words = [int.from_bytes(data[i:i + 8], "little") for i in range(0, full, 8)]
    words.append(len(data) << 56 & mask | int.from_bytes(data[full:], "little"))
    for m in words:
        v[3] ^= m
        rounds(2)
        v[0] ^= m
    v[2] ^= 0xFF
    rounds(4)
    return struct.pack("<Q", v[0] ^ v[1] ^ v[2] ^ v[3])


def server_cookie(client: bytes, stamp: int, secret: bytes = SECRET, addr: bytes = CLIENT) -> bytes:
    """RFC 9018's server cookie for this client cookie, time and address."""
    head = bytes([1, 0, 0, 0]) + struct.pack("!I", stamp & 0xFFFFFFFF)
    return head + siphash24(secret, client + head + addr)


def cookie_query(qname: str, cookie: bytes, qtype: str = "A", **kwargs) -> bytes:
    return query(qname, qtype, options=[dns.edns.GenericOption(dns.edns.OptionType.COOKIE, cookie)], **kwargs)


def query(qname: str, qtype: str = "A", rdclass: str = "IN", edns: int = 0, do: bool = False,
          payload: int = 1232, qid: int = 0x1234, **kwargs) -> bytes:
    q = dns.message.make_query(qname, qtype, rdclass, use_edns=edns if edns >= 0 else False,
                               want_dnssec=do, payload=payload, **kwargs)
    q.id = qid
    return q.to_wire()


def frame(payload: bytes, v6: bool = False, vlan: bool = False, ip_checksum: bool = True,
          fragment: bool = False, padding: int = 0) -> bytes:
    """An Ethernet frame carrying payload in UDP to port 53."""
    udp = struct.pack("!HHHH", 40000, 53, 8 + len(payload), 0) + payload
    if v6:
        ip = struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + bytes(range(16)) + bytes(range(16, 32))
        ethertype = 0x86DD
    else:
        header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0x2000 if fragment else 0,
                                       64, 17, 0, bytes([192, 0, 2, 9]), bytes([192, 0, 2, 53])))
        if ip_checksum:
            total = sum(struct.unpack("!10H", header))
            while total >> 16:
                total = (total & 0xFFFF) + (total >> 16)
            header[10:12] = struct.pack("!H", ~total & 0xFFFF)
        ip = bytes(header)
        ethertype = 0x0800
    ether = bytes.fromhex("020000000001" "020000000002")  # destination, source
    if vlan:
        ether += struct.pack("!HH", 0x8100, 42)
    return ether + struct.pack("!H", ethertype) + ip + udp + bytes(padding)


def response(qname: str, qtype: str = "A") -> bytes:
    r = dns.message.make_response(dns.message.make_query(qname, qtype))
    r.id = 0x4321
    return r.to_wire()


def with_opcode(wire: bytes, opcode: int) -> bytes:
    flags = struct.unpack("!H", wire[2:4])[0] & ~0x7800 | opcode << 11
    return wire[:2] + struct.pack("!H", flags) + wire[4:]


def two_opts() -> bytes:
    wire = bytearray(query("www.example.com", edns=0))
    opt = wire[-11:]
    wire[10:12] = struct.pack("!H", 2)
    return bytes(wire + opt)


def tsig_query() -> bytes:
    q = dns.message.make_query("example.com", "SOA", use_edns=0)
    q.use_tsig(dns.tsigkeyring.from_text({"fuzz.": "c2VjcmV0c2VjcmV0c2VjcmV0"}), keyname="fuzz.")
    q.id = 7
    return q.to_wire()


def seeds() -> dict[str, bytes]:
    """{file name: input}: a selector byte, then the message or frame."""
    s: dict[str, bytes] = {}

    def add(name: str, sel: int, payload: bytes) -> None:
        s[name] = bytes([sel]) + payload

    b = "bundled"
    add("www-a", selector(b), query("www.example.com"))
    add("mixed-case-aaaa-no-edns", selector(b), query("WwW.ExAmPlE.CoM", "AAAA", edns=-1))
    add("apex-any-tcp", selector(b, TCP), query("example.com", "ANY"))
    add("apex-mx-payload-512", selector(b, UDP, 512), query("example.com", "MX", payload=512))
    add("apex-soa-do", selector(b), query("example.com", "SOA", do=True))
    add("apex-ns-no-edns", selector(b), query("example.com", "NS", edns=-1))
    add("nxdomain", selector(b), query("nothing.example.com"))
    add("wildcard-txt", selector(b), query("a.b.apps.example.com", "TXT"))
    add("below-cut", selector(b), query("host.sub.example.com", "A"))
    add("cname", selector(b, UDP, 512), query("web.example.com", "A", edns=-1))
    add("srv", selector(b), query("_sip._udp.example.com", "SRV"))
    add("ptr", selector(b), query("80.2.0.192.in-addr.example.com", "PTR"))
    add("unknown-type", selector(b), query("opaque.example.com", "TYPE65534"))
    add("ch-version-bind", selector(b), query("version.bind", "TXT", "CH"))
    add("ch-id-server", selector(b), query("id.server", "TXT", "CH", edns=-1))
    add("ch-hostname-bind-a", selector(b), query("hostname.bind", "A", "CH"))
    add("class-any", selector(b), query("www.example.net", "A", "ANY"))
    add("refused", selector(b), query("www.example.org"))
    add("axfr-udp", selector(b), query("example.com", "AXFR"))
    add("axfr-tcp", selector(b, TCP), query("example.com", "AXFR"))
    add("ixfr", selector(b), query("example.com", "IXFR"))
    add("qtype-0", selector(b), query("www.example.com", "TYPE0"))
    add("opcode-notify", selector(b), with_opcode(query("example.com", "SOA"), dns.opcode.NOTIFY))
    add("opcode-update", selector(b), with_opcode(query("example.com", "SOA"), dns.opcode.UPDATE))
    add("response-qr1", selector(b), response("www.example.com"))
    add("response-qr1-tcp", selector(b, TCP), response("example.com", "SOA"))
    add("cut-in-question", selector(b), query("www.example.com")[:20])
    add("header-only", selector(b), query("www.example.com")[:12])
    add("edns-version-1", selector(b), query("www.example.com", edns=1))
    add("two-opts", selector(b), two_opts())
    add("tsig", selector(b), tsig_query())
    add("trailing-byte", selector(b), query("www.example.com") + b"\0")

    t = "tests"
    add("big-txt-no-edns", selector(t), query("big.big.test", "TXT", edns=-1))
    add("big-txt-tcp", selector(t, TCP), query("big.big.test", "TXT"))
    add("many-mx-512", selector(t, UDP, 512), query("many.diff.test", "MX"))
    add("mx-4096", selector(t, UDP, 4096), query("mx.big.test", "MX", payload=4096))
    add("ent-nodata", selector(t), query("b.ent.diff.test", "A"))
    add("cname-chain", selector(t), query("chain1.diff.test", "A"))
    add("cname-loop", selector(t), query("loop1.diff.test", "A"))
    add("long-label", selector(t), query("a-very-long-label-to-exercise-compression-of-names-in-replies.diff.test"))
    add("deep-wildcard", selector(t), query("x.y.deep.wild.diff.test", "AAAA"))
    add("child-zone", selector(t), query("host.child.diff.test", "A"))
    add("referral-ds", selector(t), query("deleg.diff.test", "DS"))
    add("rfc4592-wildcard", selector(t), query("host3.rfc4592.test", "MX"))

    for kind in ("nsec", "nsec3", "nsec3-optout"):
        add(f"{kind}-dnskey-do", selector(kind, TCP), query("diff.test", "DNSKEY", do=True))
        add(f"{kind}-nxdomain-do", selector(kind), query("nothing.diff.test", "A", do=True))
        add(f"{kind}-nodata-do", selector(kind), query("www.diff.test", "MX", do=True))
        add(f"{kind}-wildcard-do", selector(kind), query("something.wild.diff.test", "TXT", do=True))
        add(f"{kind}-wildcard-mx-do", selector(kind), query("Some.Longer.Name.wild.diff.test", "MX", do=True))
        add(f"{kind}-wildcard-own-do", selector(kind), query("*.wild.diff.test", "A", do=True))
        add(f"{kind}-referral-do", selector(kind), query("host.deleg.diff.test", "A", do=True))
        add(f"{kind}-unsigned-referral-do", selector(kind), query("x.nods.diff.test", "A", do=True))
        add(f"{kind}-ent-do", selector(kind), query("b.ent.diff.test", "TXT", do=True))
    add("nsec-huge-wildcard-tcp-do", selector("nsec", TCP), query("a.huge.big.test", "TXT", do=True))
    add("nsec3-huge-wildcard-tcp-do", selector("nsec3", TCP), query("a.huge.big.test", "TXT", do=True))
    add("nsec3-nxdomain-do-512", selector("nsec3", UDP, 512), query("a.b.nothing.rfc4592.test", "A", do=True,
                                                                   payload=512))
    add("nsec-a-do0", selector("nsec"), query("www.diff.test", "A"))

    client = bytes.fromhex("0123456789abcdef")

    def cookie(stamp: int, secret: bytes = SECRET, addr: bytes = CLIENT) -> bytes:
        return client + server_cookie(client, stamp, secret, addr)

    add("cookie-client-only", selector(b, POLICY), cookie_query("www.example.com", client))
    add("cookie-valid", selector(b, POLICY), cookie_query("www.example.com", cookie(NOW - 100)))
    add("cookie-valid-renewed", selector(b, POLICY),
        cookie_query("nothing.example.com", cookie(NOW - 2000)))
    add("cookie-expired", selector(b, POLICY), cookie_query("www.example.com", cookie(NOW - 4000)))
    add("cookie-future", selector(b, POLICY), cookie_query("www.example.com", cookie(NOW + 200)))
    add("cookie-previous-secret", selector(b, POLICY),
        cookie_query("example.com", cookie(NOW - 10, PREVIOUS), "MX"))
    add("cookie-wrong-hash", selector(b, POLICY), cookie_query("www.example.com", client + bytes(16)))
    add("cookie-long-server", selector(b, POLICY), cookie_query("www.example.com", client + bytes(32)))
    add("cookie-bad-length", selector(b, POLICY), cookie_query("www.example.com", client + bytes(3)))
    add("cookie-tcp", selector(b, TCP | POLICY), cookie_query("www.example.com", client))
    add("cookie-without-policy", selector(b), cookie_query("www.example.com", client))
    add("cookie-nsec3-do", selector("nsec3", POLICY),
        cookie_query("nothing.diff.test", cookie(NOW), do=True))
    add("cookie-frame", selector(b, FRAME | POLICY),
        frame(cookie_query("www.example.com", cookie(NOW - 1))))
    add("cookie-frame-ipv6", selector(b, FRAME | POLICY),
        frame(cookie_query("www.example.com", cookie(NOW - 1, addr=bytes(range(16)))),
              v6=True))
    add("policy-nxdomain", selector(b, POLICY), query("nothing.example.com"))
    add("policy-referral", selector(b, POLICY), query("host.sub.example.com"))
    add("policy-refused", selector(b, POLICY), query("www.example.org"))
    add("policy-frame", selector(t, FRAME | POLICY), frame(query("many.diff.test", "MX")))
    add("edns-payload-100", selector(b), query("example.com", "ANY", payload=100))
    add("frame-nsec-denial-4096-mtu-1500", selector("nsec", FRAME, 4096),
        frame(query("nothing.big.test", "TXT", do=True, payload=4096)))

    add("expired-servfail", selector("expired"), query("www.example.net"))
    add("expired-other-zone", selector("expired"), query("www.example.com"))
    add("empty-refused", selector("empty"), query("www.example.com"))
    add("empty-ch-version", selector("empty"), query("version.server", "TXT", "CH"))

    add("frame-ipv4", selector(b, FRAME), frame(query("www.example.com")))
    add("frame-ipv6", selector(b, FRAME), frame(query("www.example.com", "AAAA"), v6=True))
    add("frame-vlan", selector(b, FRAME), frame(query("example.com", "MX"), vlan=True))
    add("frame-padded", selector(b, FRAME), frame(query("www.example.com", edns=-1), padding=18))
    add("frame-bad-ip-checksum", selector(b, FRAME), frame(query("www.example.com"), ip_checksum=False))
    add("frame-fragment", selector(b, FRAME), frame(query("www.example.com"), fragment=True))
    add("frame-response-qr1", selector(b, FRAME), frame(response("www.example.com")))
    add("frame-big-mtu-1500", selector(t, FRAME, 4096), frame(query("mx.big.test", "MX", payload=4096)))
    add("frame-big-mtu-9000", selector(t, FRAME | 0x10, 4096), frame(query("mx.big.test", "MX", payload=4096),
                                                                       v6=True))
    add("frame-nsec3-do", selector("nsec3", FRAME), frame(query("nothing.diff.test", "A", do=True), v6=True))
    return s


def write_corpus(directory: Path) -> None:
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    for name, data in seeds().items():
        (directory / name).write_bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path)
    parser.add_argument("--corpus", action="store_true", help="write the seed corpus into DIRECTORY")
    args = parser.parse_args()
    if args.corpus:
        write_corpus(args.directory)
    else:
        write_images(args.directory)


if __name__ == "__main__":
    main()
