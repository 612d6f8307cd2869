# SPDX-License-Identifier: MIT
"""Compiling served zones into an image: every answer rendered ahead of time.

For each name in the hash table the compiler asks fastdns.lookup every question whose
answer can differ (each qtype present along the name's CNAME chain, ANY, and one "other"
qtype standing for all the rest) and renders the reply with dnspython's to_wire, as it
will sit behind the question in the data plane's buffer.
"""

from __future__ import annotations

import dataclasses
import io
import struct
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset

from fastdns import image
from fastdns.denial import NsecChain
from fastdns.lookup import ANY, DS, WILDCARD_LABEL, IndexedZone, Response, ZoneSet, negative_response
from fastdns.zone import LoadedZone

#: The owner the compiler gives records synthesised from a wildcard; it is rendered as a
#: fixed pointer to the question (offset 12).  It only has to differ from every name in
#: the response being rendered, and no zone file holds a top-level label like this one.
_SYNTHESISED_OWNER = dns.name.Name((b"\x00fastdns-synthesised-owner", b""))
QUESTION_OFFSET = 12


@dataclass
class CompileResult:
    parts: image.ImageParts | bytes  #: the image, in pieces or whole
    node_count: int
    record_count: int
    seconds: float
    compiled: list[str]  #: zones compiled this time
    reused: list[str]  #: zones whose compiled names came from the cache
    state: Any = None  #: what the next compile may reuse (fastdns.nativecompiler.CompiledImage)
    borrows: Any = None  #: what parts' buffers belong to, kept alive with them

    @property
    def image(self) -> bytes | bytearray:
        """The image's bytes (joined, once, when in pieces)."""
        if isinstance(self.parts, image.ImageParts):
            self.parts = bytes(self.parts.join())
        return self.parts

    @property
    def size(self) -> int:
        return self.parts.total if isinstance(self.parts, image.ImageParts) else len(self.parts)

    def write_image(self, path: str, reuse: bool = False) -> None:
        """The image into the file at path; reuse: see ImageParts.write."""
        if isinstance(self.parts, image.ImageParts):
            self.parts.write(path, reuse)
        else:
            with open(path, "wb") as f:
                f.write(self.parts)


#: Compiled names per zone, kept by the caller between compiles: {key: (zones, nodes)}.
#: The key holds id()s of LoadedZone objects; the value holds the objects themselves, so
#: an id cannot be reused while its entry exists.
CompileCache = dict

#: Called as progress(zone, names_done, names_total) while a big zone compiles.
Progress = Callable[[str, int, int], None]
PROGRESS_MIN_NAMES = 20000  #: smaller zones compile too fast to report on
PROGRESS_STEPS = 10


