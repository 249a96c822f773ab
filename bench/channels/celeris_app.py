"""The fan-out app on celeris: ``POST /publish`` broadcasts its JSON body to every WebSocket
subscriber of ``/ws`` through ``celeris.channels`` on Redis.

``BENCH_REDIS_URL`` is the Redis; ``BENCH_HISTORY`` 0 is Redis pub/sub, N > 0 Redis Streams
(resumable, the last N messages of the channel kept).
"""

from __future__ import annotations

import os

from celeris import App, Request, WebSocket
from celeris.channels import Channels

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
GROUP = "bench-fanout"

app = App()
channels = Channels(app=app, url=REDIS_URL, history=int(os.environ.get("BENCH_HISTORY", "0")))


@app.get("/plaintext")
async def plaintext() -> str:
    return "OK"


@app.post("/publish")
async def publish(request: Request) -> dict[str, str | None]:
    return {"id": await channels.publish(GROUP, await request.json())}


@app.websocket("/ws")
async def subscribe(ws: WebSocket) -> None:
    await channels.websocket(ws, GROUP)
