# SPDX-License-Identifier: MIT
"""The compiled image: the one contract between the control plane and the data plane.

The layout is documented in docs/image-format.md and mirrored field by field in
ext/image.pxi; tests/unit/test_contract.py asserts that the compiled data plane agrees
with every constant, size and offset here.  All integers
are little-endian; every offset is counted from the start of the image.
"""

from __future__ import annotations

import mmap
import os
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

MAGIC = b"FDNSIMG\0"
VERSION = 4

# Each struct with its field names, as ext/image.pxi names them: the contract test
# (tests/unit/test_contract.py) compares every size and offset with the compiled data plane.
HEADER_FIELDS = (
    "magic", "version", "header_size", "total_size", "checksum", "bucket_count",
    "buckets_off", "node_count", "nodes_off", "zone_count", "zones_off", "refused_off",
    "flags", "chaos_version_off", "chaos_identity_off",
)
HEADER = struct.Struct("<8sIIIIIIIIIIIIII")
#: node: index + 1 (0 = empty bucket)
BUCKET_FIELDS = ("hash", "node")
BUCKET = struct.Struct("<II")
#: wildcard: node index + 1 of "*.<name>", 0 = none
NODE_FIELDS = (
    "hash", "name_off", "name_len", "flags", "zone", "entries_off", "n_entries", "reserved",
    "other_off", "below_off", "wildcard",
)
NODE = struct.Struct("<IIBBHIHHIII")
ENTRY_FIELDS = ("qtype", "reserved", "record_off")
ENTRY = struct.Struct("<HHI")
#: apex: node index
ZONE_FIELDS = ("name_off", "name_len", "reserved1", "reserved2", "serial", "apex")
ZONE = struct.Struct("<IBBHII")
RECORD_FIELDS = (
    "flags", "ancount", "nscount", "arcount", "tail_len", "n_reloc", "qname_len",
    "ext", "reserved", "smaller_off",
)
RECORD = struct.Struct("<HHHHHHBBHI")
RELOC = struct.Struct("<H")
#: after the relocations of a record with EXT_SIGNED: the record for a query with DO=1, and
#: at a wildcard the one for a query for the wildcard's own name (0 = the same)
SIGNED_FIELDS = ("signed_off", "own_off")
SIGNED = struct.Struct("<II")
#: after the relocations of a record with EXT_COVER: where the record covering the query
#: name goes (the end of the authority section), which chain holds it, and the chain's
#: records the tail has already (entry index + 1; 0 = none)
COVER_FIELDS = ("at", "kind", "reserved", "chain_off", "have0", "have1")
COVER = struct.Struct("<HBBIII")
#: after the relocations of a record with EXT_PROOFS (a DO=1 negative answer whose
#: authority section is the apex SOA, its signature and records of the zone's chain): the
#: record holding the SOA and its signature, compiled against the apex and shared by the
#: zone; the chain; its entries that follow them (entry index + 1; 0 = none); and whether
#: the record covering the query name follows those (COVER's, per query)
PROOFS_FIELDS = ("base_off", "chain_off", "proof0", "proof1", "kind", "cover", "reserved")
PROOFS = struct.Struct("<IIIIBBH")
#: a zone's denial chain: kind, salt length, NSEC3 iterations, entry count; an NSEC3
#: chain's salt follows, padded to 4 bytes, then the entries
CHAIN_FIELDS = ("kind", "salt_len", "iterations", "count")
CHAIN = struct.Struct("<BBHI")
#: NSEC chain entry: the owner (lower-cased wire name, zero-padded to 8 bytes) and its records
NSEC_ENTRY_FIELDS = ("name_off", "rrs_off")
NSEC_ENTRY = struct.Struct("<II")
#: NSEC3 chain entry: the owner's hash and its records
NSEC3_ENTRY_FIELDS = ("hash", "rrs_off")
NSEC3_ENTRY = struct.Struct("<20sI")
#: records a chain entry points to: the NSEC or NSEC3 RR and its RRSIGs in wire format, each
#: owner written as its labels below the apex (owner_len bytes) and a pointer whose value
#: the data plane writes: to the apex, the end of the question name (the first RR's), and
#: to the first owner (the others')
RRS_FIELDS = ("count", "len", "owner_len", "apex_len", "reserved")
RRS = struct.Struct("<HHBBH")

