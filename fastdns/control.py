# SPDX-License-Identifier: MIT
"""The control protocol: how `fastdns reload / status / stats` talk to a running server.

One request per connection on a unix socket: a JSON object with a "command" and its
arguments, on one line; one JSON reply on one line.  This module holds both ends (the
server side the control process runs, the client the CLI uses), the typed requests and
replies, the command table, and the human-readable report of a reload.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import dataclass
from typing import Any, ClassVar, NotRequired, Protocol, TypedDict

from fastdns.errors import ControlError
from fastdns.progress import ProgressReport

MAX_REQUEST = 64 * 1024  #: bytes of one control request
CONTROL_TIMEOUT_S = 10.0  #: seconds a client waits for status and stats
RELOAD_TIMEOUT_S = 3600.0  #: a reload of a zone of millions of records takes minutes


# -- replies -------------------------------------------------------------------------------

class ZoneChange(TypedDict):
    zone: str
    old_serial: int
    new_serial: int
    changed: bool


class ReloadReply(TypedDict, total=False):
    ok: bool
    changes: list[ZoneChange]
    errors: list[str]
    generation: int  #: the image generation served once the reload returned
    seconds: float  #: time the reload took
    compile: dict[str, Any]  #: zones compiled and reused, compile seconds


class ZoneStatus(TypedDict, total=False):
    zone: str
    serial: int
    file: str
    signatures_expire_in: int  #: a signed zone's: seconds until its first RRSIG expires
    signatures_expire_at: int  #: and when (seconds since the epoch)
    role: str  #: "secondary" for a zone transferred from primaries (fastdns.transfer)
    primaries: list[str]
    primary_serial: int | None  #: at the last check
    last_check: int
    last_error: str
    last_transfer: dict[str, Any]  #: at, kind, seconds, primary, serial
    next_refresh: int  #: seconds since the epoch
    expires_at: int
    notifies: int  #: NOTIFY taken from its primaries
    notifies_refused: int  #: NOTIFY refused: from others, or not signed with its key
    expired: bool  #: past its SOA EXPIRE without a primary: answered SERVFAIL


class WorkerStatus(TypedDict):
    slot: int
    cpu: int
    pid: int
    queue: int | None  #: the NIC RX queue, with backend xdp
    alive: bool
    restarts: int
    uptime: float


class StatusReply(TypedDict):
    ok: bool
    loading: NotRequired[ProgressReport]  #: a reload under way
    pid: int
    uptime: float
    generation: int
    listen: list[str]
    zones: list[ZoneStatus]
    workers: list[WorkerStatus]


class StatsReply(TypedDict, total=False):
    ok: bool
    total: dict[str, int]  #: the workers' counters added up
    workers: list[dict[str, int]]  #: each worker's counters, by slot
    tcp: dict[str, int]
    fallback: dict[str, int]  #: backend xdp: UDP the control process answered itself


class ErrorReply(TypedDict):
    ok: bool
    errors: list[str]


# -- requests and the command table --------------------------------------------------------

class Handlers(Protocol):
    """What the control process provides for the commands."""

    async def reload(self, zones: list[str] | None) -> ReloadReply: ...
    def status(self) -> StatusReply: ...
    def stats(self) -> StatsReply: ...
    async def transfer(self, zone: str) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Request:
    command: ClassVar[str]
    timeout: ClassVar[float] = CONTROL_TIMEOUT_S  #: how long a client waits for the reply

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Request:
        return cls()

    async def dispatch(self, handlers: Handlers) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class ReloadRequest(Request):
    """Re-read the zone files that changed (all zones, or those named)."""

    command = "reload"
    timeout = RELOAD_TIMEOUT_S
    zones: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "zones": list(self.zones)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReloadRequest:
        zones = data.get("zones") or []
        if not isinstance(zones, list) or not all(isinstance(z, str) for z in zones):
            raise ValueError("reload: zones must be a list of zone names")
        return cls(tuple(zones))

    async def dispatch(self, handlers: Handlers) -> ReloadReply:
        return await handlers.reload(list(self.zones) or None)


@dataclass(frozen=True)
class StatusRequest(Request):
    """Zones with serials, workers with CPUs, queues, pids and restarts."""

    command = "status"

    async def dispatch(self, handlers: Handlers) -> StatusReply:
        return handlers.status()


@dataclass(frozen=True)
class StatsRequest(Request):
    """Counters per worker, their totals, TCP and the UDP fallback."""

    command = "stats"

    async def dispatch(self, handlers: Handlers) -> StatsReply:
        return handlers.stats()


@dataclass(frozen=True)
class TransferRequest(Request):
    """Ask a secondary zone's primaries for its serial now, and transfer it when newer."""

    command = "transfer"
    timeout = RELOAD_TIMEOUT_S
    zone: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "zone": self.zone}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TransferRequest:
        zone = data.get("zone")
        if not isinstance(zone, str) or not zone:
            raise ValueError("transfer: zone must be a zone name")
        return cls(zone)

    async def dispatch(self, handlers: Handlers) -> dict[str, Any]:
        return await handlers.transfer(self.zone)


