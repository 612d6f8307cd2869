# SPDX-License-Identifier: MIT
"""What fastdns checks in a zone signed elsewhere, beyond what serving it needs: NSEC3
iterations within the cap validators apply (RFC 9276), at load; and, for `fastdns check`
and `fastdns status`, signatures expired or about to be, RRsets left unsigned, a broken
NSEC or NSEC3 chain, an apex without DNSKEY."""

from __future__ import annotations

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone

from fastdns.denial import Chain, Nsec3Chain, NsecChain, is_nsec3_owner, read_chain

IN = dns.rdataclass.IN

#: RFC 9276 3.2 lets validators treat NSEC3 with more iterations than they like as
#: insecure; BIND 9.20 and PowerDNS Recursor 5 stop at 50 (Unbound and Knot Resolver at
#: 150).  A zone above the cap would be served to most of them as unsigned: refused at load.
DEFAULT_NSEC3_ITERATIONS_MAX = 50
_nsec3_iterations_max = DEFAULT_NSEC3_ITERATIONS_MAX


def set_nsec3_iterations_max(value: int) -> None:
    """The cap the configuration sets (nsec3_iterations_max), for every load after."""
    global _nsec3_iterations_max
    _nsec3_iterations_max = value


def nsec3_iterations_problem(zone: str, iterations: int) -> str | None:
    """Why a zone whose NSEC3PARAM has this many iterations is refused, or None."""
    if iterations <= _nsec3_iterations_max:
        return None
    return (f"zone {zone} is signed with NSEC3 with {iterations} iterations, above nsec3_iterations_max "
            f"({_nsec3_iterations_max}): validators would treat the zone as insecure (RFC 9276); "
            f"re-sign it with fewer (0 is the advice)")


# -- fastdns check ------------------------------------------------------------------------

def review(origin: dns.name.Name, zone: dns.zone.Zone, filename: str,
           lines: dict[tuple[dns.name.Name, int], int], now: float,
           warn_days: float) -> tuple[list[str], list[str]]:
    """(errors, warnings) about a signed zone (one with signatures at its apex), each as
    'file:line: reason' (or 'file: reason'), for `fastdns check`.

    :param zone: the dnspython Zone (fastdns.zone.load_zone_lines's); lines: (owner, type) -> line.
    """
    errors: list[str] = []
    warnings: list[str] = []

    def where(name: dns.name.Name, rdtype: int) -> str:
        line = lines.get((name, rdtype))
        return f"{filename}:{line}" if line else filename

    apex = zone.nodes.get(origin)
    if apex is None or apex.get_rdataset(IN, dns.rdatatype.DNSKEY) is None:
        errors.append(f"{filename}: signed zone {origin} has no DNSKEY at its apex")
    cuts = {name for name, node in zone.nodes.items()
            if name != origin and node.get_rdataset(IN, dns.rdatatype.NS) is not None}
    deadline = now + warn_days * 86400
    for name, node in zone.nodes.items():
        signed = {rds.covers for rds in node if rds.rdtype == dns.rdatatype.RRSIG}
        glue = _below_a_cut(name, origin, cuts)
        for rds in node:
            if rds.rdtype == dns.rdatatype.RRSIG:
                warnings += _expiry_warnings(where(name, rds.rdtype), name, rds, now, deadline)
            elif not glue and not (name in cuts and rds.rdtype != dns.rdatatype.DS) \
                    and rds.rdtype not in signed:  # glue and delegation NS are not signed (RFC 4035 2.2)
                errors.append(f"{where(name, rds.rdtype)}: {name} {dns.rdatatype.to_text(rds.rdtype)} "
                              f"is not signed in a signed zone")
    chain = read_chain(origin, zone.nodes)
    if chain is not None:
        errors += [f"{filename}: {problem}" for problem in _chain_problems(origin, zone, chain, cuts)]
    return errors, warnings


def _below_a_cut(name: dns.name.Name, origin: dns.name.Name, cuts: set[dns.name.Name]) -> bool:
    while name != origin:
        name = name.parent()
        if name in cuts:
            return True
    return False


def _expiry_warnings(where: str, name: dns.name.Name, rdataset, now: float, deadline: float) -> list[str]:
    covered = dns.rdatatype.to_text(rdataset.covers)
    found = []
    for sig in rdataset:
        left = _seconds_until(sig.expiration, now)
        if left < 0:
            found.append(f"{where}: the RRSIG over {name} {covered} expired {-left // 86400} days ago")
        elif now + left < deadline:
            found.append(f"{where}: the RRSIG over {name} {covered} expires in {left // 86400} days")
    return found


def _seconds_until(expiration: int, now: float) -> int:
    """RFC 4034 3.1.5: 32-bit serial arithmetic around now."""
    delta = (expiration - int(now)) & 0xFFFFFFFF
    return delta - (1 << 32) if delta >= 1 << 31 else delta


def _chain_problems(origin: dns.name.Name, zone: dns.zone.Zone, chain: Chain,
                    cuts: set[dns.name.Name]) -> list[str]:
    """Names the chain leaves out, and records that do not link to the next."""
    authoritative = sorted(
        name for name, node in zone.nodes.items()
        if not _below_a_cut(name, origin, cuts)
        and not (node.get_rdataset(IN, dns.rdatatype.NSEC3) is not None and is_nsec3_owner(node)))
    problems = []
    if isinstance(chain, NsecChain):
        owners = chain.owners
        present = set(owners)
        problems += [f"broken NSEC chain: {name} has no NSEC" for name in authoritative if name not in present]
        for i, owner in enumerate(owners):
            nsec = zone.nodes[owner].find_rdataset(IN, dns.rdatatype.NSEC)[0]
            expected = owners[(i + 1) % len(owners)]
            if nsec.next != expected:
                problems.append(f"broken NSEC chain: {owner} NSEC points to {nsec.next}, the next owner is {expected}")
        return problems
    assert isinstance(chain, Nsec3Chain)
    hashes = chain.hashes
    records = [next(rd for rd in zone.nodes[chain.owners[h]].find_rdataset(IN, dns.rdatatype.NSEC3)
                    if rd.iterations == chain.iterations and rd.salt == chain.salt) for h in hashes]
    if not any(rd.flags & 1 for rd in records):  # with opt-out, insecure delegations may have none
        problems += [f"broken NSEC3 chain: {name} has no NSEC3" for name in authoritative
                     if chain.matching(name) is None]
    for i, rd in enumerate(records):
        if rd.next != hashes[(i + 1) % len(hashes)]:
            problems.append(f"broken NSEC3 chain: {chain.owners[hashes[i]]} NSEC3 does not point to the next hash")
    return problems