# Node flags.
NODE_APEX = 0x01  #: the node is a zone apex
NODE_CUT = 0x02  #: a delegation point (NS below the apex): referral for everything but DS
NODE_ENT = 0x04  #: an empty non-terminal: exists, owns no data
NODE_WILDCARD = 0x08  #: the owner's first label is "*"

# Record extensions (RECORD.ext).
EXT_SIGNED = 0x01  #: a SIGNED follows the relocations
EXT_COVER = 0x02  #: a COVER follows the relocations
EXT_PROOFS = 0x04  #: a PROOFS follows the relocations (and the record has no tail)

# Denial chain kinds (CHAIN.kind, COVER.kind).
CHAIN_NSEC = 1  #: the NSEC covering the query name (RFC 4035 3.1.3)
CHAIN_NSEC3 = 2  #: the NSEC3 covering the hash of the query name's next closer name (RFC 5155 7.2)

# Header bits a record ORs into the response's flags word (RFC 1035 4.1.1).
FLAG_AA = 0x0400
FLAG_TC = 0x0200
RCODE_MASK = 0x000F

NAME_HASH_SEED = 0x243F6A8885A308D3
NAME_HASH_MULTIPLIER = 0x9E3779B97F4A7C15
_U64 = (1 << 64) - 1

#: The furthest a compression pointer may point before relocation; relocation adds at
#: most 255 (the longest name), and a pointer holds 14 bits.
MAX_POINTER_TARGET = 0x3FFF - 255
MAX_TAIL = 0xFFFF


def name_hash(wire_lower: bytes) -> int:
    """32-bit hash of a lower-cased wire name, as the data plane computes it.

    The name, zero-padded to a multiple of 8 bytes, is read as little-endian 64-bit words;
    each is xored in, multiplied and folded (high half into low half).  Word-at-a-time so
    the data plane hashes a query name in a handful of instructions.
    """
    h = NAME_HASH_SEED ^ len(wire_lower)
    padded = wire_lower + bytes(-len(wire_lower) % 8)
    for (word,) in struct.iter_unpack("<Q", padded):
        h = ((h ^ word) * NAME_HASH_MULTIPLIER) & _U64
        h ^= h >> 32
    return h & 0xFFFFFFFF


def _align4(n: int) -> int:
    return (n + 3) & ~3


@dataclass(frozen=True)
class Record:
    """A precomputed response tail and the header fields that go with it."""

    flags: int  #: AA and RCODE bits to OR into the header
    ancount: int
    nscount: int
    arcount: int
    tail: bytes  #: answer, authority and additional sections in wire format
    qname_len: int  #: wire length of the question name the tail was compiled against
    relocs: tuple[int, ...] = ()  #: offsets in tail of compression pointers to shift
    smaller: Record | None = None  #: the next smaller variant, for size limits
    signed: Record | None = None  #: the same question's record for a query with DO=1
    own: Record | None = None  #: at a wildcard, DO=1 for the wildcard's own name (not synthesis)
    cover: Cover | None = None  #: the denial record the data plane adds per query
    proved: Proved | None = None  #: the record is the zone's SOA record and chain records


@dataclass(frozen=True)
class Proved:
    """A DO=1 negative answer put together by the data plane: base's tail (the apex SOA and
    its signature), then the zone's chain records at entries, then (cover) the one covering
    the query name unless it is one of those."""

    base: Record
    zone: int  #: the zone whose chain it is (index in the image's zones)
    kind: int  #: CHAIN_NSEC or CHAIN_NSEC3
    entries: tuple[int, ...]  #: chain entry indices, in the order they go in (at most two)
    cover: bool


@dataclass(frozen=True)
class Cover:
    """A denial record that depends on the query name: found in the zone's chain per query,
    put at `at` (the end of the authority section) unless it is one of `have`."""

    kind: int  #: CHAIN_NSEC or CHAIN_NSEC3
    at: int  #: offset in the tail
    zone: int  #: the zone whose chain it is (index in the image's zones)
    have: tuple[int, ...] = ()  #: chain entry indices of the denial records in the tail


@dataclass(frozen=True)
class Chain:
    """A signed zone's NSEC or NSEC3 chain, in the order the data plane searches."""

    kind: int  #: CHAIN_NSEC or CHAIN_NSEC3
    salt: bytes
    iterations: int
    keys: tuple[bytes, ...]  #: NSEC: lower-cased wire owners, canonical order; NSEC3: hashes, sorted
    rrs: tuple[tuple[int, int, bytes], ...]  #: per entry: (RR count, owner_len, RRs as RRS says)
    apex_len: int = 0  #: the zone's apex, wire length