def compile_zones(zones: list[LoadedZone], chaos_version: str | None = None,
                  chaos_identity: str | None = None, minimal_responses: bool = True,
                  progress: Progress | None = None,
                  cache: CompileCache | None = None,
                  expired: frozenset[dns.name.Name] = frozenset()) -> CompileResult:
    """Compile the served zones into one image (see docs/image-format.md).

    :param chaos_version: the TXT answered to CH version.bind/version.server; None refuses.
    :param chaos_identity: the TXT answered to CH id.server/hostname.bind; None refuses.
    :param minimal_responses: leave the zone's NS out of positive answers.
    :param progress: told how far each zone of more than PROGRESS_MIN_NAMES names has got.
    :param cache: reuse a zone's compiled names when neither it nor any served zone above
        or below it changed (DS and cuts cross those lines), nor the options.
    :param expired: secondary zones past their SOA EXPIRE without a primary (RFC 1034
        4.3.5): every name of theirs is answered SERVFAIL.
    """
    started = time.monotonic()
    zone_set = ZoneSet(zones, minimal_responses)
    other = _unused_qtype(zones)
    nodes: list[image.Node] = []
    infos: list[image.ZoneInfo] = []
    compiled, reused, used_keys = [], [], set()
    servfail = _render(Response(rcode=dns.rcode.SERVFAIL, aa=False), None)
    for index, zone in enumerate(sorted(zone_set.zones.values(), key=lambda z: z.origin)):
        if zone.origin in expired:
            infos.append(image.ZoneInfo(_wire(zone.origin), zone.loaded.serial))
            nodes.extend(_expired_nodes(zone_set, zone, index, servfail))
            compiled.append(zone.origin.to_text(True))
            continue
        infos.append(image.ZoneInfo(_wire(zone.origin), zone.loaded.serial, _chain(zone)))
        related = [z.loaded for z in zone_set.zones.values()
                   if z.origin.is_subdomain(zone.origin) or zone.origin.is_subdomain(z.origin)]
        key = (index, other, chaos_version, chaos_identity, minimal_responses,
               tuple(sorted(id(z) for z in related)))
        used_keys.add(key)
        if cache is not None and key in cache:
            nodes.extend(cache[key][1])
            reused.append(zone.origin.to_text(True))
            continue
        zone_nodes = _compile_zone(zone_set, zone, index, other, progress)
        if cache is not None:
            cache[key] = (related, zone_nodes)
        nodes.extend(zone_nodes)
        compiled.append(zone.origin.to_text(True))
    if cache is not None:
        for stale in set(cache) - used_keys:
            del cache[stale]
    refused = _render(Response(rcode=dns.rcode.REFUSED, aa=False), None)
    writer = image.ImageWriter(nodes, infos, refused, _chaos_txt("version.bind", chaos_version),
                               _chaos_txt("id.server", chaos_identity))
    data = writer.build()
    return CompileResult(data, len(nodes), len(writer._records), time.monotonic() - started,
                         compiled, reused)


def _compile_zone(zone_set: ZoneSet, zone: IndexedZone, index: int, other: int,
                  progress: Progress | None) -> list[image.Node]:
    negatives = _NegativeRecords(zone)
    nxdomain = negatives.record(negative_response(zone, dns.rcode.NXDOMAIN))
    names = _table_names(zone_set, zone)
    step = len(names) // PROGRESS_STEPS if progress and len(names) >= PROGRESS_MIN_NAMES else 0
    nodes = []
    for done, name in enumerate(names, 1):
        nodes.append(_compile_node(zone_set, zone, index, name, other, nxdomain, negatives))
        if step and progress is not None and done % step == 0:
            progress(zone.origin.to_text(True), done, len(names))
    return nodes


def _expired_nodes(zone_set: ZoneSet, zone: IndexedZone, index: int, servfail: image.Record) -> list[image.Node]:
    """An expired zone's names, each answering SERVFAIL to every question."""
    nodes = []
    for name in _table_names(zone_set, zone):
        flags = image.NODE_APEX if name == zone.origin else 0
        flags |= image.NODE_CUT if name in zone.cuts else 0
        flags |= image.NODE_ENT if zone.node(name) is None else 0
        flags |= image.NODE_WILDCARD if name.labels[0] == WILDCARD_LABEL else 0
        nodes.append(image.Node(_wire(name), flags, index, (), servfail, servfail))
    return nodes


def _table_names(zone_set: ZoneSet, zone: IndexedZone) -> list[dns.name.Name]:
    """Names the data plane must find: everything at or above the cuts, empty
    non-terminals included, that no more specific served zone owns."""
    names = [
        name for name in zone.existing
        if not zone.is_occluded(name) and zone_set.zone_for(name) is zone
    ]
    # Any fixed order makes the image reproducible; wire bytes sort in C, where dnspython's
    # canonical order (Name.__lt__) costs a Python comparison per step.
    return sorted(names, key=_wire)


class _NegativeRecords:
    """Negative answers with nothing but the apex SOA, compiled once per zone against the
    apex: relocation makes one record right for every name in the zone."""

    def __init__(self, zone: IndexedZone) -> None:
        self.zone = zone
        self.records: dict[tuple, image.Record] = {}

    def applies(self, response: Response) -> bool:
        return (not response.answer and not response.additional
                and all(rrset.name == self.zone.origin for rrset in response.authority))

    def record(self, response: Response) -> image.Record:
        key = _response_key(response)
        if key not in self.records:
            self.records[key] = _render(response, self.zone.origin)
        return self.records[key]


