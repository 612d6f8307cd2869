# SPDX-License-Identifier: MIT
"""The production zone compiler: fastdns._compiler (native/) over zones in native form.

It writes the image fastdns.compiler (the executable specification, dnspython) writes for
the same zones, byte for byte; tests/unit/test_native_compiler.py holds the two to that.
The few records that do not depend on the zones (REFUSED, CH TXT) are rendered by the
specification here and put into the image where ImageWriter puts them.
"""

from __future__ import annotations

import logging
import mmap
import time
from collections.abc import Sequence
from dataclasses import dataclass

import dns.name
import dns.rcode

from fastdns import _compiler, image
from fastdns._compiler import NativeUnsupported, NativeZone
from fastdns.compiler import CompileResult, Progress, _chaos_txt, _render
from fastdns.lookup import Response

log = logging.getLogger("fastdns")
__all__ = ["CompiledImage", "NativeUnsupported", "NativeZone", "compile_native"]
#: the previous image's bytes: bytes, or its file mapped
Buffer = bytes | memoryview | mmap.mmap


class _NotPatched(Exception):
    """The previous image cannot be patched as planned: compile everything."""


@dataclass
class CompiledImage:
    """What one compile leaves for the next, so that zones that did not change are copied
    from the image it wrote instead of compiled again."""

    zones: dict[bytes, tuple[NativeZone, int, int, int]]  #: apex -> (zone, first node, nodes, data bytes)
    order: list[bytes]  #: apexes in image order
    data_end: int  #: where the data area ends: new data is appended there
    refused_off: int
    chaos_offs: list[int]
    key: tuple  #: the options and the "other" qtype: when they change, everything is compiled
    garbage: int = 0  #: data bytes only replaced zones used


@dataclass(frozen=True)
class _Placed:
    zone: NativeZone
    parent: NativeZone | None  #: the served zone just above its apex
    children: list[bytes]  #: apexes of the served zones just below it


def compile_native(zones: Sequence[NativeZone], chaos_version: str | None = None,
                   chaos_identity: str | None = None, minimal_responses: bool = True,
                   progress: Progress | None = None, previous: CompiledImage | None = None,
                   previous_image: Buffer | None = None, previous_path: str | None = None,
                   expired: frozenset[bytes] = frozenset()) -> CompileResult:
    """compiler.compile_zones for zones in native form.

    Without previous, the image is byte for byte the one compiler.compile_zones writes.
    With previous (and previous_image, the image it describes), a zone that is the same
    object as then, and whose served zones above and below are too, is copied from
    previous_image: only the others are compiled, their data appended (the image answers
    the same, laid out differently).  result.state is what the next compile takes.

    :param expired: apexes (lower-cased wire names) of the zones to answer SERVFAIL for
        (compiler.compile_zones's expired).
    :raises NativeUnsupported: a zone needs what only the Python compiler does.
    """
    started = time.monotonic()
    for z in zones:
        z.expired = z.origin in expired
        if z.unsupported is not None and not z.expired:
            raise NativeUnsupported(f"{_text(z)}: {z.unsupported}")
    placed = _place(zones)
    other = _unused_qtype(zones)
    key = (chaos_version, chaos_identity, minimal_responses, other, tuple(sorted(expired)))
    if previous is not None and previous_image is not None:
        reused = _reusable(placed, previous, key)
        if reused is not None and previous.garbage * 2 <= previous.data_end:
            try:
                return _compile_changed(placed, previous, previous_image, previous_path, reused, other,
                                        minimal_responses, progress, started)
            except _NotPatched as e:
                log.warning("compiling every zone: %s", e)
    node_count = 0
    for p in placed:
        _compiler.image_nodes(p.zone, p.children)
    for p in placed:
        node_count = _compiler.number_nodes(p.zone, node_count)
    # about a blob per record and one per name: a table at most half full never grows
    builder = _compiler.ImageBuilder(image.HEADER.size, 2 * (node_count + sum(z.rr_count for z in zones)) + 16)
    for p in placed:  # signed zones' denial chains first, as ImageWriter puts them
        _compiler.put_chain(builder, p.zone)
    refused_off = builder.put_fixed(image.record_blob(_render(Response(rcode=dns.rcode.REFUSED, aa=False), None)))
    chaos_offs = []
    for name, text in (("version.bind", chaos_version), ("id.server", chaos_identity)):
        record = _chaos_txt(name, text)
        chaos_offs.append(builder.put_fixed(image.record_blob(record)) if record is not None else 0)
    nodes = bytearray(node_count * image.NODE.size)
    added = _compiler.write_nodes(builder, [p.zone for p in placed], [p.parent for p in placed],
                                  list(range(len(placed))), other, minimal_responses, nodes, 0, progress,
                                  [_text(p.zone) for p in placed])
    sizes = {p.zone.origin: size for p, size in zip(placed, added)}
    zone_structs = b"".join(_compiler.zone_entry(builder, p.zone) for p in placed)
    buckets = _compiler.node_hashes_into_buckets(nodes, node_count, image.bucket_count_for(node_count))
    parts = image.ImageParts([_compiler.data_area(builder)], buckets, nodes, zone_structs, refused_off, chaos_offs)
    names = [_text(p.zone) for p in placed]
    result = CompileResult(parts, node_count, builder.records, time.monotonic() - started, names, [])
    result.borrows = builder  # the data area lives in it until the image is written
    result.state = _state(placed, image.HEADER.size + _compiler.data_size(builder), refused_off,
                          chaos_offs, key, sizes)
    return result


