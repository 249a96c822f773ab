"""WebSocket echo load, idle connections and the WebSocket check (run in the peer venv).

Usage (the harness pins it to the load-generator CPU):
  python bench/loadclient.py check PORT
  python bench/loadclient.py ws PORT SECONDS CONNECTIONS   -> one JSON line
  python bench/loadclient.py idle PORT COUNT               -> one JSON line, then holds the
                                                              connections until stdin closes
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from typing import cast

import uvloop
from websockets.asyncio.client import connect

MESSAGE = b"Hello, World!"
IdleConnection = tuple[asyncio.StreamReader, asyncio.StreamWriter]
HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def _masked_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes((0x81, 0x80 | len(payload))) + mask + body


async def check(port: int) -> None:
    """Require three text messages to come back unchanged."""
    async with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10) as ws:
        for text in ("hello", "second message", "\u00e9t\u00e9 \u2603"):
            await ws.send(text)
            got = await asyncio.wait_for(ws.recv(), 10)
            if got != text:
                raise SystemExit(f"websocket: sent {text!r}, got {got!r}")


# NOTE: each connection keeps WINDOW messages in flight, sent in one write and checked as
# one block when all their echoes are back. One message at a time per connection made this
# Python client the bottleneck (every server measured ~60k msg/s, the client's own ceiling);
# in batches the client costs well under a microsecond per message, so the server is measured.
WINDOW = 16
ECHO = bytes((0x81, len(MESSAGE))) + MESSAGE  # the server's unmasked text frame


class EchoClient(asyncio.Protocol):
    """One connection sending WINDOW messages and waiting for all their echoes, in a loop."""

    def __init__(
        self, deadline: float, stats: dict[str, list[float]], done: asyncio.Future[None]
    ) -> None:
        self.deadline = deadline
        self.stats = stats
        self.done = done
        self.buffer = b""
        self.upgraded = False
        self.sent_at = 0.0
        self.batch = _masked_frame(MESSAGE) * WINDOW
        self.expected = ECHO * WINDOW
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        transport.write(HANDSHAKE)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if not sep:
                return
            if b" 101 " not in head.split(b"\r\n", 1)[0]:
                self._finish(RuntimeError(f"handshake refused: {head[:80]!r}"))
                return
            self.upgraded, self.buffer = True, rest
            self._send()
        size = len(self.expected)
        while len(self.buffer) >= size:
            block, self.buffer = self.buffer[:size], self.buffer[size:]
            if block != self.expected:
                self._finish(RuntimeError(f"echo mismatch: {block[:40]!r}"))
                return
            now = time.perf_counter()
            self.stats["batches"].append(now - self.sent_at)
            if now >= self.deadline:
                self._finish(None)
                return
            self._send()

    def _send(self) -> None:
        assert self.transport is not None
        self.sent_at = time.perf_counter()
        self.transport.write(self.batch)

    def _finish(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.transport.close()
        if not self.done.done():
            if exc is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("closed by the server"))


async def ws_load(port: int, seconds: float, connections: int) -> dict[str, object]:
    """Run the echo loop on ``connections`` connections for ``seconds``.

    Latencies are per batch: from writing WINDOW messages to reading the last of their echoes.
    """
    loop = asyncio.get_running_loop()
    stats: dict[str, list[float]] = {"batches": []}
    deadline = time.perf_counter() + seconds
    futures = []
    for _ in range(connections):
        done: asyncio.Future[None] = loop.create_future()
        await loop.create_connection(
            lambda d=done: EchoClient(deadline, stats, d), "127.0.0.1", port
        )
        futures.append(done)
    began = time.perf_counter()
    results = await asyncio.wait_for(asyncio.gather(*futures, return_exceptions=True), seconds + 30)
    elapsed = time.perf_counter() - began
    errors = [repr(r) for r in results if isinstance(r, BaseException)]
    latencies = sorted(stats["batches"])
    p99 = latencies[int(len(latencies) * 0.99)] * 1000 if latencies else 0.0
    p50 = latencies[len(latencies) // 2] * 1000 if latencies else 0.0
    messages = len(latencies) * WINDOW
    return {
        "messages": messages,
        "per_sec": messages / elapsed,
        "window": WINDOW,
        "p50_ms": p50,
        "p99_ms": p99,
        "errors": errors[:3],
    }


async def _connect(port: int, gate: asyncio.Semaphore) -> IdleConnection | None:
    async with gate:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 20)
        except (OSError, TimeoutError):
            return None
    return reader, writer


async def _ask(conn: IdleConnection, request: bytes) -> bool:
    reader, writer = conn
    try:
        writer.write(request)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await asyncio.wait_for(reader.readexactly(length), 60)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        return False
    return head.startswith(b"HTTP/1.1 200")


async def idle(port: int, count: int) -> None:
    """Open ``count`` connections, then send one request on each, and hold them open.

    Connecting first and asking afterwards keeps the time between a connection's response
    and the memory reading short, whatever the server's keep-alive timeout.
    """
    request = b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    gate = asyncio.Semaphore(256)
    began = time.perf_counter()
    opened = await asyncio.gather(*(_connect(port, gate) for _ in range(count)))
    held = [c for c in opened if c is not None]
    tasks = [asyncio.ensure_future(_ask(c, request)) for c in held]
    # NOTE: a server that stops answering must not hang the bench: give up after 90 s.
    if tasks:
        await asyncio.wait(tasks, timeout=90)
    answered = sum(1 for t in tasks if t.done() and not t.cancelled() and t.result())
    for task in tasks:
        task.cancel()
    report = {"connected": len(held), "answered": answered, "seconds": time.perf_counter() - began}
    print(json.dumps(report), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for _, writer in held:
        writer.close()


def main(argv: list[str]) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    mode, port = argv[0], int(argv[1])
    if mode == "check":
        uvloop.run(check(port))
    elif mode == "ws":
        print(json.dumps(uvloop.run(ws_load(port, float(argv[2]), int(argv[3])))), flush=True)
    elif mode == "idle":
        uvloop.run(idle(port, int(argv[2])))
    else:
        raise SystemExit(f"unknown mode {mode!r}; use check, ws or idle")


if __name__ == "__main__":
    main(sys.argv[1:])