#: command name -> request type
COMMANDS: dict[str, type[Request]] = {r.command: r for r in (ReloadRequest, StatusRequest, StatsRequest,
                                                             TransferRequest)}


def parse_request(line: bytes) -> Request:
    """:raises ValueError: not a JSON object naming a known command, with valid arguments."""
    try:
        data = json.loads(line)
        command = data["command"]
    except (ValueError, KeyError, TypeError):
        raise ValueError("bad request: expected a JSON object with a command") from None
    request_type = COMMANDS.get(command) if isinstance(command, str) else None
    if request_type is None:
        raise ValueError(f"unknown command '{command}' ({', '.join(COMMANDS)})")
    return request_type.from_json(data)


# -- server side ---------------------------------------------------------------------------

class ControlServer:
    """The control socket of a running server: one request, one reply, per connection."""

    def __init__(self, path: str, handlers: Handlers) -> None:
        self.path = path
        self.handlers = handlers
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._serve_client, path=self.path,
                                                       limit=MAX_REQUEST)

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            line = await reader.readline()
            reply: Any
            try:
                request = parse_request(line)
            except ValueError as e:
                reply = ErrorReply(ok=False, errors=[str(e)])
            else:
                reply = await request.dispatch(self.handlers)
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            writer.close()


# -- client side ---------------------------------------------------------------------------

def request(path: str, req: Request) -> Any:
    """Send one request to a running server's control socket and return its reply.

    :raises ControlError: when no server answers there.
    """
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(req.timeout)
            sock.connect(path)
            sock.sendall(json.dumps(req.to_json()).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
    except FileNotFoundError:
        raise ControlError(f"{path}: no control socket (is fastdns serve running?)") from None
    except ConnectionRefusedError:
        raise ControlError(f"{path}: nothing listening (is fastdns serve running?)") from None
    except OSError as e:
        raise ControlError(f"{path}: {e.strerror or e}") from None
    try:
        return json.loads(data)
    except ValueError:
        raise ControlError(f"{path}: the server sent no valid reply") from None


def reload_report(reply: ReloadReply) -> list[str]:
    """Human-readable lines for a reload reply: one per zone, then the errors."""
    lines = []
    changes = reply.get("changes", [])
    for c in changes:
        if not c["changed"]:
            lines.append(f"{c['zone']}: serial {c['new_serial']}, unchanged")
        elif c["new_serial"] == c["old_serial"]:
            lines.append(f"{c['zone']}: serial {c['old_serial']} -> {c['new_serial']} "
                         "(content changed but the serial did not increase)")
        else:
            lines.append(f"{c['zone']}: serial {c['old_serial']} -> {c['new_serial']}")
    if "seconds" in reply and any(c["changed"] for c in changes):
        compiled = ", ".join(reply.get("compile", {}).get("compiled", [])) or "none"
        lines.append(f"published generation {reply['generation']} in {reply['seconds']:.3f} s "
                     f"(recompiled: {compiled})")
    lines += [f"error: {e}" for e in reply.get("errors", [])]
    return lines