def _response_key(response: Response) -> tuple:
    """Identity of a response's content: lookups hand out shared RRset objects (a cover is
    told apart by the proofs it must not repeat)."""
    return (response.rcode, response.aa, response.glue_required,
            tuple(map(id, response.answer)), tuple(map(id, response.authority)),
            tuple(map(id, response.additional)), response.cover is not None,
            tuple(response.proofs[:2]) if response.cover is not None else ())


def _compile_node(zone_set: ZoneSet, zone: IndexedZone, zone_index: int, name: dns.name.Name,
                  other: int, nxdomain: image.Record, negatives: _NegativeRecords) -> image.Node:
    flags = 0
    if name == zone.origin:
        flags |= image.NODE_APEX
    if name in zone.cuts:
        flags |= image.NODE_CUT
    if zone.node(name) is None:
        flags |= image.NODE_ENT
    wildcard = name.labels[0] == WILDCARD_LABEL
    if wildcard:
        flags |= image.NODE_WILDCARD

    rendered: dict[tuple, image.Record] = {}
    # A DO=1 question to a wildcard is asked as one the wildcard answers (a name below its
    # parent that does not exist): that is what the records serve, proofs included.
    synthesis = _absent_child(zone, name.parent()) if wildcard else None

    def render(response: Response) -> image.Record:
        if negatives.applies(response):
            return negatives.record(response)
        key = _response_key(response)
        if key not in rendered:  # e.g. ANY usually answers as one of the types does
            rendered[key] = _render(response, name, synthesised=wildcard)
        return rendered[key]

    signed_rendered: dict[tuple, image.Record] = {}

    def render_signed(response: Response, qname: dns.name.Name, synthesised: bool) -> image.Record:
        key = (_response_key(response), qname, synthesised)
        if key not in signed_rendered:
            signed_rendered[key] = _render(response, qname, synthesised=synthesised, zone=zone,
                                           zone_index=zone_index)
        return signed_rendered[key]

    parent = zone_set.parent_zone(zone)

    def answer(qname: dns.name.Name, qtype: int) -> image.Record:
        """The record for (qname, qtype), with its DO=1 variant when the zone answering is
        signed (DS at the apex: the parent)."""
        record = render(zone_set.lookup(qname, qtype))
        in_parent = qtype == DS and qname == zone.origin and parent is not None
        if not (zone.signed or (in_parent and parent is not None and parent.signed)):
            return record
        own = render_signed(zone_set.lookup(qname, qtype, dnssec_ok=True), qname, wildcard)
        if synthesis is None:
            return dataclasses.replace(record, signed=own) if own != record else record
        signed = render_signed(zone_set.lookup(synthesis, qtype, dnssec_ok=True), synthesis, True)
        return dataclasses.replace(record, signed=signed, own=own if own != signed else None)

    if flags & image.NODE_CUT:
        referral = answer(name, other)
        # Below a cut nothing exists for us but the referral; DS belongs to the parent.
        ds = answer(name, DS)
        return image.Node(_wire(name), flags, zone_index, ((DS, ds),), referral, referral)
    default = zone_set.lookup(name, other)
    qtypes = {ANY} | _qtypes_along(zone_set, default)
    node = zone.node(name)
    if node is not None:
        qtypes |= {rds.rdtype for rds in node}
    if zone.signed:
        qtypes |= {dns.rdatatype.NSEC, dns.rdatatype.RRSIG}  # answered without following a CNAME
    if name == zone.origin and zone_set.parent_zone(zone) is not None:
        qtypes.add(DS)  # answered from the parent zone
    entries = tuple((qtype, answer(name, qtype)) for qtype in sorted(qtypes))
    return image.Node(_wire(name), flags, zone_index, entries, answer(name, other),
                      _below(zone_set, zone, zone_index, name, other, nxdomain))


