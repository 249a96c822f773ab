"""The Python cost of celeris's secured page for a signed-in browser, without the kernel.

``bench/hotpath.py`` sends the same request bytes over and over, without cookies: on the
secured page that is a new visitor on every request. This harness runs the app's lifespan
(as a server does), signs in once (``GET /login?user=ada``), opens the page once, and then
sends the cookies the app gave, as the ``secured`` test of ``bench/run.py`` does, through
``hotpath.measure`` (real ``HttpProtocol`` objects over fake transports).

  .venv/bin/python bench/secured_cost.py                 # us per request
  .venv/bin/python bench/secured_cost.py --show          # the page's response, head and body
  .venv/bin/python bench/secured_cost.py --anonymous     # a new visitor (no cookies) each time
  .venv/bin/python bench/secured_cost.py --layer 3       # the page with its first 3 batteries
  valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p \\
      .venv/bin/python bench/secured_cost.py --rounds 20 --once   # instructions: run twice
      (e.g. --rounds 20 and --rounds 60) and divide the difference by 64 x 40 requests
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.hotpath import FakeTransport, measure  # noqa: E402
from bench.secured_layers import LAYERS, build  # noqa: E402
from celeris.server.config import Config  # noqa: E402
from celeris.server.protocol import HttpProtocol  # noqa: E402
from celeris.server.state import ServerState  # noqa: E402
from celeris.types import fast_lane_of  # noqa: E402


class RecordingTransport(FakeTransport):
    """A fake transport that keeps what was written."""

    def __init__(self) -> None:
        super().__init__()
        self.data = b""

    def write(self, data: bytes) -> None:
        super().write(data)
        self.data += data


async def lifespan(app: Any, event: str) -> None:
    """Run the app's lifespan ``startup`` (what a server does before the first request)."""
    messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    await messages.put({"type": f"lifespan.{event}"})
    done = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if messages.empty():
            await done.wait()
            await asyncio.sleep(3600)
        return await messages.get()

    async def send(message: dict[str, Any]) -> None:
        if message["type"].endswith(("complete", "failed")):
            if message["type"].endswith("failed"):
                raise SystemExit(f"lifespan {event} failed: {message}")
            done.set()

    task = asyncio.ensure_future(app({"type": "lifespan", "asgi": {}, "state": {}}, receive, send))
    await done.wait()
    task.cancel()


def request_bytes(target: str, cookies: dict[str, str]) -> bytes:
    """Return a browser-like GET carrying ``cookies``."""
    head = f"GET {target} HTTP/1.1\r\nHost: localhost:8000\r\nAccept: text/html\r\n"
    if cookies:
        head += "Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()) + "\r\n"
    return (head + "\r\n").encode("latin-1")


async def fetch(app: Any, request: bytes) -> bytes:
    """Send one request on a fresh connection; return the raw response."""
    state = ServerState(Config(access_log=False), app, fast_lane_of(app))
    protocol, transport = HttpProtocol(state), RecordingTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    protocol.data_received(request)
    for _ in range(10):
        await asyncio.sleep(0)
    return transport.data


def set_cookies(response: bytes, cookies: dict[str, str]) -> None:
    """Apply the response's Set-Cookie headers to ``cookies``."""
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "set-cookie":
            key, _, rest = value.strip().partition("=")
            cookies[key] = rest.split(";", 1)[0]


async def signed_in(app: Any, target: str, anonymous: bool = False) -> tuple[bytes, bytes]:
    """Start the app, sign in, open the page once; return the request to time and its answer.

    ``anonymous``: no sign-in and no cookies, a new visitor on every request.
    """
    await lifespan(app, "startup")
    cookies: dict[str, str] = {}
    if not anonymous:
        set_cookies(await fetch(app, request_bytes("/login?user=ada", cookies)), cookies)
        set_cookies(await fetch(app, request_bytes(target, cookies)), cookies)
    request = request_bytes(target, cookies)
    return request, await fetch(app, request)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("module", nargs="?", default="bench.apps.celeris_secured")
    parser.add_argument("target", nargs="?", default="/secured")
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--once", action="store_true", help="one timed run, no warm-up")
    parser.add_argument("--show", action="store_true", help="print the timed response")
    parser.add_argument("--anonymous", action="store_true", help="no sign-in, no cookies")
    parser.add_argument(
        "--layer", type=int, choices=range(1, LAYERS + 1), help="bench/secured_layers.py's app"
    )
    args = parser.parse_args()
    if args.layer is not None:
        app, args.module = build(args.layer), f"layer {args.layer}"
    else:
        app = importlib.import_module(args.module).app

    async def run() -> None:
        request, answer = await signed_in(app, args.target, args.anonymous)
        if args.show:
            print(request.decode("latin-1"))
            print(answer.decode("utf-8", "replace"))
            return
        expected = b"anonymous" if args.anonymous else b"ada"
        if expected not in answer:
            raise SystemExit("the page does not show the signed-in user: " + repr(answer[:300]))
        if args.once:
            await measure(app, request, args.rounds)
            return
        await measure(app, request, 100)  # warm-up
        runs = sorted([await measure(app, request, args.rounds) for _ in range(3)])
        who = "anonymous" if args.anonymous else "signed in"
        print(f"{args.module} {args.target} ({who}): {runs[1]:.2f} us per request (median of 3)")

    uvloop.run(run())


if __name__ == "__main__":
    main()
