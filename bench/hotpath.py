"""The Python cost of one request on celeris's own server, without the kernel.

Feeds whole requests to real ``HttpProtocol`` objects over fake transports, from loop
callbacks as uvloop would, and lets the handlers run. No sockets, no load generator: what is
left is the server's and the app's own work per request, steadier than a wrk run and
profilable. A tool for finding and checking optimisations, not a benchmark result (those come
from ``bench/run.py``, peers side by side).

  .venv/bin/python bench/hotpath.py                                   # plaintext, hello app
  .venv/bin/python bench/hotpath.py bench.apps.celeris_app '/items/42?q=hello&limit=5'
  .venv/bin/python bench/hotpath.py bench.apps.celeris_app /json --profile   # cProfile top 25
  .venv/bin/python bench/hotpath.py bench.apps.celeris_app /users --post '{"name": "Ada", "age": 36, "email": "a@b.c"}'
  .venv/bin/python bench/hotpath.py bench.apps.celeris_idempotency /redis --wait --post '{"sku": "tea"}' --header 'Idempotency-Key: "k1"'
  .venv/bin/python bench/hotpath.py bench.apps.celeris_dressed --versus bench.apps.celeris_hello

``celeris_dressed`` is the hello app with CORS, GZip, TrustedHost, RequestID, a no-op hook and
a one-level dependency; ``--versus`` measures a second app in the same run and prints the
ratio (the pipeline's cost over the bare route). For figures to compare across changes, count
instructions instead of timing (see docs/internals.md, "Measuring").
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

from celeris.server.config import Config  # noqa: E402
from celeris.server.protocol import HttpProtocol  # noqa: E402
from celeris.server.state import ServerState  # noqa: E402
from celeris.types import fast_lane_of  # noqa: E402

CONNECTIONS = 64


class FakeTransport:
    """Just enough of a transport: counts writes, never pauses."""

    def __init__(self) -> None:
        self.writes = 0

    def write(self, data: bytes) -> None:
        self.writes += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8000)}.get(
            name, default
        )

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


def request_bytes(target: str, body: str | None, headers: list[str] | None = None) -> bytes:
    """Return the request wrk would send: a GET, or a JSON POST when ``body`` is given."""
    extra = b"".join(b"%s\r\n" % h.encode() for h in headers or ())
    if body is None:
        return b"GET %s HTTP/1.1\r\nHost: localhost:8000\r\n%s\r\n" % (target.encode(), extra)
    data = body.encode()
    return (
        b"POST %s HTTP/1.1\r\nHost: localhost:8000\r\nContent-Type: application/json\r\n"
        b"%sContent-Length: %d\r\n\r\n%s" % (target.encode(), extra, len(data), data)
    )


async def measure(app: Any, request: bytes, rounds: int, wait: bool = False) -> float:
    """Return microseconds per request over ``rounds`` x CONNECTIONS requests."""
    loop = asyncio.get_running_loop()
    state = ServerState(Config(access_log=False), app, fast_lane_of(app))
    conns = []
    for _ in range(CONNECTIONS):
        protocol, transport = HttpProtocol(state), FakeTransport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        conns.append((protocol, transport))
    began = time.perf_counter()
    done = 0
    for _ in range(rounds):
        for protocol, _transport in conns:
            loop.call_soon(protocol.data_received, request)
        for _ in range(3):  # the callbacks, then any handler that suspended
            await asyncio.sleep(0)
        if wait:
            # NOTE: a handler waiting on Redis or a database is not done after three turns.
            done += CONNECTIONS
            while sum(t.writes for _, t in conns) < done:
                await asyncio.sleep(0.0001)
    elapsed = time.perf_counter() - began
    answered = sum(t.writes for _, t in conns)
    if answered != rounds * CONNECTIONS:
        raise SystemExit(f"only {answered} of {rounds * CONNECTIONS} requests were answered")
    return elapsed / answered * 1e6


async def warm_then_measure(app: Any, request: bytes, rounds: int) -> list[float]:
    """Warm up (caches, first-request work), then measure three times, all in one loop.

    One loop, so that a client the app opened while warming up (Redis, a database pool)
    serves the timed runs too.
    """
    await measure(app, request, 200, wait=True)
    return [await measure(app, request, rounds, wait=True) for _ in range(3)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="?", default="bench.apps.celeris_hello")
    parser.add_argument("target", nargs="?", default="/plaintext")
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--post", metavar="JSON", help="POST this JSON body instead of a GET")
    parser.add_argument(
        "--header", action="append", metavar="'NAME: VALUE'", help="send this header (repeatable)"
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="for handlers that wait on I/O (Redis, a database): one event loop for all runs, "
        "and each round waits until every request is answered",
    )
    parser.add_argument("--profile", action="store_true", help="print cProfile's top 25")
    parser.add_argument("--versus", metavar="MODULE", help="also measure this app; print the ratio")
    args = parser.parse_args()
    app = importlib.import_module(args.module).app
    request = request_bytes(args.target, args.post, args.header)
    if args.versus:
        other = importlib.import_module(args.versus).app
        times = {}
        for name, each in ((args.module, app), (args.versus, other)):
            uvloop.run(measure(each, request, 200))
            times[name] = sorted(uvloop.run(measure(each, request, args.rounds)) for _ in range(3))[
                1
            ]
            print(f"{name} {args.target}: {times[name]:.2f} us per request (median of 3)")
        ratio = times[args.module] / times[args.versus]
        print(f"{args.module} costs {ratio:.2f}x {args.versus} ({(ratio - 1) * 100:+.0f}%)")
        return
    if args.profile:
        uvloop.run(measure(app, request, 200, wait=args.wait))  # warm-up
        profiler = cProfile.Profile()
        profiler.enable()
        uvloop.run(measure(app, request, args.rounds // 4, wait=args.wait))
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    if args.wait:
        runs = sorted(uvloop.run(warm_then_measure(app, request, args.rounds)))
    else:
        # NOTE: the default, as before --wait existed: a loop per run, no polling (the
        # instruction counts of the pipeline figures in docs/internals.md are taken this way).
        uvloop.run(measure(app, request, 200))  # warm-up: caches, first-request work
        runs = sorted(uvloop.run(measure(app, request, args.rounds)) for _ in range(3))
    print(f"{args.module} {args.target}: {runs[1]:.2f} us per request (median of 3)")


if __name__ == "__main__":
    main()
