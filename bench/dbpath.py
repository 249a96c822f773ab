"""The Python cost of one database request on celeris's own server, against a real PostgreSQL.

Like ``bench/hotpath.py`` (real ``HttpProtocol`` objects over fake transports, no sockets on
the HTTP side), but the handlers talk to the bench database for real, so the batch waits for
every answer. Reports this process's CPU time per request (steady on a loaded machine: the
database server's work is another process) and the wall time. A profiling aid, not a result.

  .venv/bin/python bench/dbpath.py bench.apps.celeris_app /db            # raw asyncpg
  .venv/bin/python bench/dbpath.py bench.apps.celeris_orm_app /db        # celeris.db
  .venv/bin/python bench/dbpath.py bench.apps.celeris_orm_app /db --profile
  valgrind --tool=callgrind .venv/bin/python bench/dbpath.py bench.apps.celeris_orm_app /db --rounds 20

Needs the bench database (``bench/seed.py``) at ``BENCH_DATABASE_URL``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib
import pstats
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.hotpath import FakeTransport, request_bytes  # noqa: E402
from celeris.server.config import Config  # noqa: E402
from celeris.server.protocol import HttpProtocol  # noqa: E402
from celeris.server.state import ServerState  # noqa: E402
from celeris.types import fast_lane_of  # noqa: E402

CONNECTIONS = 16  # the bench's pool size: every request gets a connection at once


class CountingTransport(FakeTransport):
    """hotpath's fake transport, counting responses and waking the batch when all are written."""

    def __init__(self, batch: Batch) -> None:
        super().__init__()
        self.batch = batch
        self.status: bytes = b""

    def write(self, data: bytes) -> None:
        if data.startswith(b"HTTP/1.1 "):
            self.status = data[9:12]
            self.batch.answered()

    def writelines(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.write(chunk)


class Batch:
    """Counts answers of one round and sets an event when the round is complete."""

    def __init__(self) -> None:
        self.pending = 0
        self.done = asyncio.Event()

    def answered(self) -> None:
        self.pending -= 1
        if self.pending == 0:
            self.done.set()


async def measure(app: Any, request: bytes, rounds: int) -> tuple[float, float]:
    """Return (CPU us, wall us) per request over ``rounds`` x CONNECTIONS requests."""
    loop = asyncio.get_running_loop()
    state = ServerState(Config(access_log=False), app, fast_lane_of(app))
    batch = Batch()
    conns = []
    for _ in range(CONNECTIONS):
        protocol, transport = HttpProtocol(state), CountingTransport(batch)
        protocol.connection_made(transport)  # type: ignore[arg-type]
        conns.append((protocol, transport))
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(rounds):
        batch.pending = CONNECTIONS
        batch.done.clear()
        for protocol, _transport in conns:
            loop.call_soon(protocol.data_received, request)
        await batch.done.wait()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    for protocol, _transport in conns:
        protocol.connection_lost(None)
    await asyncio.sleep(0)
    bad = {t.status for _, t in conns} - {b"200"}
    if bad:
        raise SystemExit(f"answers other than 200: {bad}")
    count = rounds * CONNECTIONS
    return cpu / count * 1e6, wall / count * 1e6


async def run(module: str, target: str, rounds: int, profile: bool) -> None:
    app = importlib.import_module(module).app
    request = request_bytes(target, None)
    try:
        await _measure_app(app, request, rounds, profile, module, target)
    finally:
        for task in asyncio.all_tasks() - {asyncio.current_task()}:
            task.cancel()  # NOTE: the fake connections' idle keep-alive drivers


async def _measure_app(
    app: Any, request: bytes, rounds: int, profile: bool, module: str, target: str
) -> None:
    async with _Lifespan(app):
        await measure(app, request, 50)  # warm-up: connections, caches, prepared statements
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await measure(app, request, rounds)
            profiler.disable()
            stats = pstats.Stats(profiler)
            stats.sort_stats("tottime").print_stats(30)
            stats.sort_stats("cumulative").print_stats(40)
            return
        runs = sorted([await measure(app, request, rounds) for _ in range(3)])
        cpu, wall = runs[1]
        print(f"{module} {target}: {cpu:.1f} us CPU, {wall:.1f} us wall per request (median of 3)")


class _Lifespan:
    """Run an app's start-up and shutdown handlers around the measurement."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __aenter__(self) -> None:
        await self.app.lifespan.startup()

    async def __aexit__(self, *_exc: object) -> None:
        await self.app.lifespan.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="?", default="bench.apps.celeris_orm_app")
    parser.add_argument("target", nargs="?", default="/db")
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions")
    args = parser.parse_args()
    uvloop.run(run(args.module, args.target, args.rounds, args.profile))


if __name__ == "__main__":
    main()
