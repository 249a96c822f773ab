"""The fan-out load: N WebSocket subscribers and the publishers, in one process (pinned apart).

    python bench/channels/client.py PORT --subscribers 1000 --duration 8 --warmup 2
                                    [--window 8] [--server-pids 123,124]  -> one JSON line

1. Opens N WebSocket connections to ``/ws`` (at most ``--concurrency`` handshakes at once) and
   times it (``connect_s``); then publishes probes until every subscriber has received one
   (``subscribed_s``: a subscription may start after the handshake).
2. Publishes ``{"seq": k, "p": publisher, "t": <perf_counter>, "pad": ...}`` by
   ``POST /publish`` on ``--publishers`` keep-alive HTTP connections (one request at a time
   on each), keeping at most ``--window`` broadcasts in flight (published and not yet received
   by every subscriber), for a warm-up, then for ``--duration`` seconds.
3. Every delivery's latency is its arrival time minus the ``t`` in its payload (one clock:
   the publisher is this process). Deliveries/s = deliveries of the timed broadcasts / the
   time from the first timed publish to the last timed delivery. The server's CPU time over
   the same span (``/proc/<pid>/stat`` of ``--server-pids``) gives its CPU µs per delivery.

A subscriber that misses a timed broadcast (dropped, lost), or gets two from one publisher
out of order, makes the run
``lost``: the window then stalls, and the run ends after ``--stall`` (20) seconds without
progress.
The subscribers are raw ``asyncio.Protocol`` WebSocket clients (RFC 6455 handshake, unmasked
server frames parsed by hand, as ``bench/loadclient.py``), so that this process costs less
per delivery than any server it measures (``client_cpu_share`` shows it).
``check`` mode connects once with ``websockets`` and requires one published frame to arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any, cast

import msgspec

_decode = msgspec.json.decode
PAD = "x" * 64  # a chat-sized message (~120 bytes of JSON)


def _raise_nofile(need: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need + 64:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _handshake(port: int) -> bytes:
    key = base64.b64encode(os.urandom(16))
    return (
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + str(port).encode() + b"\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1\r\n\r\n"
    )


class Tally:
    """What every subscriber shares: counts per broadcast, latencies, the window's state."""

    def __init__(self, subscribers: int) -> None:
        self.subscribers = subscribers
        self.counts: dict[int, int] = {}
        self.first_timed = 1 << 62  # seq of the first timed broadcast, set when timing starts
        self.window_from = 1 << 62  # seq of the first broadcast the window waits for
        self.completed = 0  # broadcasts (>= window_from) every subscriber has received
        self.last_complete_at = 0.0
        self.latencies: list[float] = []
        self.disorder = 0  # a subscriber got a seq lower than one it already had
        self.ready = 0  # subscribers that received anything
        self.progress = asyncio.Event()
        self.all_ready = asyncio.Event()

    def delivered(self, seq: int, sent_at: float, now: float) -> None:
        if seq >= self.first_timed:
            self.latencies.append(now - sent_at)
        if seq < self.window_from:
            return
        counts = self.counts
        n = counts.get(seq, 0) + 1
        counts[seq] = n
        if n == self.subscribers:
            self.completed += 1
            self.last_complete_at = now
            self.progress.set()


