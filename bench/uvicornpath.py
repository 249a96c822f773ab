"""The Python cost of one request on uvicorn, without the kernel: ``bench/hotpath.py`` for uvicorn.

Feeds whole requests to real uvicorn ``HttpToolsProtocol`` objects over fake transports and
lets the ASGI app answer, so an app's cost on uvicorn can be counted in instructions
(callgrind, two ``--rounds`` values) instead of timed with wrk on a shared machine:

  .venv/bin/python bench/uvicornpath.py bench.apps.celeris_dressed /plaintext
  .venv/bin/python bench/uvicornpath.py bench.apps.celeris_dressed --versus bench.apps.celeris_hello

uvicorn runs a Task per request, so each round waits a few loop turns for the answers.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
import time
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from uvicorn.config import Config  # noqa: E402
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: E402
from uvicorn.server import ServerState  # noqa: E402

from bench.hotpath import CONNECTIONS, FakeTransport, request_bytes  # noqa: E402


class Unanswered(RuntimeError):
    """Some requests fed in got no 200: the run measured something else."""


class _Transport(FakeTransport):
    """Counts the 200 responses written (uvicorn may write a head and a body apart)."""

    def write(self, data: bytes) -> None:
        self.writes += data.count(b"HTTP/1.1 200 ")


async def measure(app: Any, request: bytes, rounds: int) -> float:
    """Return microseconds per request over ``rounds`` x CONNECTIONS requests."""
    loop = asyncio.get_running_loop()
    config = Config(app=app, lifespan="off", access_log=False, http="httptools", log_level="error")
    config.load()
    state = ServerState()
    conns = []
    for _ in range(CONNECTIONS):
        protocol = HttpToolsProtocol(config=config, server_state=state, app_state={})
        transport = _Transport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        conns.append((protocol, transport))
    began = time.perf_counter()
    for _ in range(rounds):
        for protocol, _transport in conns:
            loop.call_soon(protocol.data_received, request)
        for _ in range(4):  # the callbacks, the Tasks, their answers
            await asyncio.sleep(0)
    elapsed = time.perf_counter() - began
    answered = sum(t.writes for _, t in conns)
    if answered != rounds * CONNECTIONS:
        raise Unanswered(f"only {answered} of {rounds * CONNECTIONS} requests were answered 200")
    for protocol, _transport in conns:
        protocol.connection_lost(None)
    return elapsed / (rounds * CONNECTIONS) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="?", default="bench.apps.celeris_hello")
    parser.add_argument("target", nargs="?", default="/plaintext")
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--versus", metavar="MODULE", help="also measure this app; print the ratio")
    args = parser.parse_args()
    request = request_bytes(args.target, None)
    names = [args.module] + ([args.versus] if args.versus else [])
    times = {}
    for name in names:
        app = importlib.import_module(name).app
        uvloop.run(measure(app, request, 200))  # warm-up: caches, first-request work
        times[name] = sorted(uvloop.run(measure(app, request, args.rounds)) for _ in range(3))[1]
        print(f"{name} {args.target}: {times[name]:.2f} us per request on uvicorn (median of 3)")
    if args.versus:
        ratio = times[args.module] / times[args.versus]
        print(f"{args.module} costs {ratio:.2f}x {args.versus} ({(ratio - 1) * 100:+.0f}%)")


if __name__ == "__main__":
    try:
        main()
    except Unanswered as exc:
        raise SystemExit(str(exc)) from None
