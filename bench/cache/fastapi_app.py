"""The costly page on FastAPI: ``/page`` computes every time, ``/cached`` is fastapi-cache2's
documented ``@cache(expire=60)`` with ``RedisBackend`` on the same Redis (its own prefix).

Runs in bench/.work/venv-cache (bench/cache/requirements.txt); it never imports celeris.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from fastapi_cache import FastAPICache
from fastapi_cache.backends.redis import RedisBackend
from fastapi_cache.decorator import cache
from redis import asyncio as aioredis

from bench.cache.work import page

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = "bench-cache-fastapi"


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    redis = aioredis.from_url(REDIS_URL)
    FastAPICache.init(RedisBackend(redis), prefix=PREFIX)
    yield
    await redis.close()


app = FastAPI(lifespan=lifespan)


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return "OK"


@app.get("/page")
async def uncached() -> dict[str, object]:
    return page()


@app.get("/cached")
@cache(expire=60)
async def cached() -> dict[str, object]:
    return page()
