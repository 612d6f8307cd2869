# SPDX-License-Identifier: MIT
"""The workers' policy against abuse: response rate limiting and DNS cookies' secrets,
packed as the control block's ctl_policy (fastdns.controlblock.POLICY, ext/guard.pxi).

The secrets: from `cookies.secret_file` (one or two, 32 hex digits each: the first makes
server cookies, the second is still accepted), read at start and on every `fastdns
reload`, so anycast nodes given the same file accept each other's cookies (RFC 9018); or,
without a file, a random secret replaced on every reload, the one before still accepted
until the next.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

from fastdns.config import CookieConfig, RateLimitConfig
from fastdns.controlblock import COOKIE_SECRET_SIZE, POLICY
from fastdns.errors import FastDNSError


@dataclass(frozen=True)
class CookieSecrets:
    current: bytes
    previous: bytes | None = None


def read_secret_file(path: str) -> CookieSecrets:
    """The secrets a secret file lists.

    :raises FastDNSError: naming the file, the line and what is wrong.
    """
    try:
        with open(path, encoding="ascii") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise FastDNSError(f"{path}: cannot read the cookie secrets: {getattr(e, 'strerror', None) or e}") from None
    secrets = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            secret = bytes.fromhex(text)
        except ValueError:
            secret = b""
        if len(secret) != COOKIE_SECRET_SIZE:
            raise FastDNSError(f"{path}:{number}: expected a secret of {2 * COOKIE_SECRET_SIZE} hex digits")
        secrets.append(secret)
    if not 1 <= len(secrets) <= 2:
        raise FastDNSError(f"{path}: expected one or two secrets (current, then previous), found {len(secrets)}")
    return CookieSecrets(secrets[0], secrets[1] if len(secrets) == 2 else None)


class Policy:
    """What the workers are told, and its changes on reload."""

    def __init__(self, rate_limit: RateLimitConfig | None, cookies: CookieConfig | None, workers: int) -> None:
        """:raises FastDNSError: the secret file cannot be used."""
        self.rate_limit = rate_limit
        self.cookies = cookies
        self.workers = max(1, workers)
        self.secrets = self._read() if self._from_file() else CookieSecrets(os.urandom(COOKIE_SECRET_SIZE))

    def _from_file(self) -> bool:
        return self.cookies is not None and self.cookies.secret_file is not None

    def _read(self) -> CookieSecrets:
        assert self.cookies is not None and self.cookies.secret_file is not None
        return read_secret_file(self.cookies.secret_file)

    def rotate(self) -> None:
        """On reload: the file read again (on error the secrets stay, and it is raised), or
        a new random secret, the current one kept as the previous."""
        if self._from_file():
            self.secrets = self._read()
        else:
            self.secrets = CookieSecrets(os.urandom(COOKIE_SECRET_SIZE), self.secrets.current)

    def worker_rate(self) -> int:
        """Each worker's share of the configured rate (rounded up): the workers keep their
        own tables, and a prefix's queries spread over them."""
        if self.rate_limit is None:
            return 0
        return -(-self.rate_limit.rate // self.workers)

    def packed(self) -> bytes:
        rl = self.rate_limit
        previous = self.secrets.previous
        return POLICY.pack(self.worker_rate(), rl.slip if rl else 0, rl.ipv4_prefix if rl else 0,
                           rl.ipv6_prefix if rl else 0, 1 if self.cookies is not None else 0,
                           1 if previous is not None else 0, 0, self.secrets.current,
                           previous or bytes(COOKIE_SECRET_SIZE))


def packed_address(host: str) -> bytes | None:
    """A client's address as the data plane keys cookies and rate limits on: 4 bytes for
    IPv4 (an IPv4-mapped IPv6 address too), 16 for IPv6; None when host is not one."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.packed
    return address.packed
