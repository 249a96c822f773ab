"""``GET /me`` with a bearer token on celeris's own server, no sockets: both apps the same way.

``bench/hotpath.py``'s machinery (real ``HttpProtocol`` objects over fake transports, requests
fed from loop callbacks), except that it waits for every answer, since a handler that queries
the database suspends for longer than a few loop turns. Both ASGI apps run on the same server,
so the figure is the app's cost plus celeris's server, without httpx.

  PYTHONPATH=src .venv/bin/python bench/auth/served.py [--rounds 200] [--database URL]
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.auth.apps import EMAIL, PASSWORD, celeris_app, fastapi_app, fastapi_setup  # noqa: E402
from bench.auth.count import POSTGRES, postgres_database, running  # noqa: E402
from bench.hotpath import FakeTransport  # noqa: E402
from celeris.server.config import Config  # noqa: E402
from celeris.server.protocol import HttpProtocol  # noqa: E402
from celeris.server.state import ServerState  # noqa: E402
from celeris.types import fast_lane_of  # noqa: E402

CONNECTIONS = 16


def request_bytes(token: str) -> bytes:
    return (
        f"GET /me HTTP/1.1\r\nHost: localhost:8000\r\nAuthorization: Bearer {token}\r\n\r\n"
    ).encode()


async def measure(app: Any, request: bytes, rounds: int) -> float:
    """Return µs per request over ``rounds`` x CONNECTIONS requests, waiting for each answer."""
    loop = asyncio.get_running_loop()
    state = ServerState(Config(access_log=False), app, fast_lane_of(app))
    conns = []
    for _ in range(CONNECTIONS):
        protocol, transport = HttpProtocol(state), FakeTransport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        conns.append((protocol, transport))
    began = time.perf_counter()
    for done in range(1, rounds + 1):
        for protocol, _transport in conns:
            loop.call_soon(protocol.data_received, request)
        while sum(t.writes for _, t in conns) < done * CONNECTIONS:
            await asyncio.sleep(0)
    elapsed = time.perf_counter() - began
    for protocol, _transport in conns:
        protocol.connection_lost(None)
    await asyncio.sleep(0)
    return elapsed / (rounds * CONNECTIONS) * 1e6


class Recording(FakeTransport):
    """A fake transport that keeps what was written."""

    def __init__(self) -> None:
        super().__init__()
        self.data = b""

    def write(self, data: bytes) -> None:
        super().write(data)
        self.data += data


async def check(app: Any, request: bytes) -> None:
    """Refuse to time an app whose answer is not a 200 with the user's email."""
    protocol, transport = (
        HttpProtocol(ServerState(Config(access_log=False), app, None)),
        Recording(),
    )
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.data_received(request)
    while not transport.data.endswith(b"}"):
        await asyncio.sleep(0.001)
    protocol.connection_lost(None)
    if not transport.data.startswith(b"HTTP/1.1 200") or EMAIL.encode() not in transport.data:
        raise SystemExit(f"unexpected answer: {transport.data[:300]!r}")


async def both(url: str, rounds: int) -> dict[str, float]:
    results: dict[str, float] = {}
    app, auth = celeris_app(url)
    async with running(app):
        user = await auth.create_user(EMAIL, PASSWORD)
        token, _ = await auth.create_token(user, "bench")
        request = request_bytes(token)
        await check(app, request)
        await measure(app, request, 20)
        runs = [await measure(app, request, rounds) for _ in range(3)]
        results["celeris: personal token, cached"] = statistics.median(runs)
    fast, engine, password_hash = fastapi_app(url)
    await fastapi_setup(engine, password_hash)
    async with running(fast) as client:
        form = {"username": EMAIL, "password": PASSWORD}
        request = request_bytes((await client.post("/token", data=form)).json()["access_token"])
        await check(fast, request)
        await measure(fast, request, 20)
        runs = [await measure(fast, request, rounds) for _ in range(3)]
        results["FastAPI: OAuth2PasswordBearer + PyJWT + user query"] = statistics.median(runs)
    await engine.dispose()
    return results


async def main_async(args: argparse.Namespace) -> None:
    print(f"median of 3 x {args.rounds} x {CONNECTIONS} requests (noisy)\n")
    print("| database | app | µs per request | requests per second |\n| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as folder:
        sqlite = await both(f"sqlite:///{folder}/served.db", args.rounds)
        async with postgres_database(args.database) as url:
            postgres = await both(url, args.rounds)
    for name, results in (("SQLite", sqlite), ("PostgreSQL", postgres)):
        for what, micro in results.items():
            print(f"| {name} | {what} | {micro:.0f} | {1e6 / micro:,.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=POSTGRES)
    parser.add_argument("--rounds", type=int, default=200)
    uvloop.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
