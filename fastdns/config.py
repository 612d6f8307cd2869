# SPDX-License-Identifier: MIT
"""The configuration file (YAML): what to serve, where, with which backend.

One table, SETTINGS, says every setting's name, shape, default, check and meaning; the
parser, the defaults, the error messages and the README's table all come from it. Nothing
here reads the machine: which CPUs exist, an interface's queues and MTU are host facts,
read by fastdns.host when serving, so `fastdns check` gives the same verdict anywhere.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import yaml

from fastdns import yamlload
from fastdns.errors import ConfigError, FastDNSError
from fastdns.signed import DEFAULT_NSEC3_ITERATIONS_MAX


def default_config_path(package_dir: Path) -> Path:
    """The bundled configuration: in an installed package the wheel carries it as package
    data (fastdns/zones/); in a source checkout it is the repository's zones/."""
    bundled = package_dir / "zones" / "fastdns.yaml"
    return bundled if bundled.is_file() else package_dir.parent / "zones" / "fastdns.yaml"


#: The ready-to-run configuration for the bundled zones, used when no -c is given.
DEFAULT_CONFIG = default_config_path(Path(__file__).resolve().parent)
DEFAULT_PORT = 53
DEFAULT_UDP_PAYLOAD = 1232  # RFC 6891 6.2.5 guidance as of DNS Flag Day 2020
UNIX_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def __str__(self) -> str:
        return f"{self.host}@{self.port}"


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key (RFC 8945), as `tsig:` defines it."""

    name: str
    algorithm: str  #: hmac-sha256, hmac-sha384 or hmac-sha512
    secret: str  #: base64


@dataclass(frozen=True)
class ZoneConfig:
    name: str  #: the apex, as written in the configuration
    file: str  #: absolute path of the master file (a secondary's: its last transferred copy)
    primaries: tuple[ListenAddress, ...] = ()  #: a secondary zone's primaries, in the order tried
    tsig: TsigKey | None = None  #: the key its transfers are signed with
    #: clients that may transfer it from us (AXFR over TCP)
    allow_transfer: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    notify: tuple[ListenAddress, ...] = ()  #: secondaries told (NOTIFY) when it changes
    allow_transfer_key: TsigKey | None = None  #: transfers out must be signed with it
    catalog: bool = False  #: a catalog zone (RFC 9432): its members are served as secondaries
    refresh: int | None = None  #: a secondary's SOA timers, in place of its SOA's (None: the SOA's)
    retry: int | None = None
    expire: int | None = None
    member_of: str = ""  #: a member zone: the catalog that lists it (not a setting: fastdns.catalog)

    @property
    def secondary(self) -> bool:
        return bool(self.primaries)


@dataclass(frozen=True)
class XdpConfig:
    interface: str
    queues: tuple[int, ...] | None  #: RX queues served, one worker each; None = every queue
    mode: str = "native"  #: "native" (driver) or "generic" (SKB) XDP
    busy_poll: bool = False  #: spin on the rings instead of sleeping when idle


@dataclass(frozen=True)
class RateLimitConfig:
    rate: int  #: responses per second per client prefix and response class
    slip: int = 2  #: every slip-th limited response is sent truncated; 0: all dropped
    ipv4_prefix: int = 24
    ipv6_prefix: int = 56


@dataclass(frozen=True)
class CookieConfig:
    secret_file: str | None = None  #: one or two hex secrets; None: random, new on each reload


@dataclass(frozen=True)
class Config:
    """What the file says, validated; the same on every machine (see fastdns.host)."""

    path: str
    listen: tuple[ListenAddress, ...]
    udp_payload: int
    run_dir: str
    control_socket: str
    zones: tuple[ZoneConfig, ...]
    tsig: tuple[TsigKey, ...] = ()  #: the keys zones refer to by name
    notify_listen: tuple[ListenAddress, ...] = ()  #: where the control process takes NOTIFY
    tcp_idle_timeout: float = 10.0  #: seconds a TCP connection may sit idle (RFC 7766 6.2.3)
    tcp_max_connections: int = 256
    version: str | None = None  #: answered to CH TXT version.bind; None refuses
    identity: str | None = None  #: answered to CH TXT id.server; None refuses
    minimal_responses: bool = True  #: no NS RRset in the authority of positive answers
    nsec3_iterations_max: int = DEFAULT_NSEC3_ITERATIONS_MAX  #: a signed zone with more is refused
    backend: str = "udp"  #: "udp" (kernel sockets) or "xdp" (AF_XDP)
    xdp: XdpConfig | None = None
    metrics: ListenAddress | None = None  #: Prometheus endpoint; None = off
    rate_limit: RateLimitConfig | None = None  #: response rate limiting over UDP; None = off
    cookies: CookieConfig | None = CookieConfig()  #: DNS cookies; None = off
    user: str | None = None  #: switch to this user once the sockets are bound
    workers: int | None = None  #: how many; None = one per CPU we may run on (or per cpus)
    cpus: tuple[int, ...] | None = None  #: as listed; None = not given


# -- the table -----------------------------------------------------------------------------

class _Absent:
    """The value a check sees for a setting the file leaves out, where that differs from null."""

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()


class Invalid(Exception):
    """A check's verdict on a value; the parser prefixes file and key.

    :param key: the full key to name, when not the setting being checked (cross-checks).
    """

    def __init__(self, reason: str, key: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key = key


@dataclass
class Context:
    """What a check may look at besides its value."""

    base: Path  #: directory of the configuration file: relative paths start here
    values: dict[str, Any] = field(default_factory=dict)  #: settings of the section checked so far


Check = Callable[[Any, Context], Any]


@dataclass(frozen=True)
class Setting:
    name: str  #: the key in its section
    shape: str  #: what a value looks like, for the README
    default: Any  #: what the check gets when the key is absent (ABSENT: no value)
    check: Check  #: the file's value -> the Config's value; raises Invalid
    doc: str  #: one line for the README
    children: tuple[Setting, ...] = ()  #: the keys of a nested mapping (xdp, zones[])
    shown: str | None = None  #: the default as the README says it, when not the value itself


def parse_config(data: Any, path: Path) -> Config:
    """Validate a configuration already read from YAML; raises ConfigError "file: key: reason"."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        values = _parse_section(data, SETTINGS, "", path.resolve().parent)
    except Invalid as e:
        raise ConfigError(f"{path}: {e.key}: {e.reason}") from None
    return Config(path=str(path), **values)