@dataclass(frozen=True)
class Node:
    """One name in the hash table, with its per-qtype records."""

    name: bytes  #: lower-cased wire name
    flags: int
    zone: int
    entries: tuple[tuple[int, Record], ...]  #: (qtype, record), sorted by qtype
    other: Record  #: for qtypes not in entries
    below: Record  #: for names below this one that do not exist (no wildcard child)


@dataclass(frozen=True)
class ZoneInfo:
    name: bytes  #: lower-cased wire name of the apex
    serial: int
    chain: Chain | None = None  #: a signed zone's denial chain


class ImageWriter:
    """Lays out nodes, zones and records into one flat image (see docs/image-format.md)."""

    def __init__(self, nodes: list[Node], zones: list[ZoneInfo], refused: Record,
                 chaos_version: Record | None = None,
                 chaos_identity: Record | None = None) -> None:
        self._nodes = nodes
        self._zones = zones
        self._refused = refused
        self._chaos = (chaos_version, chaos_identity)
        self.bucket_count = bucket_count_for(len(nodes))
        # The data area comes first: its offsets do not depend on how many nodes follow,
        # so a recompile of one zone appends to it and keeps every other zone's offsets.
        self.data_off = HEADER.size
        self._data = bytearray()
        self._records: dict[Record, int] = {}
        self._blobs: dict[bytes, int] = {}

    def _put(self, blob: bytes, dedup: bool = True) -> int:
        if dedup and blob in self._blobs:
            return self._blobs[blob]
        off = self.data_off + len(self._data)
        self._data += blob
        self._data += b"\0" * (_align4(len(blob)) - len(blob))
        if dedup:
            self._blobs[blob] = off
        return off

    def _put_name(self, name: bytes) -> int:
        """A node's name, zero-padded to a multiple of 8 bytes: the data plane compares
        names a 64-bit word at a time."""
        return self._put(name + bytes(-len(name) % 8))

    def _put_record(self, rec: Record) -> int:
        off = self._records.get(rec)
        if off is not None:
            return off
        smaller_off = self._put_record(rec.smaller) if rec.smaller is not None else 0
        signed_off = self._put_record(rec.signed) if rec.signed is not None else 0
        own_off = self._put_record(rec.own) if rec.own is not None else 0
        base_off = self._put_record(rec.proved.base) if rec.proved is not None else 0
        chain_off = self._chain_offs[rec.cover.zone] if rec.cover is not None else 0
        if rec.proved is not None:
            chain_off = self._chain_offs[rec.proved.zone]
        off = self._put(record_blob(rec, smaller_off, signed_off, chain_off, own_off, base_off))
        self._records[rec] = off
        return off

    def _put_chain(self, chain: Chain) -> int:
        """The chain's records, then the chain (its entries point at them)."""
        rrs_offs = [self._put(RRS.pack(count, len(wire), owner_len, chain.apex_len, 0) + wire)
                    for count, owner_len, wire in chain.rrs]
        if chain.kind == CHAIN_NSEC:
            entries = b"".join(NSEC_ENTRY.pack(self._put_name(key), off) for key, off in zip(chain.keys, rrs_offs))
            salt = b""
        else:
            entries = b"".join(NSEC3_ENTRY.pack(key, off) for key, off in zip(chain.keys, rrs_offs))
            salt = chain.salt + bytes(-len(chain.salt) % 4)
        return self._put(CHAIN.pack(chain.kind, len(chain.salt), chain.iterations, len(chain.keys))
                         + salt + entries, dedup=False)

    def build(self) -> bytes:
        """Return the finished image, checksum included."""
        index = {node.name: i for i, node in enumerate(self._nodes)}
        self._chain_offs = [self._put_chain(z.chain) if z.chain is not None else 0 for z in self._zones]
        refused_off = self._put_record(self._refused)
        chaos_offs = [self._put_record(r) if r is not None else 0 for r in self._chaos]
        node_blobs = []
        for node in self._nodes:
            entries = b"".join(ENTRY.pack(qt, 0, self._put_record(r)) for qt, r in node.entries)
            entries_off = self._put(entries) if entries else 0
            wildcard = index.get(b"\x01*" + node.name)
            node_blobs.append(NODE.pack(
                name_hash(node.name), self._put_name(node.name), len(node.name), node.flags,
                node.zone, entries_off, len(node.entries), 0,
                self._put_record(node.other), self._put_record(node.below),
                0 if wildcard is None else wildcard + 1,
            ))
        zone_blobs = [
            ZONE.pack(self._put_name(z.name), len(z.name), 0, 0, z.serial, index[z.name])
            for z in self._zones
        ]
        buckets = bytearray(self.bucket_count * BUCKET.size)
        mask = self.bucket_count - 1
        for i, node in enumerate(self._nodes):
            h = name_hash(node.name)
            slot = h & mask
            while BUCKET.unpack_from(buckets, slot * BUCKET.size)[1]:
                slot = (slot + 1) & mask
            BUCKET.pack_into(buckets, slot * BUCKET.size, h, i + 1)
        return bytes(ImageParts([self._data], buckets, b"".join(node_blobs), b"".join(zone_blobs),
                                refused_off, chaos_offs).join())


