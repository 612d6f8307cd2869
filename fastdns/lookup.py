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

from fastdns.denial import Chain, Nsec3Chain, is_nsec3_owner, read_chain
from fastdns.zone import LoadedZone

IN = dns.rdataclass.IN
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
ANY = dns.rdatatype.ANY
CNAME = dns.rdatatype.CNAME
DS = dns.rdatatype.DS
MX = dns.rdatatype.MX
NS = dns.rdatatype.NS
NSEC3 = dns.rdatatype.NSEC3
RRSIG = dns.rdatatype.RRSIG
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
    #: the additional section holds glue the answer cannot do without (RFC 9471: a
    #: referral's in-domain glue), so a size limit that cannot fit it must truncate
    #: rather than drop it
    glue_required: bool = False
    #: those RRsets of the additional section (the rest, sibling glue included, can go)
    glue: list[dns.rrset.RRset] = field(default_factory=list)
    #: (zone origin, owner) of every node whose data shaped this response
    consulted: list[tuple[dns.name.Name, dns.name.Name]] = field(default_factory=list)
    #: the query had DO=1 (RFC 3225): signatures and denial proofs from signed zones
    dnssec_ok: bool = False
    #: a denial record that depends on the query name (RFC 4035 3.1.3, RFC 5155 7.2): the
    #: NSEC covering this name, or the NSEC3 covering its hash; it goes at the end of the
    #: authority section with its signature, unless it is one of `proofs` already there
    cover: dns.name.Name | None = None
    #: the zone whose chain `cover` is looked up in
    cover_zone: IndexedZone | None = None
    #: owners of the NSEC/NSEC3 records the authority section already holds
    proofs: list[dns.name.Name] = field(default_factory=list)