def _below(zone_set: ZoneSet, zone: IndexedZone, zone_index: int, name: dns.name.Name, other: int,
           nxdomain: image.Record) -> image.Record:
    """The record for names below name that do not exist: the zone's NXDOMAIN; with DO=1
    in a signed zone, name's own (the proofs depend on the closest encloser, name)."""
    absent = _absent_child(zone, name) if zone.signed else None
    if absent is None or zone.node(dns.name.Name((WILDCARD_LABEL,) + name.labels)) is not None:
        return nxdomain  # unsigned; or a wildcard answers every name below
    signed = _render(zone_set.lookup(absent, other, dnssec_ok=True), name, zone=zone, zone_index=zone_index)
    return dataclasses.replace(nxdomain, signed=signed)


def _absent_child(zone: IndexedZone, name: dns.name.Name) -> dns.name.Name | None:
    """A name just below name that the zone does not have, to ask questions about the
    names below it that do not exist; None when no name fits below it (255 bytes)."""
    for label in (b"\x00", b"\x00\x00", b"\x00\x00\x00"):
        try:
            child = dns.name.Name((label,) + name.labels)
        except dns.name.NameTooLong:
            return None
        if child not in zone.existing:
            return child
    return None


def _chain(zone: IndexedZone) -> image.Chain | None:
    """The zone's denial chain as the image holds it: NSEC owners in canonical order, or
    NSEC3 hashes in order, each with its records (RR and signatures, see image.RRS)."""
    chain = zone.chain
    if chain is None:
        return None
    rrs = []
    for owner in chain.owners if isinstance(chain, NsecChain) else [chain.owners[h] for h in chain.hashes]:
        rrs.append(_chain_records(zone, owner))
    apex_len = len(_wire(zone.origin))
    if isinstance(chain, NsecChain):
        return image.Chain(image.CHAIN_NSEC, b"", 0, tuple(_wire(o) for o in chain.owners), tuple(rrs), apex_len)
    return image.Chain(image.CHAIN_NSEC3, chain.salt, chain.iterations, tuple(chain.hashes), tuple(rrs), apex_len)


def _chain_records(zone: IndexedZone, owner: dns.name.Name) -> tuple[int, int, bytes]:
    """(RR count, owner_len, the RRs) of a chain entry, as image.RRS describes them: the
    owner's labels below the apex and a pointer for the first RR, a pointer for the rest
    (the data plane fills the pointers in; RRSIG and NSEC rdata stay uncompressed, RFC 4034)."""
    relative = b"".join(bytes((len(label),)) + label for label in owner.relativize(zone.origin).labels)
    out = io.BytesIO()
    count = 0
    for rrset in zone.denial_rrsets(owner):
        for rdata in rrset:
            wire = rdata.to_wire()
            assert wire is not None
            out.write((relative if count == 0 else b"") + b"\xc0\x00")
            out.write(struct.pack("!HHIH", rrset.rdtype, rrset.rdclass, rrset.ttl, len(wire)) + wire)
            count += 1
    return count, len(relative), out.getvalue()


def _chaos_txt(name: str, text: str | None) -> image.Record | None:
    """A CH TXT reply, TTL 0 and no AA like Knot DNS and NSD; its owner is the question."""
    if text is None:
        return None
    owner = dns.name.from_text(name)
    data = text.encode()
    strings = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
    rrset = dns.rrset.RRset(owner, dns.rdataclass.CH, dns.rdatatype.TXT)
    rrset.add(dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.CH, dns.rdatatype.TXT, strings), 0)
    return _render(Response(aa=False, answer=[rrset]), owner, synthesised=True)


def _qtypes_along(zone_set: ZoneSet, response: Response) -> set[int]:
    """Every rdtype present on the nodes a lookup consulted (its CNAME chain)."""
    qtypes: set[int] = set()
    for origin, owner in response.consulted:
        node = zone_set.zones[origin].node(owner)
        if node is not None:
            qtypes |= {rds.rdtype for rds in node}
    return qtypes


