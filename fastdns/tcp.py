# SPDX-License-Identifier: MIT
"""DNS over TCP (RFC 1035 4.2.2, RFC 7766) on the listen addresses, in the control process.

Each message is answered by the data plane's own answering core (Engine.answer, the same
answer_query the UDP loop runs), so TCP and UDP cannot disagree.  Queries pipelined on one
connection are answered in order.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import Callable

from fastdns import _dataplane
from fastdns.config import ListenAddress
from fastdns.controlblock import COUNTERS
from fastdns.errors import ConfigError
from fastdns.policy import packed_address
from fastdns.xfrout import TransfersOut

log = logging.getLogger("fastdns")
LENGTH = struct.Struct("!H")


def open_tcp_listener(address: ListenAddress) -> socket.socket:
    """Bind and listen now, so that a taken port is reported before anything starts."""
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if address.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address.host, address.port))
        sock.listen(256)
        sock.setblocking(False)
    except OSError as e:
        sock.close()
        raise ConfigError(f"listen {address}: cannot bind TCP: {e.strerror}") from None
    return sock


class TcpServer:
    """Length-prefixed DNS over TCP with an idle timeout and a cap on connections."""

    def __init__(self, engine: _dataplane.Engine, idle_timeout: float, max_connections: int,
                 transfers: TransfersOut | None = None) -> None:
        """:param transfers: answers AXFR/IXFR requests (fastdns.xfrout) before the engine."""
        self.engine = engine
        self.transfers = transfers
        #: answers NOTIFY requests (fastdns.transfer, for secondary zones), or None
        self.notify: Callable[[bytes, str], bytes | None] | None = None
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.connections = 0
        self.accepted = 0
        self.refused_connections = 0
        self._servers: list[asyncio.base_events.Server] = []

    async def start(self, sockets: list[socket.socket]) -> None:
        for sock in sockets:
            self._servers.append(await asyncio.start_server(self._serve, sock=sock))

    def close(self) -> None:
        for server in self._servers:
            server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connections >= self.max_connections:
            self.refused_connections += 1  # RFC 7766 6.2.2: shed load by closing
            writer.close()
            return
        self.connections += 1
        self.accepted += 1
        peer = str((writer.get_extra_info("peername") or ("",))[0])
        client = packed_address(peer)  # what its DNS cookies are made for
        try:
            while True:
                query = await self._read_message(reader)
                if query is None:
                    break
                if self.notify is not None and len(query) > 2 and query[2] & 0xF8 == 0x20:  # NOTIFY
                    answer = self.notify(query, peer)
                    if answer is None:
                        break
                    writer.write(LENGTH.pack(len(answer)) + answer)
                    await writer.drain()
                    continue
                messages = self.transfers.reply(query, peer) if self.transfers is not None else None
                if messages is not None:
                    for message in messages:
                        writer.write(LENGTH.pack(len(message)) + message)
                        await writer.drain()
                    continue
                reply = self.engine.answer(query, tcp=True, client=client)
                if reply is None:
                    break  # not a query we may answer: end the connection
                writer.write(LENGTH.pack(len(reply)) + reply)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.connections -= 1
            writer.close()

    async def _read_message(self, reader: asyncio.StreamReader) -> bytes | None:
        """The next message, or None when the client is done or idle too long."""
        try:
            prefix = await asyncio.wait_for(reader.readexactly(2), self.idle_timeout)
            (length,) = LENGTH.unpack(prefix)
            if length == 0:
                return None
            return await asyncio.wait_for(reader.readexactly(length), self.idle_timeout)
        except (TimeoutError, asyncio.IncompleteReadError):
            return None

    def stats(self) -> dict[str, int]:
        counters = dict(zip(COUNTERS, self.engine.counters()))
        counters.update(connections_open=self.connections, connections_accepted=self.accepted,
                        connections_refused=self.refused_connections)
        return counters