def _reusable(placed: list[_Placed], previous: CompiledImage, key: tuple) -> set[bytes] | None:
    """Apexes of the zones that can be copied: unchanged, like the served zones above and
    below them (DS and cuts cross those lines); None when the zones are not the same set
    in the same order, or the options changed: then nothing is."""
    if key != previous.key or [p.zone.origin for p in placed] != previous.order:
        return None
    changed = {p.zone.origin for p in placed if previous.zones[p.zone.origin][0] is not p.zone}
    return {p.zone.origin for p in placed
            if not any(_related(p.zone.origin, c) for c in changed)}


def _related(a: bytes, b: bytes) -> bool:
    """One apex is the other or below it (wire names end with their parents' bytes)."""
    return a.endswith(b) or b.endswith(a)


def _compile_changed(placed: list[_Placed], previous: CompiledImage, previous_image: Buffer,
                     previous_path: str | None,
                     reused: set[bytes], other: int, minimal_responses: bool, progress: Progress | None,
                     started: float) -> CompileResult:
    header = image.read_header(bytes(previous_image[:image.HEADER.size]), check=False)
    counts: dict[bytes, int] = {}
    plans: dict[bytes, list[int]] = {}  # names to compile again, where a patch will do
    first = 0
    for p in placed:
        old_zone, _, count, _ = previous.zones[p.zone.origin]
        if p.zone.origin in reused:
            counts[p.zone.origin] = count
            first += count
            continue
        counts[p.zone.origin] = _compiler.image_nodes(p.zone, p.children)
        _compiler.number_nodes(p.zone, first)
        first += counts[p.zone.origin]
        plan = _compiler.plan_patch(old_zone, p.zone, minimal_responses) \
            if old_zone is not p.zone and count == counts[p.zone.origin] else None
        if plan is not None:
            plans[p.zone.origin] = plan
    node_count = sum(counts.values())
    # the blob table sized for what is compiled (a one-record change: a few names), not
    # for the whole image: a table of millions of slots is memory touched for nothing
    expected = sum(len(plans[o]) if o in plans else counts[o] for o in counts if o not in reused)
    builder = _compiler.ImageBuilder(previous.data_end, 4 * expected + 16)
    nodes = bytearray(node_count * image.NODE.size)
    zone_structs = bytearray()
    first = 0
    compiled, sizes = [], {}
    patches: list[tuple[bytes, int, int]] = []  # (serial positions, old serial, new serial)
    garbage = previous.garbage
    renumbered = False  # a node has another number, or its zone's names changed
    for index, p in enumerate(placed):
        old_zone, old_first, count, size = previous.zones[p.zone.origin]
        renumbered |= first != old_first or (p.zone.origin not in reused and p.zone.origin not in plans)
        if p.zone.origin in reused:
            _copy_nodes(nodes, first, previous_image, header.nodes_off, old_first, count)
            zone_structs += _moved_zone_struct(previous_image, header.zones_off + index * image.ZONE.size,
                                               first - old_first)
            sizes[p.zone.origin] = size
            first += count
            continue
        before = _compiler.data_size(builder)
        plan = plans.get(p.zone.origin)
        if plan is not None:  # the change touches a few names: compile those, patch the serial
            _copy_nodes(nodes, first, previous_image, header.nodes_off, old_first, count)
            _compiler.write_some_nodes(builder, p.zone, p.parent, plan, index, other, minimal_responses, nodes)
            positions = old_zone.soa_positions()
            p.zone.inherit_soa_positions(positions)
            patches.append((positions, old_zone.serial, p.zone.serial))
            compiled.append(f"{_text(p.zone)} ({len(plan)} of {count} names)")
        else:
            _compiler.put_chain(builder, p.zone)
            _compiler.write_zone_nodes(builder, p.zone, p.parent, index, other, minimal_responses, nodes, 0,
                                       progress, _text(p.zone))
            compiled.append(_text(p.zone))
        zone_structs += _compiler.zone_entry(builder, p.zone)
        written = _compiler.data_size(builder) - before
        sizes[p.zone.origin] = written + (size if plan is not None else 0)
        # what no node points at any more: the zone's old data, or (patched) about as much
        # as the names compiled again wrote
        garbage += written if plan is not None else size
        first += counts[p.zone.origin]
    kept = not renumbered and node_count == header.node_count
    buckets = _buckets_kept(header, previous_image, previous_path) if kept else None
    if buckets is None:
        buckets = _compiler.node_hashes_into_buckets(nodes, node_count, image.bucket_count_for(node_count))
    new_data = _compiler.data_area(builder)
    old_data: image.Buffer | image.FileSpan = memoryview(previous_image)[image.HEADER.size:previous.data_end]
    if previous_path is not None:
        old_data = image.FileSpan(previous_path, image.HEADER.size, previous.data_end - image.HEADER.size)

    def patch(out: memoryview) -> None:
        for positions, old_serial, new_serial in patches:
            if not _compiler.patch_serials(out, positions, old_serial, new_serial):
                raise _NotPatched("an SOA serial is not where it was written")

    if patches:  # checked before anything is written: the image joined or written may not half-patch
        for positions, old_serial, _ in patches:
            if not _compiler.check_serials(previous_image, positions, old_serial):
                raise _NotPatched("an SOA serial is not where it was written")
    parts = image.ImageParts([old_data, new_data], buckets, nodes, zone_structs, previous.refused_off,
                             previous.chaos_offs, patch)
    result = CompileResult(parts, node_count, builder.records, time.monotonic() - started, compiled,
                           [_text(p.zone) for p in placed if p.zone.origin in reused])
    result.borrows = builder  # the new data lives in it until the image is written
    result.state = _state(placed, previous.data_end + len(new_data), previous.refused_off,
                          previous.chaos_offs, previous.key, sizes, garbage)
    return result


