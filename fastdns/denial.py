# SPDX-License-Identifier: MIT
"""Authenticated denial of existence in a pre-signed zone: its NSEC chain (RFC 4034 4,
RFC 4035 3.1.3) or its NSEC3 chain (RFC 5155), and which of their records prove a name or
a type absent.

A zone signed elsewhere carries the chain; fastdns only chooses records from it.  The
chain is the one the zone's apex announces: NSEC3 when the apex has an NSEC3PARAM (the
NSEC3 records with its parameters), else NSEC when the apex has one.
"""

from __future__ import annotations

import base64
import bisect
import hashlib
from collections.abc import Mapping

import dns.name
import dns.node
import dns.rdataclass
import dns.rdatatype

IN = dns.rdataclass.IN
NSEC = dns.rdatatype.NSEC
NSEC3 = dns.rdatatype.NSEC3
NSEC3PARAM = dns.rdatatype.NSEC3PARAM
#: RFC 5155 11: SHA-1, the one hash algorithm NSEC3 has
NSEC3_SHA1 = 1


def nsec3_hash(name: dns.name.Name, salt: bytes, iterations: int) -> bytes:
    """RFC 5155 5: IH(salt, x, 0) = H(x || salt), IH(salt, x, k) = H(IH(salt, x, k-1) || salt),
    over the canonical (lower-cased) wire form of the name."""
    wire = name.canonicalize().to_wire()
    assert wire is not None
    digest = hashlib.sha1(wire + salt).digest()
    for _ in range(iterations):
        digest = hashlib.sha1(digest + salt).digest()
    return digest


def hashed_label(label: bytes) -> bytes | None:
    """The hash an NSEC3 owner's first label spells in base32hex (RFC 4648 7), or None."""
    try:
        return base64.b32hexdecode(label.upper())
    except ValueError:
        return None


class NsecChain:
    """The zone's NSEC records in canonical order (RFC 4034 6.1)."""

    kind = NSEC

    def __init__(self, owners: list[dns.name.Name]) -> None:
        self.owners = sorted(owners)  # dns.name.Name orders canonically

    def matching(self, name: dns.name.Name) -> dns.name.Name | None:
        """The owner of the NSEC at name, if it has one."""
        i = bisect.bisect_left(self.owners, name)
        return self.owners[i] if i < len(self.owners) and self.owners[i] == name else None

    def covering(self, name: dns.name.Name) -> dns.name.Name:
        """The owner of the NSEC whose span holds name: the last owner at or before it in
        canonical order (the apex's NSEC, first in the chain, closes it at the end)."""
        i = bisect.bisect_right(self.owners, name)
        return self.owners[i - 1] if i else self.owners[-1]

    def index(self, owner: dns.name.Name) -> int:
        return bisect.bisect_left(self.owners, owner)


class Nsec3Chain:
    """The zone's NSEC3 records with the apex NSEC3PARAM's parameters, by hash."""

    kind = NSEC3

    def __init__(self, origin: dns.name.Name, salt: bytes, iterations: int,
                 owners: Mapping[bytes, dns.name.Name]) -> None:
        self.origin = origin
        self.salt = salt
        self.iterations = iterations
        self.hashes = sorted(owners)
        self.owners = owners

    def hash(self, name: dns.name.Name) -> bytes:
        return nsec3_hash(name, self.salt, self.iterations)

    def matching(self, name: dns.name.Name) -> dns.name.Name | None:
        """The owner of the NSEC3 whose hash is name's, if there is one."""
        return self.owners.get(self.hash(name))

    def covering(self, name: dns.name.Name) -> dns.name.Name:
        """The owner of the NSEC3 whose span holds name's hash: the last hash before it,
        or the last of all (whose span wraps around to the first)."""
        h = self.hash(name)
        i = bisect.bisect_left(self.hashes, h)
        return self.owners[self.hashes[i - 1] if i else self.hashes[-1]]

    def index(self, owner: dns.name.Name) -> int:
        h = hashed_label(owner.labels[0])
        assert h is not None
        return bisect.bisect_left(self.hashes, h)


Chain = NsecChain | Nsec3Chain


def read_chain(origin: dns.name.Name, nodes: Mapping[dns.name.Name, dns.node.Node]) -> Chain | None:
    """The chain the apex announces, or None (an unsigned zone, or one signed without
    denial records)."""
    apex = nodes.get(origin)
    if apex is None:
        return None
    param = apex.get_rdataset(IN, NSEC3PARAM)
    if param is not None:
        p = next(rd for rd in param if rd.algorithm == NSEC3_SHA1)  # RFC 5155 4.1.1
        owners = {}
        for name, node in nodes.items():
            rdataset = node.get_rdataset(IN, NSEC3)
            if rdataset is None or name.parent() != origin:
                continue
            if any(rd.algorithm == p.algorithm and rd.iterations == p.iterations and rd.salt == p.salt
                   for rd in rdataset):
                h = hashed_label(name.labels[0])
                if h is not None:
                    owners[h] = name
        return Nsec3Chain(origin, p.salt, p.iterations, owners) if owners else None
    if apex.get_rdataset(IN, NSEC) is not None:
        return NsecChain([name for name, node in nodes.items() if node.get_rdataset(IN, NSEC) is not None])
    return None


def is_nsec3_owner(node: dns.node.Node) -> bool:
    """A node holding nothing but NSEC3 records and their signatures: it is not part of the
    zone's name space (RFC 5155 7.2.8), so lookups do not see it."""
    return all(rds.rdtype == NSEC3 or (rds.rdtype == dns.rdatatype.RRSIG and rds.covers == NSEC3)
               for rds in node)
