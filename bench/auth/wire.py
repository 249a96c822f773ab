"""Count PostgreSQL round trips on the wire: a TCP proxy that reads the client's messages.

SQLAlchemy's ``before_cursor_execute`` sees statements, not round trips: asyncpg also sends
``BEGIN`` and ``COMMIT``/``ROLLBACK``, and prepares a statement it has not seen on that
connection (a round trip of its own). Every round trip of the extended or simple protocol ends
with one client message the server answers: ``Sync`` (``S``), ``Query`` (``Q``), or a
``Flush`` (``H``) the client then waits on. The proxy counts those, and keeps which kind each one was.
"""

from __future__ import annotations

import asyncio
import struct

#: Start-up phase requests that carry no type byte (SSL, GSSAPI encryption, cancel).
_UNTYPED = {80877103, 80877104, 80877102}


class WireCounter:
    """A proxy in front of ``host:port``; ``trips`` lists one letter per round trip."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5432) -> None:
        self.host, self.port = host, port
        self.trips: list[str] = []
        self.queries: list[str] = []  # the text of simple-protocol queries (BEGIN, COMMIT, ...)
        self._server: asyncio.Server | None = None
        self.listen_port = 0

    async def start(self) -> int:
        """Listen on a free local port; return it."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.listen_port = self._server.sockets[0].getsockname()[1]
        return self.listen_port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def reset(self) -> None:
        self.trips.clear()
        self.queries.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        down = asyncio.ensure_future(self._pipe(up_reader, writer))
        try:
            await self._client_to_server(reader, up_writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            up_writer.close()
            down.cancel()
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()  # the server hung up (after Terminate): so does the proxy

    async def _client_to_server(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # Start-up: length-prefixed messages without a type byte until the StartupMessage.
        while True:
            head = await reader.readexactly(8)
            length, code = struct.unpack("!ii", head)
            body = await reader.readexactly(length - 8)
            writer.write(head + body)
            await writer.drain()
            if code not in _UNTYPED:
                break
        # NOTE: an SSLRequest answered 'S' would encrypt the rest; the local server answers
        # 'N' (no TLS on 127.0.0.1), and the bench connects with ssl disabled anyway.
        while True:
            head = await reader.readexactly(5)
            kind, length = head[:1], struct.unpack("!i", head[1:])[0]
            body = await reader.readexactly(length - 4)
            if kind in (b"S", b"H"):  # Sync, or Flush (asyncpg then waits for the answer)
                self.trips.append(kind.decode())
            elif kind == b"Q":
                self.trips.append("Q")
                self.queries.append(body.rstrip(b"\0").decode(errors="replace"))
            writer.write(head + body)
            await writer.drain()