def _copy_nodes(nodes: bytearray, first: int, previous_image: Buffer, nodes_off: int, old_first: int,
                count: int) -> None:
    """count nodes of the previous image, from node old_first, to node number first."""
    _compiler.copy_nodes(nodes, first, previous_image, nodes_off, old_first, count)


def _buckets_kept(header: image.Header, previous_image: Buffer, previous_path: str | None
                  ) -> image.Buffer | image.FileSpan:
    """The previous image's name hash table, for nodes that all kept their names and numbers
    (the table holds only their hashes and numbers)."""
    size = header.bucket_count * image.BUCKET.size
    if previous_path is not None:
        return image.FileSpan(previous_path, header.buckets_off, size)
    return memoryview(previous_image)[header.buckets_off:header.buckets_off + size]


def _moved_zone_struct(previous_image: Buffer, at: int, delta: int) -> bytes:
    """The previous image's zone struct at `at`, its apex node moved by delta."""
    fields = image.ZONE.unpack_from(previous_image, at)
    return image.ZONE.pack(*fields[:5], fields[5] + delta)


def _state(placed: list[_Placed], data_end: int, refused_off: int, chaos_offs: list[int], key: tuple,
           sizes: dict[bytes, int], garbage: int = 0) -> CompiledImage:
    zones = {}
    first = 0
    for p in placed:
        count = _compiler.node_count_of(p.zone)
        zones[p.zone.origin] = (p.zone, first, count, sizes.get(p.zone.origin, 0))
        first += count
    return CompiledImage(zones, [p.zone.origin for p in placed], data_end, refused_off, chaos_offs, key,
                         garbage)


def _text(zone: NativeZone) -> str:
    """The zone's name as configured (set by fastdns.zone), else from its wire form."""
    return zone.label or dns.name.from_wire(zone.origin_case, 0)[0].to_text(True)


def _canonical_key(wire: bytes) -> tuple[bytes, ...]:
    """Sorts lower-cased wire names as dnspython's Name does (RFC 4034 6.1): label by
    label from the root."""
    labels = []
    at = 0
    while wire[at]:
        labels.append(wire[at + 1:at + 1 + wire[at]])
        at += wire[at] + 1
    return tuple(reversed(labels))


def _place(zones: Sequence[NativeZone]) -> list[_Placed]:
    """Zones in the image's order (dnspython's Name order of their apexes), each with the
    served zone above it and those below it."""
    by_origin = {z.origin: z for z in zones}
    ordered = sorted(zones, key=lambda z: _canonical_key(z.origin))
    parents: dict[bytes, NativeZone | None] = {}
    children: dict[bytes, list[bytes]] = {z.origin: [] for z in zones}
    for z in ordered:
        parent = None
        suffix = z.origin
        while suffix != b"\x00" and parent is None:
            suffix = suffix[suffix[0] + 1:]
            parent = by_origin.get(suffix)
        parents[z.origin] = parent
        if parent is not None:
            children[parent.origin].append(z.origin)
    return [_Placed(z, parents[z.origin], children[z.origin]) for z in ordered]


def _unused_qtype(zones: Sequence[NativeZone]) -> int:
    """compiler._unused_qtype: a private-use qtype (RFC 6895) present in no zone."""
    used = set().union(*(z.rdtypes for z in zones)) if zones else set()
    return next(t for t in range(0xFEFF, 0xFF00 - 256, -1) if t not in used)