class IndexedZone:
    """A loaded zone plus the name facts lookups need: cuts and empty non-terminals."""

    def __init__(self, loaded: LoadedZone) -> None:
        self.loaded = loaded
        self.origin = loaded.origin
        self.zone = loaded.zone
        #: the zone's name space: every node but NSEC3 owners (RFC 5155 7.2.8)
        self.nodes: dict[dns.name.Name, dns.node.Node] = {
            name: node for name, node in self.zone.nodes.items()
            if node.get_rdataset(IN, NSEC3) is None or not is_nsec3_owner(node)
        }
        self.cuts: set[dns.name.Name] = {
            name for name, node in self.nodes.items()
            if name != self.origin and node.get_rdataset(IN, NS) is not None
        }
        apex = self.nodes.get(self.origin)
        #: signed elsewhere: the apex has signatures (then DO=1 answers carry them)
        self.signed = apex is not None and any(rds.rdtype == RRSIG for rds in apex)
        #: its NSEC or NSEC3 chain, when it has one
        self.chain: Chain | None = read_chain(self.origin, self.zone.nodes) if self.signed else None
        #: every name that exists: owners with data and the empty non-terminals above them
        self.existing: set[dns.name.Name] = set()
        for name in self.nodes:
            while name not in self.existing:
                self.existing.add(name)
                if name == self.origin:
                    break
                name = name.parent()
        # Memos: a compile asks the same questions about the same names many times.
        self._cut_of: dict[dns.name.Name, dns.name.Name | None] = {self.origin: None}
        self._rrsets: dict[tuple[dns.name.Name, int, dns.name.Name], dns.rrset.RRset] = {}
        self._sigs: dict[tuple[dns.name.Name, int, dns.name.Name, int | None], dns.rrset.RRset | None] = {}
        self._denials: dict[dns.name.Name, list[dns.rrset.RRset]] = {}
        self._negative_soa: dns.rrset.RRset | None = None
        #: the compiler's record of the negative SOA and its signature (compiler._proved)
        self.proved_base: object = None

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

        Reads the nodes directly: Zone.get_node would first check, again, that the name is
        inside the zone, which every caller here already knows."""
        return self.nodes.get(name)

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

    def signature(self, name: dns.name.Name, covered: int, owner: dns.name.Name | None = None,
                  ttl: int | None = None) -> dns.rrset.RRset | None:
        """The RRSIG RRset at name over its covered RRset, owned by owner (a wildcard's
        question) or name; ttl: capped at this (a negative answer's SOA, RFC 2308 3)."""
        owner = owner or name
        key = (name, covered, owner, ttl)
        if key not in self._sigs:
            node = self.zone.nodes.get(name)  # NSEC3 owners too: their records are signed
            rdataset = node.get_rdataset(IN, RRSIG, cast(dns.rdatatype.RdataType, covered)) \
                if node is not None else None
            rrset = _as_rrset(owner, rdataset) if rdataset is not None else None
            if rrset is not None and ttl is not None:
                rrset.ttl = min(rrset.ttl, ttl)
            self._sigs[key] = rrset
        return self._sigs[key]

    def denial_rrsets(self, owner: dns.name.Name) -> list[dns.rrset.RRset]:
        """The NSEC or NSEC3 record at owner (one of the chain's) and its signature (the
        same objects each time, as rrset() hands out)."""
        assert self.chain is not None
        found = self._denials.get(owner)
        if found is None:
            node = self.zone.nodes[owner]
            rrset = _as_rrset(owner, node.find_rdataset(IN, self.chain.kind))
            sig = self.signature(owner, self.chain.kind)
            found = self._denials[owner] = [rrset] + ([sig] if sig is not None else [])
        return found

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

    def lookup(self, qname: dns.name.Name, qtype: int, dnssec_ok: bool = False) -> Response:
        """Answer (qname, IN, qtype) as an authoritative server would; dnssec_ok: the
        query had DO=1.  A denial record that depends on the query name is left in
        response.cover (see complete())."""
        zone = self.zone_for(qname)
        if zone is None:
            return Response(rcode=dns.rcode.REFUSED, aa=False)
        if qtype == DS and qname == zone.origin:
            # The DS RRset lives on the parent side of the cut (RFC 4035 3.1.4.1).
            zone = self.parent_zone(zone) or zone
        response = Response(dnssec_ok=dnssec_ok)
        _lookup_in(zone, qname, qtype, response, set(), True)
        if not self.minimal_responses:
            _add_authority_ns(zone, response)
        return response

    def answer(self, qname: dns.name.Name, qtype: int, dnssec_ok: bool = False) -> Response:
        """The whole answer to this one question: lookup(), completed."""
        return complete(self.lookup(qname, qtype, dnssec_ok))


def complete(response: Response) -> Response:
    """The response with its query-dependent denial record (response.cover) put at the end
    of the authority section, with its signature, unless it is there already."""
    zone = response.cover_zone
    if response.cover is not None and zone is not None and zone.chain is not None:
        owner = zone.chain.covering(response.cover)
        if owner not in response.proofs:
            response.proofs.append(owner)
            response.authority.extend(zone.denial_rrsets(owner))
        response.cover = None
    return response


def _lookup_in(zone: IndexedZone, qname: dns.name.Name, qtype: int, response: Response,
               seen: set[dns.name.Name], from_query: bool) -> None:
    """from_query: qname is the query's own name (not a CNAME's target), so a denial that
    names it is found per query."""
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
            _nxdomain(zone, qname, response, from_query)
            return
        source = wildcard
    response.consulted.append((zone.origin, source))
    node = zone.node(source)
    assert node is not None
    if qtype == ANY:
        # RFC 8482 4.1: answer with one RRset, not all; like Knot DNS, the lowest type.
        qtype = min(rds.rdtype for rds in node if rds.rdtype != RRSIG)
    if qtype == RRSIG:
        rrset = _lowest_signature(zone, source, qname)
        if rrset is not None:
            response.answer.append(rrset)
            _prove_synthesis(zone, qname, source, response, from_query)
            return
    rrset = zone.rrset(source, qtype, owner=qname) if qtype != RRSIG else None
    if rrset is not None:
        _put(zone, response, response.answer, rrset, source)
        _prove_synthesis(zone, qname, source, response, from_query)
        _add_additional(zone, response)
        return
    # Like Knot DNS, in a signed zone a question for NSEC records is about this name: no
    # CNAME is followed.
    cname = node.get_rdataset(IN, CNAME) if not (qtype == dns.rdatatype.NSEC and zone.signed) else None
    if cname is not None:
        cname_rrset = zone.rrset(source, CNAME, owner=qname)
        assert cname_rrset is not None
        _put(zone, response, response.answer, cname_rrset, source)
        _prove_synthesis(zone, qname, source, response, from_query)
        target = cname[0].target
        if (target.is_subdomain(zone.origin) and target not in seen
                and len(seen) < MAX_CNAME_CHAIN):
            _lookup_in(zone, target, qtype, response, seen, False)
        return
    if source != qname:
        _wildcard_nodata(zone, qname, source, response, from_query)
        return
    _nodata(zone, source, response)


def _lowest_signature(zone: IndexedZone, source: dns.name.Name, owner: dns.name.Name) -> dns.rrset.RRset | None:
    """qtype RRSIG as Knot DNS answers it: the signatures over the lowest type signed."""
    node = zone.node(source)
    assert node is not None
    covered = [rds.covers for rds in node if rds.rdtype == RRSIG]
    if not covered:
        return None
    return zone.signature(source, min(covered), owner=owner)


def _signed(zone: IndexedZone, response: Response) -> bool:
    return response.dnssec_ok and zone.signed


def _proving(zone: IndexedZone, response: Response) -> Chain | None:
    """The chain the response's denial proofs come from: the zone's, when it is signed and
    the query had DO=1; else None."""
    return zone.chain if _signed(zone, response) else None


def _put(zone: IndexedZone, response: Response, section: list[dns.rrset.RRset], rrset: dns.rrset.RRset,
         source: dns.name.Name | None = None, ttl: int | None = None) -> None:
    """rrset into section, followed by its signature when the answer carries them
    (RFC 4035 3.1.1); source: where it is in the zone when its owner is a wildcard's
    question; ttl: the signature's TTL cap."""
    section.append(rrset)
    if _signed(zone, response):
        sig = zone.signature(source or rrset.name, rrset.rdtype, owner=rrset.name, ttl=ttl)
        if sig is not None:
            section.append(sig)


def _prove(zone: IndexedZone, response: Response, owner: dns.name.Name | None) -> None:
    """The chain's record at owner, and its signature, in authority (once)."""
    if owner is not None and owner not in response.proofs:
        response.proofs.append(owner)
        response.authority.extend(zone.denial_rrsets(owner))


def _prove_covered(zone: IndexedZone, response: Response, name: dns.name.Name, per_query: bool) -> None:
    """The NSEC covering name, or the NSEC3 covering its hash: found per query when name
    comes from the query name (response.cover), else put in now."""
    assert zone.chain is not None
    if per_query:
        response.cover, response.cover_zone = name, zone
    else:
        _prove(zone, response, zone.chain.covering(name))


def _next_closer(qname: dns.name.Name, encloser: dns.name.Name) -> dns.name.Name:
    """RFC 5155 1.3: the name one label longer than the encloser, toward qname."""
    return dns.name.Name(qname.labels[-(len(encloser.labels) + 1):])


def _closest_encloser_proof(zone: IndexedZone, response: Response, qname: dns.name.Name,
                            encloser: dns.name.Name, per_query: bool) -> None:
    """RFC 5155 7.2.1: the NSEC3 matching the closest provable encloser, and the one covering
    the next closer name.  Opt-out can leave the closest encloser without an NSEC3: the
    proof then starts at the first name above it that has one.  per_query: encloser is
    the closest encloser of the query name, found per query."""
    chain = zone.chain
    assert isinstance(chain, Nsec3Chain)
    provable = encloser
    while chain.matching(provable) is None and provable != zone.origin:
        provable = provable.parent()
    _prove(zone, response, chain.matching(provable))
    _prove_covered(zone, response, _next_closer(qname, provable), per_query and provable == encloser)


def _prove_synthesis(zone: IndexedZone, qname: dns.name.Name, source: dns.name.Name, response: Response,
                     from_query: bool) -> None:
    """RFC 4035 3.1.3.3, RFC 5155 7.2.6: an answer synthesised from a wildcard proves that
    no closer match exists.  When the answer is the wildcard's own NSEC (qtype NSEC), that
    record is not repeated as the proof, as Knot DNS does."""
    if source == qname or _proving(zone, response) is None:
        return
    if response.answer and response.answer[0].rdtype == dns.rdatatype.NSEC:
        response.proofs.append(source)  # in the answer section already
    if isinstance(zone.chain, Nsec3Chain):
        _prove_covered(zone, response, _next_closer(qname, source.parent()), from_query)
    else:
        _prove_covered(zone, response, qname, from_query)


def negative_response(zone: IndexedZone, rcode: dns.rcode.Rcode) -> Response:
    """NXDOMAIN or NODATA from the zone: the apex SOA in authority (RFC 2308 3)."""
    return Response(rcode=rcode, authority=[zone.negative_soa()])


def _negative_soa(zone: IndexedZone, response: Response) -> None:
    soa = zone.negative_soa()
    _put(zone, response, response.authority, soa, ttl=soa.ttl)


def _nodata(zone: IndexedZone, name: dns.name.Name, response: Response) -> None:
    """RFC 4035 3.1.3.1, RFC 5155 7.2.3/7.2.4: the name's own NSEC or NSEC3 (an empty
    non-terminal's: the NSEC whose span holds it; a name that opt-out left without an
    NSEC3: the closest provable encloser proof)."""
    response.consulted.append((zone.origin, name))
    _negative_soa(zone, response)
    chain = _proving(zone, response)
    if chain is None:
        return
    match = chain.matching(name)
    if match is not None:
        _prove(zone, response, match)
    elif isinstance(chain, Nsec3Chain):
        _closest_encloser_proof(zone, response, name, name.parent(), False)
    else:
        _prove(zone, response, chain.covering(name))


def _wildcard_nodata(zone: IndexedZone, qname: dns.name.Name, source: dns.name.Name, response: Response,
                     from_query: bool) -> None:
    """RFC 4035 3.1.3.4, RFC 5155 7.2.5: no such type at the wildcard that matched."""
    response.consulted.append((zone.origin, source))
    _negative_soa(zone, response)
    chain = _proving(zone, response)
    if chain is None:
        return
    if isinstance(chain, Nsec3Chain):
        _closest_encloser_proof(zone, response, qname, source.parent(), from_query)
    else:
        _prove_covered(zone, response, qname, from_query)
    _prove(zone, response, chain.matching(source))


def _nxdomain(zone: IndexedZone, qname: dns.name.Name, response: Response, from_query: bool) -> None:
    """RFC 4035 3.1.3.2, RFC 5155 7.2.2: the name is covered, and so is the wildcard that
    could have matched it."""
    response.rcode = dns.rcode.NXDOMAIN
    _negative_soa(zone, response)
    chain = _proving(zone, response)
    if chain is None:
        return
    encloser = _closest_encloser(zone, qname)
    if isinstance(chain, Nsec3Chain):
        _closest_encloser_proof(zone, response, qname, encloser, from_query)
    else:
        _prove_covered(zone, response, qname, from_query)
    _prove(zone, response, chain.covering(dns.name.Name((WILDCARD_LABEL,) + encloser.labels)))


def _closest_encloser(zone: IndexedZone, qname: dns.name.Name) -> dns.name.Name:
    encloser = qname.parent()
    while encloser not in zone.existing:
        encloser = encloser.parent()
    return encloser


def _wildcard_source(zone: IndexedZone, qname: dns.name.Name) -> dns.name.Name | None:
    """RFC 4592 3.3.1: the source of synthesis is '*' below the closest encloser."""
    source = dns.name.Name((WILDCARD_LABEL,) + _closest_encloser(zone, qname).labels)
    return source if zone.node(source) is not None else None


def _referral(zone: IndexedZone, cut: dns.name.Name, response: Response) -> None:
    """RFC 1034 4.3.2 step 3b: NS of the cut in authority, glue in additional, AA clear.
    Signed (RFC 4035 3.1.4, RFC 5155 7.2.7): the DS RRset, or the proof there is none."""
    ns = zone.rrset(cut, NS)
    assert ns is not None
    # AA describes the first name in the answer: a CNAME we own keeps it (RFC 1034 4.3.2).
    response.aa = bool(response.answer)
    response.consulted.append((zone.origin, cut))
    response.authority.append(ns)
    if _signed(zone, response):
        ds = zone.rrset(cut, DS)
        if ds is not None:
            _put(zone, response, response.authority, ds)
        elif zone.chain is not None:
            match = zone.chain.matching(cut)
            if match is not None:
                _prove(zone, response, match)
            elif isinstance(zone.chain, Nsec3Chain):
                _closest_encloser_proof(zone, response, cut, cut.parent(), False)
    _put_all(zone, response, response.additional, _addresses(zone, [rd.target for rd in ns], allow_glue=True))
    # RFC 9471 2.1: in-domain glue (at or below the cut) must be there, or TC=1; sibling
    # glue and other addresses may be left out of a reply they do not fit (2.2)
    response.glue = [rrset for rrset in response.additional
                     if rrset.rdtype in (A, AAAA) and rrset.name.is_subdomain(cut)]
    response.glue_required = bool(response.glue)


def _put_all(zone: IndexedZone, response: Response, section: list[dns.rrset.RRset],
             rrsets: list[dns.rrset.RRset]) -> None:
    for rrset in rrsets:
        _put(zone, response, section, rrset)


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
    _put_all(zone, response, response.additional, _addresses(zone, targets, allow_glue=False))


def _add_authority_ns(zone: IndexedZone, response: Response) -> None:
    """The non-minimal extras: apex NS in authority for a positive authoritative answer."""
    if response.rcode != dns.rcode.NOERROR or not response.answer or response.authority or response.cover:
        return
    if not response.aa or any(rrset.rdtype == NS and rrset.name == zone.origin
                              for rrset in response.answer):
        return
    ns = zone.rrset(zone.origin, NS)
    assert ns is not None
    _put(zone, response, response.authority, ns)
    present = {(rrset.name, rrset.rdtype) for rrset in response.additional}
    _put_all(zone, response, response.additional,
             [rrset for rrset in _addresses(zone, [rd.target for rd in ns], False)
              if (rrset.name, rrset.rdtype) not in present])


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