def _unused_qtype(zones: list[LoadedZone]) -> int:
    """A private-use qtype (RFC 6895) present in no zone: it stands for 'any other qtype'."""
    used = {rds.rdtype for z in zones for _, node in z.zone.items() for rds in node}
    return next(t for t in range(0xFEFF, 0xFF00 - 256, -1) if t not in used)


def _wire(name: dns.name.Name) -> bytes:
    wire = name.canonicalize().to_wire()
    assert wire is not None  # to_wire returns None only when given a file to write to
    return wire


class _Compress(dict):
    """A dnspython compression table that notes where each pointer was written.

    dnspython's Name.to_wire asks compress.get(suffix) and, on a hit, writes the pointer at
    the file's current position; recording that position lets the data plane move the
    pointer when the question it answers is longer or shorter than the one compiled here.
    """

    def __init__(self, out: io.BytesIO) -> None:
        super().__init__()
        self.out = out
        self.pointer_sites: list[int] = []  #: positions of pointers to relocate
        self.frozen = False  #: no new targets (what follows moves when a cover goes in)

    def get(self, key, default=None):  # noqa: ANN001 - dict signature
        target = super().get(key, default)
        if target is not None and key != _SYNTHESISED_OWNER:
            self.pointer_sites.append(self.out.tell())
        return target

    def __setitem__(self, key, value) -> None:  # noqa: ANN001
        if value <= image.MAX_POINTER_TARGET and not self.frozen:
            super().__setitem__(key, value)


def _render(response: Response, qname: dns.name.Name | None,
            synthesised: bool = False, zone: IndexedZone | None = None, zone_index: int = 0) -> image.Record:
    """Render a response's sections as they will follow a question for qname.

    :param qname: the question the tail is compiled against; the data plane shifts the
        recorded pointers by the difference between the real question's length and this.
    :param synthesised: owners equal to qname stand for "whatever the question was"
        (wildcard synthesis): they become fixed pointers to offset 12, never shifted.
    :param zone: the zone asked, when the response may come from its chain; zone_index: its
        number in the image (response.cover is in its chain).
    """
    proved = _proved(response, zone, zone_index) if zone is not None else None
    if proved is not None:
        return proved
    record = _render_sections(response, qname, synthesised, response.additional, zone_index)
    smaller = None
    if response.additional and not response.glue_required:
        # Additional data is optional (RFC 2181 9): a reply that does not fit can drop it.
        smaller = _render_sections(response, qname, synthesised, [], zone_index)
    elif response.glue_required and any(rrset.rdtype != dns.rdatatype.RRSIG and not _among(rrset, response.glue)
                                        for rrset in response.additional):
        # All but a referral's in-domain glue, sibling glue too (RFC 9471 2.2).
        smaller = _render_sections(response, qname, synthesised, response.glue, zone_index)
    unsigned = [rrset for rrset in response.additional if rrset.rdtype != dns.rdatatype.RRSIG]
    if len(unsigned) < len(response.additional):
        # So can its signatures (RFC 4035 3.1.1), before the addresses (a referral's glue).
        smaller = dataclasses.replace(_render_sections(response, qname, synthesised, unsigned, zone_index),
                                      smaller=smaller)
    return dataclasses.replace(record, smaller=smaller) if smaller is not None else record