class Subscriber(asyncio.Protocol):
    """One WebSocket client: handshake, then parse every text frame the server sends."""

    def __init__(self, request: bytes, tally: Tally, opened: asyncio.Future[None]) -> None:
        self.request = request
        self.tally = tally
        self.opened = opened
        self.buffer = b""
        self.upgraded = False
        self.last_seq: dict[int, int] = {}  # publisher -> the last seq it got from it
        self.got_any = False
        self.closed_with: str | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer + data if self.buffer else data
        if not self.upgraded:
            head, sep, rest = buffer.partition(b"\r\n\r\n")
            if not sep:
                self.buffer = buffer
                return
            if not head.startswith(b"HTTP/1.1 101"):
                self._fail(f"handshake refused: {head[:80]!r}")
                return
            self.upgraded = True
            if not self.opened.done():
                self.opened.set_result(None)
            buffer = rest
        now = time.perf_counter()
        tally = self.tally
        pos, end = 0, len(buffer)
        while end - pos >= 2:
            opcode = buffer[pos] & 0x0F
            length = buffer[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                start = pos + 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                start = pos + 10
            stop = start + length
            if stop > end:
                break
            if opcode == 0x1:
                self._message(buffer[start:stop], now, tally)
            elif opcode == 0x8:
                code = int.from_bytes(buffer[start : start + 2], "big") if length >= 2 else 1005
                self.closed_with = f"closed by the server: {code}"
            pos = stop
        self.buffer = buffer[pos:]

    def _message(self, payload: bytes, now: float, tally: Tally) -> None:
        body = _decode(payload)
        data = body.get("data", body)  # celeris wraps it: {"channel", "id", "data"}
        seq = data["seq"]
        publisher = data["p"]
        if not self.got_any:
            self.got_any = True
            tally.ready += 1
            if tally.ready == tally.subscribers:
                tally.all_ready.set()
        if seq <= self.last_seq.get(publisher, 0):
            tally.disorder += 1
        self.last_seq[publisher] = seq
        tally.delivered(seq, data["t"], now)

    def _fail(self, why: str) -> None:
        self.closed_with = why
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed_with is None:
            self.closed_with = f"connection lost: {exc}"
        if not self.opened.done():
            self.opened.set_exception(ConnectionError(self.closed_with))


class Sequence:
    """The numbers of the broadcasts, shared by the publishers."""

    def __init__(self) -> None:
        self.last = 0


class Publisher:
    """``POST /publish`` on one keep-alive connection, one request after the other."""

    def __init__(self, port: int, index: int, sequence: Sequence) -> None:
        self.port = port
        self.index = index
        self.sequence = sequence
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)

    async def publish(self) -> int:
        assert self.reader is not None
        assert self.writer is not None
        seq = self.sequence.last = self.sequence.last + 1
        message = {"seq": seq, "p": self.index, "t": time.perf_counter(), "pad": PAD}
        body = json.dumps(message).encode()
        self.writer.write(
            b"POST /publish HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        reader = self.reader
        head = await reader.readuntil(b"\r\n\r\n")
        length, chunked = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True  # NOTE: daphne (Twisted) chunks a body of unknown length
        if chunked:
            answer = b""
            while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
                answer += (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")  # NOTE: no trailers
        else:
            answer = await reader.readexactly(length)
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"POST /publish: {head.splitlines()[0]!r} {answer[:200]!r}")
        return seq

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def _cpu_s(pids: list[int]) -> float:
    """Return the CPU seconds (user + system) the processes ``pids`` have used so far."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # NOTE: utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


async def _watch_rss(pids: list[int], peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], _rss_kib(pids))
        await asyncio.sleep(0.25)


async def _windowed(
    publishers: list[Publisher],
    tally: Tally,
    seconds: float,
    window: int,
    stall: float,
    drain: bool = True,
) -> tuple[int, int, bool]:
    """Publish for ``seconds`` with ``window`` broadcasts in flight; return (first, last, ok).

    With ``drain`` wait for every broadcast of this phase to arrive everywhere; without (the
    warm-up), the next phase starts at once with the server still busy.

    Every publisher sends one request after the other; together they keep the window full
    (one alone would wait for each answer while the server is busy with the previous
    broadcasts, and measure that round trip instead of the server).
    """
    sequence = publishers[0].sequence
    first = sequence.last + 1
    tally.window_from = first  # NOTE: from now on only this phase's broadcasts are counted
    done_before = tally.completed
    end = time.perf_counter() + seconds
    stalled = False

    def in_flight() -> int:
        return sequence.last - first + 1 - (tally.completed - done_before)

    async def keep_publishing(publisher: Publisher) -> None:
        nonlocal stalled
        while time.perf_counter() < end and not stalled:
            while in_flight() >= window:
                tally.progress.clear()
                try:
                    await asyncio.wait_for(tally.progress.wait(), stall)
                except TimeoutError:
                    stalled = True
                    return
            await publisher.publish()

    await asyncio.gather(*(keep_publishing(p) for p in publishers))
    last = sequence.last
    if stalled:
        return first, last, False
    if not drain:
        return first, last, True
    while in_flight() > 0:
        tally.progress.clear()
        try:
            await asyncio.wait_for(tally.progress.wait(), stall)
        except TimeoutError:
            return first, last, False
    return first, last, True


async def load(args: argparse.Namespace) -> dict[str, Any]:
    _raise_nofile(args.subscribers)
    pids = [int(p) for p in args.server_pids.split(",")] if args.server_pids else []
    loop = asyncio.get_running_loop()
    tally = Tally(args.subscribers)
    rss_before = _rss_kib(pids)
    gate = asyncio.Semaphore(args.concurrency)
    subs: list[Subscriber] = []

    async def one() -> None:
        async with gate:
            opened: asyncio.Future[None] = loop.create_future()
            sub = Subscriber(_handshake(args.port), tally, opened)
            await loop.create_connection(lambda: sub, "127.0.0.1", args.port)
            subs.append(sub)
            await asyncio.wait_for(opened, 30)

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(args.subscribers)))
    connected = time.perf_counter()
    sequence = Sequence()
    publishers = [Publisher(args.port, i, sequence) for i in range(args.publishers)]
    for publisher in publishers:
        await publisher.open()
    publisher = publishers[0]
    # NOTE: probes until every subscriber got one: a server may subscribe after the handshake
    deadline = connected + 30
    while not tally.all_ready.is_set():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"only {tally.ready} of {args.subscribers} subscribers got a probe")
        await publisher.publish()
        try:
            await asyncio.wait_for(tally.all_ready.wait(), 0.05)
        except TimeoutError:
            pass
    subscribed = time.perf_counter()
    rss_connected = _rss_kib(pids)
    peak = [rss_connected]
    watcher = asyncio.ensure_future(_watch_rss(pids, peak))
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    ok = True
    if args.warmup:
        _first, _last, ok = await _windowed(
            publishers, tally, args.warmup, args.window, args.stall, drain=False
        )
    first = last = 0
    started = time.perf_counter()
    server_cpu_before = _cpu_s(pids)
    if ok:
        tally.first_timed = sequence.last + 1
        first, last, ok = await _windowed(publishers, tally, args.duration, args.window, args.stall)
    elapsed = (tally.last_complete_at if ok else time.perf_counter()) - started
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    server_cpu = _cpu_s(pids) - server_cpu_before
    watcher.cancel()
    for publisher in publishers:
        await publisher.close()
    broadcasts = last - first + 1 if last else 0
    expected = broadcasts * args.subscribers
    delivered = sum(tally.counts.get(seq, 0) for seq in range(first, last + 1)) if last else 0
    lat = sorted(tally.latencies)
    closed = sorted({s.closed_with for s in subs if s.closed_with})
    for sub in subs:
        if sub.transport is not None:
            sub.transport.close()
    client_cpu = cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime
    return {
        "subscribers": args.subscribers,
        "window": args.window,
        "publishers": args.publishers,
        "ok": ok and delivered == expected and not tally.disorder,
        "broadcasts": broadcasts,
        "deliveries": delivered,
        "expected": expected,
        "lost": expected - delivered,
        "disorder": tally.disorder,
        "closed": closed[:5],
        "seconds": elapsed,
        "deliveries_per_s": delivered / elapsed if elapsed > 0 else 0.0,
        "broadcasts_per_s": broadcasts / elapsed if elapsed > 0 and ok else 0.0,
        "p50_ms": statistics.median(lat) * 1000 if lat else 0.0,
        "p99_ms": lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000 if lat else 0.0,
        "connect_s": connected - began,
        "subscribed_s": subscribed - connected,
        "rss_before_kib": rss_before,
        "rss_connected_kib": rss_connected,
        "rss_peak_kib": peak[0],
        "client_cpu_share": client_cpu / elapsed if elapsed > 0 else 0.0,
        # NOTE: what the server's processes spent (user + system, from /proc): less sensitive
        # to a busy machine than deliveries/s, since time spent descheduled is not counted.
        "server_cpu_share": server_cpu / elapsed if elapsed > 0 else 0.0,
        "server_cpu_us_per_delivery": server_cpu * 1e6 / delivered if delivered else 0.0,
    }


async def check(port: int) -> None:
    """One ``websockets`` client must receive a published message as a valid text frame."""
    from websockets.asyncio.client import connect

    async with connect(f"ws://127.0.0.1:{port}/ws", open_timeout=10) as ws:
        publisher = Publisher(port, 0, Sequence())
        await publisher.open()
        try:
            deadline = time.perf_counter() + 10
            while True:  # NOTE: the subscription may start just after the handshake
                seq = await publisher.publish()
                try:
                    text = await asyncio.wait_for(ws.recv(), 0.2)
                    break
                except TimeoutError:
                    if time.perf_counter() > deadline:
                        raise SystemExit("check: no published message reached /ws") from None
        finally:
            await publisher.close()
        body = json.loads(text)
        data = body.get("data", body)
        if not isinstance(data, dict) or data.get("pad") != PAD or data.get("seq", 0) > seq:
            raise SystemExit(f"check: /ws sent {text!r}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("mode", choices=("load", "check"))
    parser.add_argument("port", type=int)
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--window", type=int, default=16, help="broadcasts in flight at most")
    parser.add_argument("--publishers", type=int, default=8, help="publishing connections")
    parser.add_argument("--concurrency", type=int, default=64, help="handshakes at once")
    parser.add_argument("--stall", type=float, default=20.0, help="seconds without progress")
    parser.add_argument("--server-pids", default="", help="pids whose RSS is measured")
    return parser.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - the bench venvs have uvloop
        runner = asyncio.run
    if args.mode == "check":
        runner(check(args.port))
        print(json.dumps({"check": "ok"}))
        return
    print(json.dumps(runner(load(args))))


if __name__ == "__main__":
    main(sys.argv[1:])
