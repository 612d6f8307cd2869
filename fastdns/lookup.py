# SPDX-License-Identifier: MIT
"""Authoritative lookup over the served zones (RFC 1034 4.3.2), in terms of RRsets.

This is where fastdns decides what an answer is.  It runs at compile time only: the
compiler asks it every question the data plane can be asked and renders the replies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

import dns.name
import dns.node
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset

from fastdns.zone import LoadedZone

IN = dns.rdataclass.IN
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
ANY = dns.rdatatype.ANY
CNAME = dns.rdatatype.CNAME
DS = dns.rdatatype.DS
MX = dns.rdatatype.MX
NS = dns.rdatatype.NS
SOA = dns.rdatatype.SOA
SRV = dns.rdatatype.SRV

#: RFC 1034 does not bound CNAME chains; like Knot, stop following after this many.
MAX_CNAME_CHAIN = 16
WILDCARD_LABEL = b"*"


@dataclass
class Response:
    """What an authoritative server answers, before it is put in wire format."""

    rcode: dns.rcode.Rcode = dns.rcode.NOERROR
    aa: bool = True
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authority: list[dns.rrset.RRset] = field(default_factory=list)
    additional: list[dns.rrset.RRset] = field(default_factory=list)
    #: the additional section holds glue the answer cannot do without (RFC 9471), so a
    #: size limit that cannot fit it must truncate rather than drop it
    glue_required: bool = False
    #: (zone origin, owner) of every node whose data shaped this response
    consulted: list[tuple[dns.name.Name, dns.name.Name]] = field(default_factory=list)


class IndexedZone:
    """A loaded zone plus the name facts lookups need: cuts and empty non-terminals."""

    def __init__(self, loaded: LoadedZone) -> None:
        self.loaded = loaded
        self.origin = loaded.origin
        self.zone = loaded.zone
        self.cuts: set[dns.name.Name] = {
            name for name, node in self.zone.items()
            if name != self.origin and node.get_rdataset(IN, NS) is not None
        }
        #: every name that exists: owners with data and the empty non-terminals above them
        self.existing: set[dns.name.Name] = set()
        for name in self.zone.keys():
            while name not in self.existing:
                self.existing.add(name)
                if name == self.origin:
                    break
                name = name.parent()
        # Memos: a compile asks the same questions about the same names many times.
        self._cut_of: dict[dns.name.Name, dns.name.Name | None] = {self.origin: None}
        self._rrsets: dict[tuple[dns.name.Name, int, dns.name.Name], dns.rrset.RRset] = {}
        self._negative_soa: dns.rrset.RRset | None = None

    def find_cut(self, name: dns.name.Name) -> dns.name.Name | None:
        """The highest delegation point at or above name (inside this zone), if any."""
        if name in self._cut_of:
            return self._cut_of[name]
        above = self.find_cut(name.parent())
        found = above if above is not None else (name if name in self.cuts else None)
        self._cut_of[name] = found
        return found

    def is_occluded(self, name: dns.name.Name) -> bool:
        """True for names strictly below a cut: glue, not authoritative data."""
        cut = self.find_cut(name)
        return cut is not None and cut != name

    def node(self, name: dns.name.Name) -> dns.node.Node | None:
        """The zone's node at name (an absolute name inside the zone), if it has one.

        Reads dnspython's Zone.nodes directly: Zone.get_node would first check, again,
        that the name is inside the zone, which every caller here already knows."""
        return self.zone.nodes.get(name)

    def rrset(self, name: dns.name.Name, rdtype: int,
              owner: dns.name.Name | None = None) -> dns.rrset.RRset | None:
        """The RRset of rdtype at name, owned by owner (a wildcard's question) or name.

        The same object is returned each time it is asked for: treat it as read-only.
        """
        owner = owner or name
        key = (name, rdtype, owner)
        rrset = self._rrsets.get(key)
        if rrset is None:
            node = self.node(name)
            rdataset = node.get_rdataset(IN, cast(dns.rdatatype.RdataType, rdtype)) if node is not None else None
            if rdataset is None:
                return None
            rrset = self._rrsets[key] = _as_rrset(owner, rdataset)
        return rrset

    def negative_soa(self) -> dns.rrset.RRset:
        """The apex SOA for a negative answer, TTL = min(SOA TTL, SOA MINIMUM) (RFC 2308 3)."""
        if self._negative_soa is None:
            rdataset = self.zone.get_rdataset(self.origin, SOA)
            assert rdataset is not None
            rrset = _as_rrset(self.origin, rdataset)
            rrset.ttl = min(rdataset.ttl, rdataset[0].minimum)
            self._negative_soa = rrset
        return self._negative_soa


def _as_rrset(owner: dns.name.Name, rdataset: dns.rdataset.Rdataset) -> dns.rrset.RRset:
    rrset = dns.rrset.RRset(owner, rdataset.rdclass, rdataset.rdtype)
    rrset.update(rdataset)
    rrset.ttl = rdataset.ttl
    return rrset


class ZoneSet:
    """All served zones; a name is answered by the most specific zone that contains it."""

    def __init__(self, zones: list[LoadedZone], minimal_responses: bool = True) -> None:
        self.zones: dict[dns.name.Name, IndexedZone] = {z.origin: IndexedZone(z) for z in zones}
        self._zone_of: dict[dns.name.Name, IndexedZone | None] = {}
        #: when False, positive answers also carry the zone's NS RRset in authority and the
        #: addresses of those servers in additional (RFC 1034 4.3.2 step 6, optional)
        self.minimal_responses = minimal_responses

    def zone_for(self, name: dns.name.Name) -> IndexedZone | None:
        """The most specific served zone containing name (memoised)."""
        if name in self._zone_of:
            return self._zone_of[name]
        zone = self.zones.get(name)
        if zone is None and name != dns.name.root:
            zone = self.zone_for(name.parent())
        self._zone_of[name] = zone
        return zone

    def parent_zone(self, zone: IndexedZone) -> IndexedZone | None:
        """The served zone just above zone's apex, if any."""
        if zone.origin == dns.name.root:
            return None
        return self.zone_for(zone.origin.parent())

    def lookup(self, qname: dns.name.Name, qtype: int) -> Response:
        """Answer (qname, IN, qtype) as an authoritative server would."""
        zone = self.zone_for(qname)
        if zone is None:
            return Response(rcode=dns.rcode.REFUSED, aa=False)
        if qtype == DS and qname == zone.origin:
            # The DS RRset lives on the parent side of the cut (RFC 4035 3.1.4.1).
            zone = self.parent_zone(zone) or zone
        response = Response()
        _lookup_in(zone, qname, qtype, response, set())
        if not self.minimal_responses:
            _add_authority_ns(zone, response)
        return response


def _lookup_in(zone: IndexedZone, qname: dns.name.Name, qtype: int, response: Response,
               seen: set[dns.name.Name]) -> None:
    seen.add(qname)
    cut = zone.find_cut(qname)
    if cut is not None and not (cut == qname and qtype == DS):
        _referral(zone, cut, response)
        return
    source = qname
    if zone.node(qname) is None:
        if qname in zone.existing:
            _nodata(zone, qname, response)  # an empty non-terminal
            return
        wildcard = _wildcard_source(zone, qname)
        if wildcard is None:
            response.rcode = dns.rcode.NXDOMAIN
            response.authority.append(zone.negative_soa())
            return
        source = wildcard
    response.consulted.append((zone.origin, source))
    node = zone.node(source)
    assert node is not None
    if qtype == ANY:
        # RFC 8482 4.1: answer with one RRset, not all; like Knot DNS, the lowest type.
        qtype = min(rds.rdtype for rds in node)
    rrset = zone.rrset(source, qtype, owner=qname)
    if rrset is not None:
        response.answer.append(rrset)
        _add_additional(zone, response)
        return
    cname = node.get_rdataset(IN, CNAME)
    if cname is not None:
        cname_rrset = zone.rrset(source, CNAME, owner=qname)
        assert cname_rrset is not None
        response.answer.append(cname_rrset)
        target = cname[0].target
        if (target.is_subdomain(zone.origin) and target not in seen
                and len(seen) < MAX_CNAME_CHAIN):
            _lookup_in(zone, target, qtype, response, seen)
        return
    _nodata(zone, source, response)


def negative_response(zone: IndexedZone, rcode: dns.rcode.Rcode) -> Response:
    """NXDOMAIN or NODATA from the zone: the apex SOA in authority (RFC 2308 3)."""
    return Response(rcode=rcode, authority=[zone.negative_soa()])


def _nodata(zone: IndexedZone, name: dns.name.Name, response: Response) -> None:
    response.consulted.append((zone.origin, name))
    response.authority.append(zone.negative_soa())


def _wildcard_source(zone: IndexedZone, qname: dns.name.Name) -> dns.name.Name | None:
    """RFC 4592 3.3.1: the source of synthesis is '*' below the closest encloser."""
    encloser = qname.parent()
    while encloser not in zone.existing:
        encloser = encloser.parent()
    source = dns.name.Name((WILDCARD_LABEL,) + encloser.labels)
    return source if zone.node(source) is not None else None


def _referral(zone: IndexedZone, cut: dns.name.Name, response: Response) -> None:
    """RFC 1034 4.3.2 step 3b: NS of the cut in authority, glue in additional, AA clear."""
    ns = zone.rrset(cut, NS)
    assert ns is not None
    # AA describes the first name in the answer: a CNAME we own keeps it (RFC 1034 4.3.2).
    response.aa = bool(response.answer)
    response.consulted.append((zone.origin, cut))
    response.authority.append(ns)
    response.additional.extend(_addresses(zone, [rd.target for rd in ns], allow_glue=True))
    response.glue_required = bool(response.additional)


def _add_additional(zone: IndexedZone, response: Response) -> None:
    """RFC 1034 3.7 / RFC 2782: addresses of in-zone NS, MX and SRV targets."""
    targets = []
    for rrset in response.answer:
        if rrset.rdtype == NS:
            targets += [rd.target for rd in rrset]
        elif rrset.rdtype == MX:
            targets += [rd.exchange for rd in rrset]
        elif rrset.rdtype == SRV:
            targets += [rd.target for rd in rrset]
    response.additional.extend(_addresses(zone, targets, allow_glue=False))


def _add_authority_ns(zone: IndexedZone, response: Response) -> None:
    """The non-minimal extras: apex NS in authority for a positive authoritative answer."""
    if response.rcode != dns.rcode.NOERROR or not response.answer or response.authority:
        return
    if not response.aa or any(rrset.rdtype == NS and rrset.name == zone.origin
                              for rrset in response.answer):
        return
    ns = zone.rrset(zone.origin, NS)
    assert ns is not None
    response.authority.append(ns)
    present = {(rrset.name, rrset.rdtype) for rrset in response.additional}
    response.additional.extend(rrset for rrset in _addresses(zone, [rd.target for rd in ns], False)
                               if (rrset.name, rrset.rdtype) not in present)


def _addresses(zone: IndexedZone, targets: list[dns.name.Name],
               allow_glue: bool) -> list[dns.rrset.RRset]:
    found: list[dns.rrset.RRset] = []
    done: set[dns.name.Name] = set()
    for target in targets:
        if target in done or not target.is_subdomain(zone.origin):
            continue
        done.add(target)
        if zone.is_occluded(target) and not allow_glue:
            continue
        for rdtype in (A, AAAA):
            rrset = zone.rrset(target, rdtype)
            if rrset is not None:
                found.append(rrset)
    return found