def _render_sections(response: Response, qname: dns.name.Name | None, synthesised: bool,
                     additional: list[dns.rrset.RRset], zone_index: int = 0) -> image.Record:
    out = io.BytesIO()
    out.seek(QUESTION_OFFSET)
    compress = _Compress(out)
    qname_len = 0
    if qname is not None:
        qname_len = len(_wire(qname))
        labels = qname.labels
        start = 0 if not synthesised else 1  # "*.<x>" itself is never a compression target
        offset = QUESTION_OFFSET + sum(len(label) + 1 for label in labels[:start])
        for i in range(start, len(labels) - 1):
            compress[dns.name.Name(labels[i:])] = offset
            offset += len(labels[i]) + 1
        if synthesised:
            compress[_SYNTHESISED_OWNER] = QUESTION_OFFSET
    tail_start = QUESTION_OFFSET + qname_len + 4
    out.seek(tail_start)
    counts = []
    cover = None
    for section in (response.answer, response.authority, additional):
        count = 0
        for rrset in section:
            if synthesised and qname is not None and rrset.name == qname:
                rrset = _renamed(rrset, _SYNTHESISED_OWNER)
            count += rrset.to_wire(out, compress, want_shuffle=False)
        counts.append(count)
        if section is response.authority and response.cover is not None:
            cover = _cover(response, out.tell() - tail_start, zone_index)
            compress.frozen = True  # the cover goes here: nothing after it may point past it
    tail = out.getvalue()[tail_start:]
    flags = int(response.rcode) & image.RCODE_MASK
    if response.aa:
        flags |= image.FLAG_AA
    relocs = tuple(site - tail_start for site in compress.pointer_sites)
    return image.Record(flags, counts[0], counts[1], counts[2], tail, qname_len, relocs, cover=cover)


#: each zone's record of its negative SOA and signature, which _proved's records name
_PROVED_BASES: weakref.WeakKeyDictionary[IndexedZone, image.Record] = weakref.WeakKeyDictionary()


def _proved(response: Response, zone: IndexedZone, zone_index: int) -> image.Record | None:
    """A DO=1 negative answer whose authority section is the zone's negative SOA, its
    signature and at most two records of the zone's chain (and the one covering the query
    name), as image.Proved: what the data plane puts together from the zone's SOA record
    and its chain, a few bytes per name instead of the records themselves; else None."""
    chain = zone.chain
    authority = response.authority
    if (chain is None or not response.dnssec_ok or response.answer or response.additional
            or len(authority) < 2 or authority[0] is not zone.negative_soa()
            or authority[1].rdtype != dns.rdatatype.RRSIG):
        return None
    proofs = response.proofs
    if len(proofs) > 2 or not (proofs or response.cover is not None):
        return None
    records = [rrset for owner in proofs for rrset in zone.denial_rrsets(owner)]
    if len(authority) != 2 + len(records) or any(a is not b for a, b in zip(authority[2:], records)):
        return None
    base = _PROVED_BASES.get(zone)
    if base is None:  # one per zone: relocation makes it right for every name
        base = _PROVED_BASES[zone] = _render(Response(authority=authority[:2]), zone.origin)
    flags = (int(response.rcode) & image.RCODE_MASK) | (image.FLAG_AA if response.aa else 0)
    kind = image.CHAIN_NSEC if isinstance(chain, NsecChain) else image.CHAIN_NSEC3
    entries = tuple(chain.index(owner) for owner in proofs)
    return image.Record(flags, 0, sum(len(rrset) for rrset in authority), 0, b"", 0,
                        proved=image.Proved(base, zone_index, kind, entries,
                                            response.cover is not None))


def _among(rrset: dns.rrset.RRset, rrsets: list[dns.rrset.RRset]) -> bool:
    """rrset is one of rrsets, the same object (lookups hand out shared ones)."""
    return any(rrset is other for other in rrsets)


def _cover(response: Response, at: int, zone_index: int) -> image.Cover:
    """What the data plane needs to add the response's query-dependent denial record."""
    zone = response.cover_zone
    assert zone is not None and zone.chain is not None
    kind = image.CHAIN_NSEC if isinstance(zone.chain, NsecChain) else image.CHAIN_NSEC3
    # the first two proofs are the closest encloser's (later ones are a CNAME target's)
    have = tuple(zone.chain.index(owner) for owner in response.proofs[:2])
    return image.Cover(kind, at, zone_index, have)


def _renamed(rrset: dns.rrset.RRset, owner: dns.name.Name) -> dns.rrset.RRset:
    renamed = dns.rrset.RRset(owner, rrset.rdclass, rrset.rdtype)
    renamed.update(rrset)
    renamed.ttl = rrset.ttl
    return renamed

