# SPDX-License-Identifier: MIT
"""Catalog zones (RFC 9432), as a consumer: a secondary zone configured with `catalog: true`
lists, as PTR records below `zones.<catalog>`, the member zones this server serves as
secondaries too: from the catalog's primaries, with its key, their copies in the catalog
file's directory.  fastdns.server adds and removes them as the catalog changes."""

from __future__ import annotations

import logging
import os
from dataclasses import replace

import dns.exception
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone

from fastdns.config import ZoneConfig, zone_origin

log = logging.getLogger("fastdns")

#: RFC 9432 4.2: the schema version this consumer reads
VERSION = "2"


def members(catalog: ZoneConfig) -> list[str]:
    """The member zones the catalog's copy lists (RFC 9432 4.3), as names without the
    trailing dot; [] when it has no copy, or a version we do not read (logged)."""
    origin = zone_origin(catalog.name)
    try:
        zone = dns.zone.from_file(catalog.file, origin, relativize=False, check_origin=False)
    except (OSError, dns.exception.DNSException) as e:
        log.warning("catalog %s: cannot read %s: %s", catalog.name, catalog.file, e)
        return []
    version = zone.get_rdataset(dns.name.from_text("version", origin), dns.rdatatype.TXT)
    texts = {b"".join(rd.strings).decode(errors="replace") for rd in version} if version is not None else set()
    if VERSION not in texts:
        log.error("catalog %s: version %s, not %s (RFC 9432): its members are left as they are", catalog.name,
                  ", ".join(sorted(texts)) or "missing", VERSION)
        return []
    below = dns.name.from_text("zones", origin)
    found: list[str] = []
    for name, node in zone.nodes.items():
        if name.parent() != below:  # <unique-N>.zones.<catalog> (properties sit deeper)
            continue
        ptr = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.PTR)
        if ptr is not None and len(ptr) == 1:  # RFC 9432 4.3: exactly one PTR
            member = next(iter(ptr)).target.to_text(True).lower()
            if member not in found:
                found.append(member)
    return found


def member_config(catalog: ZoneConfig, member: str) -> ZoneConfig:
    """A member zone as a secondary of the catalog's primaries, its copy beside the catalog's."""
    directory = os.path.dirname(catalog.file)
    return replace(catalog, name=member, file=os.path.join(directory, f"{member}.zone"), catalog=False,
                   allow_transfer=(), notify=(), member_of=catalog.name)


def member_of(zone: ZoneConfig, catalog: ZoneConfig) -> bool:
    """zone was made from catalog (member_config)."""
    return zone.member_of == catalog.name
