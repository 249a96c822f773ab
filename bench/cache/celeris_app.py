"""The costly page on celeris: ``/page`` computes every time, ``/cached`` is the same handler
behind ``cache.response(ttl=60)`` on Redis (``BENCH_REDIS_URL``, its own key namespace)."""

from __future__ import annotations

import os

from bench.cache.work import page
from celeris import App
from celeris.cache import Cache

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
NAMESPACE = "bench-cache-celeris:"

app = App()
cache = Cache(app=app, url=REDIS_URL, namespace=NAMESPACE)


@app.get("/plaintext")
async def plaintext() -> str:
    return "OK"


@app.get("/page")
async def uncached() -> dict[str, object]:
    return page()


@app.get("/cached", cache=cache.response(ttl=60))
async def cached() -> dict[str, object]:
    return page()