def _parse_section(data: Mapping[Any, Any], settings: tuple[Setting, ...], prefix: str,
                   base: Path) -> dict[str, Any]:
    """Check one mapping against its settings, in table order, so a check may rely on the
    settings above it."""
    known = {s.name for s in settings}
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown:
        raise Invalid(f"unknown setting (known: {', '.join(sorted(known))})", prefix + unknown[0])
    context = Context(base)
    for setting in settings:
        value = data.get(setting.name, setting.default)
        try:
            context.values[setting.name] = setting.check(value, context)
        except Invalid as e:
            raise Invalid(e.reason, e.key or prefix + setting.name) from None
    return context.values


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# -- checks --------------------------------------------------------------------------------

def _listen_address(item: Any) -> ListenAddress:
    if not isinstance(item, str):
        raise Invalid(f"expected an address like 127.0.0.1@5300, not {item!r}")
    host, sep, port_text = item.rpartition("@")
    if not sep:
        host, port_text = item, str(DEFAULT_PORT)
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise Invalid(f"'{host}' is not an IPv4 or IPv6 address") from None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise Invalid(f"'{port_text}' is not a port number")
    return ListenAddress(str(address), int(port_text))


def _check_listen(value: Any, context: Context) -> tuple[ListenAddress, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise Invalid("expected a list of addresses like 127.0.0.1@5300 or ::1@5300")
    listen = tuple(_listen_address(item) for item in value)
    if len(set(listen)) != len(listen):
        raise Invalid("an address is listed twice")
    return listen


def _check_backend(value: Any, context: Context) -> str:
    if value not in ("udp", "xdp"):
        raise Invalid(f"expected udp or xdp, not {value!r}")
    return str(value)


def _check_xdp(value: Any, context: Context) -> XdpConfig | None:
    if context.values["backend"] != "xdp":
        if value is not ABSENT:
            raise Invalid("set backend: xdp to use these settings")
        return None
    if not isinstance(value, dict):
        raise Invalid("expected a mapping with at least interface:")
    xdp = XdpConfig(**_parse_section(value, XDP_SETTINGS, "xdp.", context.base))
    # One BPF map entry holds the port the program steers to the AF_XDP sockets.
    if len({a.port for a in context.values["listen"]}) != 1:
        raise Invalid("with backend xdp every address must use the same port", "listen")
    return xdp


def _check_interface(value: Any, context: Context) -> str:
    # Whether it exists is a host fact, checked by fastdns.host when serving.
    if not isinstance(value, str) or not value or "/" in value:
        raise Invalid(f"no network interface named {value!r}")
    return value


def _check_queues(value: Any, context: Context) -> tuple[int, ...] | None:
    if value == "auto":
        return None
    # How many queues the interface has is a host fact: "below N" is checked when serving.
    if (not isinstance(value, list) or not value
            or not all(_is_int(q) and q >= 0 for q in value) or len(set(value)) != len(value)):
        raise Invalid("expected 'auto' or distinct queue numbers")
    return tuple(value)


def _check_mode(value: Any, context: Context) -> str:
    if value not in ("native", "generic"):
        raise Invalid(f"expected native or generic, not {value!r}")
    return str(value)


def _check_busy_poll(value: Any, context: Context) -> bool:
    if not isinstance(value, bool):
        raise Invalid("expected true or false")
    return value


def _check_cpus(value: Any, context: Context) -> tuple[int, ...] | None:
    if value is None:
        return None
    # Whether we may run on them is a host fact, checked by fastdns.host when serving.
    if not isinstance(value, list) or not value or not all(_is_int(c) for c in value):
        raise Invalid("expected a list of CPU numbers")
    if len(set(value)) != len(value):
        raise Invalid("a CPU is listed twice: each worker owns its CPU")
    return tuple(value)


def _check_workers(value: Any, context: Context) -> int | None:
    cpus = context.values["cpus"]
    if cpus is not None:
        if value not in ("auto", len(cpus)):
            raise Invalid("give either workers or cpus, or make them agree")
        return None if value == "auto" else len(cpus)
    if value == "auto":
        return None
    if not _is_int(value) or value < 1:
        raise Invalid(f"expected 'auto' or a positive number, not {value!r}")
    return int(value)


def _check_udp_payload(value: Any, context: Context) -> int:
    if not _is_int(value) or not 512 <= value <= 4096:
        raise Invalid(f"expected a number of bytes from 512 to 4096, not {value!r}")
    return int(value)


def _check_run_dir(value: Any, context: Context) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid("expected a directory path")
    return str(context.base / value)


def _check_control_socket(value: Any, context: Context) -> str:
    if value is ABSENT:
        value = os.path.join(context.values["run_dir"], "control.sock")
    if not isinstance(value, str) or not value:
        raise Invalid("expected a path")
    path = str(context.base / value)
    if len(path.encode()) > UNIX_PATH_MAX:
        raise Invalid(f"path longer than a unix socket allows ({UNIX_PATH_MAX} bytes)")
    return path


def _check_zones(value: Any, context: Context) -> tuple[ZoneConfig, ...]:
    if not isinstance(value, list) or not value:
        raise Invalid("expected a list of zones, each with a name and a file")
    keys = {key.name.lower().rstrip("."): key for key in context.values.get("tsig", ())}
    zones = tuple(_zone(f"zones[{i}]", item, context.base, keys) for i, item in enumerate(value))
    names = [zone_origin(z.name) for z in zones]
    if len(set(names)) != len(names):
        raise Invalid("a zone is listed twice")
    return zones


def _zone(key: str, item: Any, base: Path, keys: dict[str, TsigKey]) -> ZoneConfig:
    if not isinstance(item, dict):
        raise Invalid("expected a mapping with name and file", key)
    values = _parse_section(item, ZONE_SETTINGS, f"{key}.", base)
    for setting, needs, why in (
            ("allow_transfer_key", "allow_transfer", "set allow_transfer too: the key is asked of those clients"),
            ("tsig", "primaries", "a key is for the transfers of a secondary zone: set primaries too")):
        if values[setting] is not None:  # a key's name: the key defined under tsig:
            found = keys.get(values[setting].lower().rstrip("."))
            if found is None:
                raise Invalid(f"no key '{values[setting]}' under tsig:", f"{key}.{setting}")
            if not values[needs]:
                raise Invalid(why, f"{key}.{setting}")
            values[setting] = found
    return ZoneConfig(**values)


TSIG_ALGORITHMS = ("hmac-sha256", "hmac-sha384", "hmac-sha512")


def _check_tsig(value: Any, context: Context) -> tuple[TsigKey, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise Invalid("expected a list of keys, each with name, algorithm and secret, or a file")
    keys: list[TsigKey] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise Invalid("expected a mapping with name, algorithm and secret, or file", f"tsig[{i}]")
        values = _parse_section(item, TSIG_SETTINGS, f"tsig[{i}].", context.base)
        if values["file"] is not None:
            if values["name"] is not None or values["secret"] is not None:
                raise Invalid("a key file gives name, algorithm and secret: set only file", f"tsig[{i}]")
            try:
                keys += read_key_file(values["file"])
            except (OSError, ValueError) as e:
                raise Invalid(f"{values['file']}: {getattr(e, 'strerror', None) or e}", f"tsig[{i}].file") from None
            continue
        for required in ("name", "secret"):
            if values[required] is None:
                raise Invalid(f"expected the key's {required} (or a file)", f"tsig[{i}].{required}")
        keys.append(TsigKey(values["name"], values["algorithm"], values["secret"]))
    names = [k.name.lower().rstrip(".") for k in keys]
    if len(set(names)) != len(names):
        raise Invalid("a key is defined twice")
    return tuple(keys)


def _optional_text(value: Any, expected: str) -> str | None:
    """value, a non-empty string, or None when absent."""
    if value is not None and (not isinstance(value, str) or not value):
        raise Invalid(f"expected {expected}")
    return value


def _check_key_name(value: Any, context: Context) -> str | None:
    if _optional_text(value, "the key's name, like transfer-key") is None:
        return None
    try:
        dns.name.from_text(value)
    except dns.exception.DNSException as e:
        raise Invalid(f"'{value}' is not a key name: {e}") from None
    return value


def _check_key_algorithm(value: Any, context: Context) -> str:
    if value not in TSIG_ALGORITHMS:
        raise Invalid(f"expected one of {', '.join(TSIG_ALGORITHMS)}, not {value!r}")
    return str(value)


def _check_key_secret(value: Any, context: Context) -> str | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str) or not base64.b64decode(value, validate=True):
            raise ValueError
    except ValueError:
        raise Invalid("expected the secret in base64") from None
    return value


def _check_key_file(value: Any, context: Context) -> str | None:
    path = _optional_text(value, "the path of a key file")
    return None if path is None else str(context.base / path)


def _check_allow_transfer(value: Any, context: Context) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise Invalid("expected a list of addresses or prefixes like 198.18.0.0/15")
    networks = []
    for item in value:
        try:
            networks.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            raise Invalid(f"'{item}' is not an address or prefix") from None
    return tuple(networks)


def _check_notify(value: Any, context: Context) -> tuple[ListenAddress, ...]:
    return _addresses(value, "198.18.0.20@53")


def _check_catalog(value: Any, context: Context) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, not {value!r}")
    if value and not context.values["primaries"]:
        raise Invalid("a catalog zone is transferred from primaries: set primaries too")
    return value


def _check_timer(value: Any, context: Context) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or not 1 <= value <= 2**31 - 1:
        raise Invalid(f"expected seconds from 1 to {2**31 - 1}, not {value!r}")
    if not context.values["primaries"]:
        raise Invalid("SOA timers are a secondary zone's: set primaries too")
    return int(value)


def _check_zone_tsig(value: Any, context: Context) -> str | None:
    return _optional_text(value, "the name of a key defined under tsig:")


_BIND_KEY = re.compile(r'key\s+"?([^"\s{]+)"?\s*\{\s*algorithm\s+"?([\w-]+)"?\s*;\s*secret\s+"([^"]+)"\s*;\s*\}\s*;')


def read_key_file(path: str) -> list[TsigKey]:
    """The keys of a key file as BIND's tsig-keygen (`key "name" { algorithm ...; secret
    "..."; };`) or Knot's keymgr -t (YAML: `key: [{id, algorithm, secret}]`) writes it.

    :raises ValueError: neither, or a key with an algorithm we do not take.
    """
    with open(path, encoding="utf-8") as f:
        text = f.read()
    found = [TsigKey(name, algorithm, secret) for name, algorithm, secret in _BIND_KEY.findall(text)]
    if not found:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            data = None
        items = data.get("key") if isinstance(data, dict) else None
        if isinstance(items, list):
            found = [TsigKey(str(k["id"]), str(k.get("algorithm", "hmac-sha256")), str(k["secret"]))
                     for k in items if isinstance(k, dict) and "id" in k and "secret" in k]
    if not found:
        raise ValueError("no key in it (expected BIND's tsig-keygen or Knot's keymgr -t format)")
    for key in found:
        if key.algorithm not in TSIG_ALGORITHMS:
            raise ValueError(f"key {key.name}: algorithm {key.algorithm} (expected {', '.join(TSIG_ALGORITHMS)})")
    return found


def _check_zone_name(value: Any, context: Context) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid("expected the zone's name, like example.com")
    try:
        zone_origin(value)
    except dns.exception.DNSException as e:
        raise Invalid(f"'{value}' is not a domain name: {e}") from None
    return value


@functools.lru_cache(maxsize=1 << 17)
def zone_origin(name: str) -> dns.name.Name:
    """A configured zone name as a domain name, parsed once: the configuration's checks
    and the zone's loading both want it, 10,000 times for a hoster."""
    return dns.name.from_text(name)


def _check_zone_file(value: Any, context: Context) -> str:
    if not isinstance(value, str) or not value:
        raise Invalid("expected the path of the zone file")
    return str(context.base / value)


def _addresses(value: Any, example: str) -> tuple[ListenAddress, ...]:
    """An optional address or list of them, each `address@port`."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise Invalid(f"expected a list of addresses like {example}")
    found = tuple(_listen_address(item) for item in value)
    if len(set(found)) != len(found):
        raise Invalid("an address is listed twice")
    return found


def _check_primaries(value: Any, context: Context) -> tuple[ListenAddress, ...]:
    return _addresses(value, "198.18.0.10@53")


def _check_tcp_idle_timeout(value: Any, context: Context) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 3600:
        raise Invalid(f"expected seconds from 0 to 3600, not {value!r}")
    return float(value)


def _check_tcp_max_connections(value: Any, context: Context) -> int:
    if not _is_int(value) or not 1 <= value <= 65536:
        raise Invalid(f"expected a number from 1 to 65536, not {value!r}")
    return int(value)


def _chaos_text(key: str) -> Check:
    def check(value: Any, context: Context) -> str | None:
        if value is not None and not isinstance(value, str):
            raise Invalid(f"expected text for CH TXT {key} queries, not {value!r}")
        return value
    return check


def _check_minimal_responses(value: Any, context: Context) -> bool:
    if not isinstance(value, bool):
        raise Invalid(f"expected true or false, not {value!r}")
    return value


def _check_nsec3_iterations_max(value: Any, context: Context) -> int:
    if not _is_int(value) or not 0 <= value <= 2500:
        raise Invalid(f"expected a number from 0 to 2500 (RFC 5155 10.3), not {value!r}")
    return int(value)


def _check_rate_limit(value: Any, context: Context) -> RateLimitConfig | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Invalid("expected a mapping with at least rate:")
    return RateLimitConfig(**_parse_section(value, RATE_LIMIT_SETTINGS, "rate_limit.", context.base))


def _int_from(low: int, high: int, what: str = "a number") -> Check:
    def check(value: Any, context: Context) -> int:
        if not _is_int(value) or not low <= value <= high:
            raise Invalid(f"expected {what} from {low} to {high}, not {value!r}")
        return int(value)
    return check


def _check_rate(value: Any, context: Context) -> int:
    if value is None:
        raise Invalid("required: responses per second per client prefix")
    return _int_from(1, 1_000_000, "responses per second")(value, context)


def _check_cookies(value: Any, context: Context) -> CookieConfig | None:
    if value is True:
        return CookieConfig()
    if value is False:
        return None
    if not isinstance(value, dict):
        raise Invalid(f"expected true, false or a mapping with secret_file:, not {value!r}")
    return CookieConfig(**_parse_section(value, COOKIE_SETTINGS, "cookies.", context.base))


def _check_secret_file(value: Any, context: Context) -> str | None:
    from fastdns.policy import read_secret_file

    path = _optional_text(value, "the path of a file of secrets")
    if path is None:
        return None
    path = str(context.base / path)
    try:
        read_secret_file(path)
    except FastDNSError as e:
        raise Invalid(str(e)) from None
    return path


def _check_metrics(value: Any, context: Context) -> ListenAddress | None:
    return None if value is None else _listen_address(value)


def _check_notify_listen(value: Any, context: Context) -> tuple[ListenAddress, ...]:
    if value is None:
        return ()
    listen = _check_listen(value, context)
    taken = set(context.values["listen"])
    for address in listen:
        if address in taken:
            raise Invalid(f"{address} is a listen address: the workers answer there")
    return listen


def _check_user(value: Any, context: Context) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise Invalid("expected a user name")
    return value


XDP_SETTINGS = (
    Setting("interface", "interface name", None, _check_interface,
            "the XDP program attaches here", shown="required"),
    Setting("queues", "`auto` or RX queue numbers", "auto", _check_queues,
            "`auto`: every RX queue; one worker per queue, each on its own CPU"),
    Setting("mode", "`native` or `generic`", "native", _check_mode,
            "`generic` is SKB mode, for drivers without XDP support"),
    Setting("busy_poll", "`true` or `false`", False, _check_busy_poll,
            "spin on the rings instead of sleeping when idle"),
)

ZONE_SETTINGS = (
    Setting("name", "domain name", None, _check_zone_name, "the zone's apex, like example.com",
            shown="required"),
    Setting("file", "path", None, _check_zone_file,
            "its zone file (RFC 1035 format), relative to the configuration", shown="required"),
    Setting("primaries", "list of `address@port`", None, _check_primaries,
            "a secondary zone: the primaries it is transferred from (AXFR, RFC 5936), tried in order; "
            "`file` keeps the last copy, served at start until the primary is asked again",
            shown="— (a primary zone)"),
    Setting("tsig", "key name", None, _check_zone_tsig,
            "a secondary zone: the key (under `tsig:`) its SOA queries and transfers are signed with",
            shown="—"),
    Setting("allow_transfer", "list of addresses or prefixes", None, _check_allow_transfer,
            "clients that may transfer the zone from us (AXFR and IXFR, over TCP); anyone else is REFUSED",
            shown="— (nobody)"),
    Setting("allow_transfer_key", "key name", None, _check_zone_tsig,
            "transfers out must be signed with this key (under `tsig:`), and are signed with it",
            shown="— (unsigned)"),
    Setting("notify", "list of `address@port`", None, _check_notify,
            "secondaries sent NOTIFY (RFC 1996) when the zone changes (a reload or a transfer in)",
            shown="— (none)"),
    Setting("catalog", "`true` or `false`", False, _check_catalog,
            "a secondary zone that is a catalog (RFC 9432): the zones it lists are served as secondaries of "
            "the same primaries (same key), their copies beside its file, added and removed as it changes"),
    Setting("refresh", "seconds", None, _check_timer,
            "a secondary zone: how often its primaries are asked for its serial, in place of its SOA's "
            "REFRESH", shown="the SOA's"),
    Setting("retry", "seconds", None, _check_timer,
            "a secondary zone: how soon they are asked again after a failure, in place of the SOA's RETRY",
            shown="the SOA's"),
    Setting("expire", "seconds", None, _check_timer,
            "a secondary zone: how long it is served without reaching a primary before it answers "
            "SERVFAIL, in place of the SOA's EXPIRE", shown="the SOA's"),
)

TSIG_SETTINGS = (
    Setting("file", "path", None, _check_key_file,
            "a key file as BIND's `tsig-keygen` or Knot's `keymgr -t` writes it (instead of the three below)",
            shown="—"),
    Setting("name", "key name", None, _check_key_name, "the key's name, as the primary knows it", shown="—"),
    Setting("algorithm", "`hmac-sha256`, `hmac-sha384` or `hmac-sha512`", "hmac-sha256", _check_key_algorithm,
            "its HMAC"),
    Setting("secret", "base64", None, _check_key_secret, "the shared secret", shown="—"),
)

RATE_LIMIT_SETTINGS = (
    Setting("rate", "responses per second, 1 to 1000000", None, _check_rate,
            "responses per second to one client prefix, for each class of response (answers, NXDOMAIN, "
            "referrals, errors); shared among the workers", shown="required"),
    Setting("slip", "0 to 10", 2, _int_from(0, 10),
            "every slip-th response over the rate goes out truncated (TC=1: a real client retries over "
            "TCP) or, to a client that sent a cookie, as BADCOOKIE; the others are dropped; 0: all dropped"),
    Setting("ipv4_prefix", "8 to 32", 24, _int_from(8, 32), "bits of an IPv4 source address that make its prefix"),
    Setting("ipv6_prefix", "16 to 64", 56, _int_from(16, 64), "bits of an IPv6 source address that make its prefix"),
)

COOKIE_SETTINGS = (
    Setting("secret_file", "path", None, _check_secret_file,
            "one or two secrets of 32 hex digits: the first makes server cookies, the second is still accepted; "
            "read again on every `fastdns reload` (give anycast nodes the same file)",
            shown="— (a random secret, new on every reload)"),
)

#: Every setting, in the order they are checked (a check may look at those above it).
SETTINGS = (
    Setting("listen", "list of `address@port`", ["127.0.0.1@5300"], _check_listen,
            "IPv4 and IPv6 addresses to answer on; port 53 when omitted"),
    Setting("backend", "`udp` or `xdp`", "udp", _check_backend,
            "kernel UDP sockets, or AF_XDP on `xdp.interface` (every address on one port)"),
    Setting("xdp", "mapping", ABSENT, _check_xdp,
            "the AF_XDP backend's settings, with `backend: xdp` only",
            children=XDP_SETTINGS, shown="—"),
    Setting("cpus", "list of CPU numbers", None, _check_cpus,
            "one worker pinned to each", shown="—"),
    Setting("workers", "`auto` or a number", "auto", _check_workers,
            "`auto`: one per CPU we may run on (with `xdp`: per RX queue); N: the first N of "
            "those CPUs"),
    Setting("udp_payload", "bytes, 512 to 4096", DEFAULT_UDP_PAYLOAD, _check_udp_payload,
            "our EDNS UDP payload size"),
    Setting("run_dir", "directory", "/run/fastdns", _check_run_dir,
            "control socket, images, counters; relative to the configuration's directory"),
    Setting("control_socket", "path", ABSENT, _check_control_socket,
            "where `fastdns reload`, `status` and `stats` reach the server",
            shown="`run_dir/control.sock`"),
    Setting("tsig", "list", None, _check_tsig, "TSIG keys (RFC 8945) for zone transfers",
            children=TSIG_SETTINGS, shown="—"),
    Setting("zones", "list", None, _check_zones, "the zones served",
            children=ZONE_SETTINGS, shown="required"),
    Setting("notify_listen", "list of `address@port`", None, _check_notify_listen,
            "where secondary zones take NOTIFY (RFC 1996) from their primaries: point the primaries' "
            "notify at one of these (the service addresses answer NOTIFY with NOTIMP)", shown="— (off)"),
    Setting("tcp_idle_timeout", "seconds, up to 3600", 10, _check_tcp_idle_timeout,
            "a TCP connection idle this long is closed (RFC 7766)"),
    Setting("tcp_max_connections", "1 to 65536", 256, _check_tcp_max_connections,
            "TCP connections open at once"),
    Setting("version", "text", None, _chaos_text("version"),
            "CH TXT `version.bind` answer", shown="— (refused)"),
    Setting("identity", "text", None, _chaos_text("identity"),
            "CH TXT `id.server` answer", shown="— (refused)"),
    Setting("minimal_responses", "`true` or `false`", True, _check_minimal_responses,
            "`false` adds the zone's NS to the authority section of positive answers"),
    Setting("nsec3_iterations_max", "0 to 2500", DEFAULT_NSEC3_ITERATIONS_MAX, _check_nsec3_iterations_max,
            "a zone signed with NSEC3 of more iterations is refused at load (RFC 9276: "
            "validators treat it as insecure)"),
    Setting("rate_limit", "mapping", None, _check_rate_limit,
            "response rate limiting over UDP (never TCP, nor clients with a valid cookie)",
            children=RATE_LIMIT_SETTINGS, shown="— (off)"),
    Setting("cookies", "`true`, `false` or mapping", True, _check_cookies,
            "DNS cookies (RFC 7873, server cookies as RFC 9018); a valid one exempts a client from `rate_limit`",
            children=COOKIE_SETTINGS),
    Setting("metrics", "`address@port`", None, _check_metrics,
            "Prometheus `/metrics` endpoint", shown="— (off)"),
    Setting("user", "user name", None, _check_user,
            "when started as root: switch to this user once sockets are bound and the XDP program "
            "attached (what each process keeps: docs/privileges.md)",
            shown="—"),
)

KNOWN_KEYS = frozenset(s.name for s in SETTINGS)


# -- reading and documenting ---------------------------------------------------------------

def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate a configuration file.

    :param path: the YAML file; the bundled zones/fastdns.yaml when None.
    :raises ConfigError: naming the file, the key and what is wrong with it.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    return parse_config(_read_yaml(path), path)


def _read_yaml(path: Path) -> Any:
    """The file's YAML document.

    :raises ConfigError: it cannot be read, or is not YAML (file, line, column, reason).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: cannot read configuration: {e.strerror}") from None
    try:
        return yamlload.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None


def control_socket_of(path: str | os.PathLike[str] | None = None) -> str:
    """The control socket a configuration names, for the commands that talk to its running
    server (which checked the whole file when it started): only run_dir and control_socket
    are checked, so a hoster's 10,000 zones are not validated again for each command.

    :raises ConfigError: as load_config, for those two settings.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    data = _read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    wanted = tuple(s for s in SETTINGS if s.name in ("run_dir", "control_socket"))
    try:
        values = _parse_section({k: v for k, v in data.items() if k in ("run_dir", "control_socket")}, wanted,
                                "", path.resolve().parent)
    except Invalid as e:
        raise ConfigError(f"{path}: {e.key}: {e.reason}") from None
    return str(values["control_socket"])


def settings_markdown() -> str:
    """The README's table of settings, rendered from SETTINGS (a test keeps the two equal)."""
    lines = ["| setting | value | default | meaning |", "|---|---|---|---|"]
    for setting in SETTINGS:
        lines.append(_row(setting.name, setting))
        suffix = "[]." if setting.name in ("zones", "tsig") else "."
        lines.extend(_row(setting.name + suffix + child.name, child) for child in setting.children)
    return "\n".join(lines) + "\n"


def _row(name: str, setting: Setting) -> str:
    default = setting.shown if setting.shown is not None else f"`{_yaml_text(setting.default)}`"
    return f"| `{name}` | {setting.shape} | {default} | {setting.doc} |"


def _yaml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(map(_yaml_text, value)) + "]"
    return str(value)