@dataclass(frozen=True)
class FileSpan:
    """Bytes of an image file already written: the previous image's data area, which a
    recompile keeps as it was (the kernel copies it, nothing is read into the process)."""

    path: str
    offset: int
    length: int

    def __len__(self) -> int:
        return self.length

    def copy_to(self, path: str) -> None:
        """Into a new file at path."""
        with open(path, "wb") as f:
            _copy_span(self, f.fileno(), 0)

    def read(self) -> bytes:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(self.length)
        if len(data) != self.length:
            raise ImageError(f"{self.path}: shorter than the image it held")
        return data


class ImageParts:
    """An image in pieces: header, data area (from HEADER.size: the parts one after the
    other), then buckets, nodes and zones, each 8-aligned; the checksum over everything
    after the header.  write() puts it into a file without joining it in memory (at a
    million names the data area is 180 MB); join() gives the bytes."""

    def __init__(self, data: list[Buffer | FileSpan], buckets: Buffer | FileSpan, nodes: Buffer, zones: Buffer,
                 refused_off: int, chaos_offs: list[int],
                 patch: Callable[[memoryview], None] | None = None) -> None:
        """:param patch: changes the joined or written image in place before the checksum
            (the native compiler's SOA serials)."""
        data_len = sum(len(part) for part in data)
        self.buckets_off = HEADER.size + _align8(data_len)
        self.nodes_off = self.buckets_off + len(buckets)
        self.zones_off = self.nodes_off + len(nodes)
        self.total = self.zones_off + len(zones)
        if self.total > 0xFFFFFFFF:
            raise ValueError("compiled image exceeds 4 GiB")
        self.data = data
        self.tail = [(self.buckets_off, buckets), (self.nodes_off, nodes), (self.zones_off, zones)]
        self.header = [MAGIC, VERSION, HEADER.size, self.total, 0, len(buckets) // BUCKET.size,
                       self.buckets_off, len(nodes) // NODE.size, self.nodes_off, len(zones) // ZONE.size,
                       self.zones_off, refused_off, 0, *chaos_offs]
        self.patch = patch

    def join(self) -> bytearray:
        out = bytearray(self.total)
        at = HEADER.size
        for part in self.data:
            out[at:at + len(part)] = part.read() if isinstance(part, FileSpan) else part
            at += len(part)
        for off, part in self.tail:
            out[off:off + len(part)] = part.read() if isinstance(part, FileSpan) else part
        self._finish(memoryview(out))
        return out

    def write(self, path: str, reuse: bool = False) -> None:
        """The image into the file at path (written whole, then checksummed in place).

        :param reuse: the file exists and nobody maps it: its pages are written over rather
            than freed and allocated again (at a million names, 180 MB each reload)."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | (0 if reuse else os.O_TRUNC), 0o666)
        with open(fd, "r+b") as f:
            f.truncate(self.total)
            at = HEADER.size
            for part in self.data:
                if isinstance(part, FileSpan):
                    _copy_span(part, f.fileno(), at)
                else:
                    os.pwrite(f.fileno(), part, at)
                at += len(part)
            os.pwrite(f.fileno(), bytes(self.buckets_off - at), at)  # the padding: no old bytes
            for off, part in self.tail:
                if isinstance(part, FileSpan):
                    _copy_span(part, f.fileno(), off)
                else:
                    os.pwrite(f.fileno(), part, off)
            with mmap.mmap(f.fileno(), self.total) as mapped:
                self._finish(memoryview(mapped))

    def _finish(self, out: memoryview) -> None:
        if self.patch is not None:
            self.patch(out)
        self.header[4] = zlib.crc32(out[HEADER.size:])
        HEADER.pack_into(out, 0, *self.header)


def _copy_span(span: FileSpan, fd: int, at: int) -> None:
    """Kernel-side copy (copy_file_range), or read and write where the kernel will not."""
    with open(span.path, "rb") as src:
        done = 0
        try:
            while done < span.length:
                n = os.copy_file_range(src.fileno(), fd, span.length - done, span.offset + done, at + done)
                if n == 0:
                    raise ImageError(f"{span.path}: shorter than the image it held")
                done += n
        except OSError:
            os.pwrite(fd, span.read()[done:], at + done)


#: what ImageParts takes: any bytes-like object
Buffer = bytes | bytearray | memoryview


def _align8(n: int) -> int:
    return (n + 7) & ~7


def record_blob(rec: Record, smaller_off: int = 0, signed_off: int = 0, chain_off: int = 0,
                own_off: int = 0, base_off: int = 0) -> bytes:
    """A record as the data area holds it: RECORD, its relocations, its extension (SIGNED,
    COVER or PROOFS), its tail."""
    if len(rec.tail) > MAX_TAIL:
        raise ValueError(f"response of {len(rec.tail)} bytes exceeds {MAX_TAIL}")
    ext, extension = 0, b""
    if signed_off:
        ext, extension = EXT_SIGNED, SIGNED.pack(signed_off, own_off)
    elif rec.proved is not None:
        entries = [e + 1 for e in rec.proved.entries] + [0, 0]
        ext, extension = EXT_PROOFS, PROOFS.pack(base_off, chain_off, entries[0], entries[1], rec.proved.kind,
                                                 int(rec.proved.cover), 0)
    elif rec.cover is not None:
        have = [h + 1 for h in rec.cover.have] + [0, 0]
        ext, extension = EXT_COVER, COVER.pack(rec.cover.at, rec.cover.kind, 0, chain_off, have[0], have[1])
    blob = RECORD.pack(rec.flags, rec.ancount, rec.nscount, rec.arcount, len(rec.tail),
                       len(rec.relocs), rec.qname_len, ext, 0, smaller_off)
    return blob + b"".join(RELOC.pack(r) for r in rec.relocs) + extension + rec.tail


def bucket_count_for(n_nodes: int) -> int:
    """A power of two at least twice the node count: linear probes stay short."""
    count = 8
    while count < 2 * n_nodes:
        count *= 2
    return count


class ImageError(Exception):
    """The image is not a valid fastdns image."""


@dataclass(frozen=True)
class Header:
    version: int
    total_size: int
    checksum: int
    bucket_count: int
    buckets_off: int
    node_count: int
    nodes_off: int
    zone_count: int
    zones_off: int
    refused_off: int


def read_header(image: Buffer | mmap.mmap, check: bool = True) -> Header:
    """Parse and check the header: magic, version, sizes and the body checksum.

    :param check: False: magic and version only (image may be just the header).
    :raises ImageError: when any of them is wrong.
    """
    if len(image) < HEADER.size:
        raise ImageError("image shorter than its header")
    (magic, version, header_size, total, checksum, bucket_count, buckets_off, node_count,
     nodes_off, zone_count, zones_off, refused_off, _flags, _cv, _ci) = HEADER.unpack_from(image)
    if magic != MAGIC:
        raise ImageError("bad magic")
    if version != VERSION or header_size != HEADER.size:
        raise ImageError(f"unsupported image version {version}")
    if check and total != len(image):
        raise ImageError(f"image is {len(image)} bytes, header says {total}")
    if check and zlib.crc32(memoryview(image)[HEADER.size:]) != checksum:
        raise ImageError("checksum mismatch")
    return Header(version, total, checksum, bucket_count, buckets_off, node_count, nodes_off,
                  zone_count, zones_off, refused_off)


def read_zones(image: bytes) -> list[tuple[bytes, int]]:
    """Return (apex wire name, serial) for every zone in a checked image."""
    hdr = read_header(image)
    zones = []
    for i in range(hdr.zone_count):
        name_off, name_len, _, _, serial, _ = ZONE.unpack_from(image, hdr.zones_off + i * ZONE.size)
        zones.append((bytes(image[name_off:name_off + name_len]), serial))
    return zones
