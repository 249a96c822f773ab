"""Redis cut and restored through a TCP proxy: the cache degrades or answers 503, then recovers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from celeris import App
from celeris.cache import Cache, CacheUnavailable, check
from celeris.testing import AsyncTestClient
from tests.db.tcp_proxy import TCPProxy


@pytest.fixture
async def proxy(redis_url: str) -> AsyncIterator[TCPProxy]:
    parts = urlsplit(redis_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    yield proxy
    await proxy.close()


def _through(proxy: TCPProxy, redis_url: str) -> str:
    return f"redis://127.0.0.1:{proxy.port}{urlsplit(redis_url).path}"


async def test_degrades_to_misses_and_recovers(
    proxy: TCPProxy, redis_url: str, namespace: str
) -> None:
    async with Cache(url=_through(proxy, redis_url), namespace=namespace, retry_after=0.2) as cache:
        await cache.set("k", "v")
        assert await cache.get("k") == "v"
        await proxy.cut()

        started = time.monotonic()
        assert await cache.get("k") is None  # a miss, not an error
        await cache.set("k2", "v2")  # a no-op
        calls = 0

        @cache.cached(ttl=60)
        async def compute() -> int:
            nonlocal calls
            calls += 1
            return 42

        assert await compute() == 42
        assert await compute() == 42
        assert calls == 2  # computed each time while the cache is away
        assert time.monotonic() - started < 2.0  # never a hang
        assert (await check(cache)).status == "unavailable"

        await proxy.restore()
        await asyncio.sleep(0.25)  # past retry_after
        assert await cache.get("k") == "v"  # recovered by itself
        await cache.clear()


async def test_stalled_redis_times_out(proxy: TCPProxy, redis_url: str, namespace: str) -> None:
    async with Cache(url=_through(proxy, redis_url), namespace=namespace, timeout=0.2) as cache:
        proxy.stall()
        started = time.monotonic()
        assert await cache.get("k") is None
        assert time.monotonic() - started < 1.5
        health = await check(cache, timeout=0.3)
        assert health.status == "unavailable"


async def test_raise_mode_answers_503_then_recovers(
    proxy: TCPProxy, redis_url: str, namespace: str
) -> None:
    app = App()
    cache = Cache(
        app=app,
        url=_through(proxy, redis_url),
        namespace=namespace,
        on_error="raise",
        retry_after=0.2,
    )

    @app.get("/count")
    async def count() -> dict[str, int]:
        return {"hits": await cache.incr("hits")}

    @app.get("/value")
    async def value() -> dict[str, object]:
        return {"value": await cache.get("v")}

    async with AsyncTestClient(app) as client:
        assert (await client.get("/count")).json() == {"hits": 1}
        await proxy.cut()
        for path in ("/count", "/value"):
            response = await client.get(path)
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["retry-after"] == "1"
            assert "unavailable" in response.json()["detail"]
        with pytest.raises(CacheUnavailable):
            await cache.get("v")
        await proxy.restore()
        await asyncio.sleep(0.25)
        assert (await client.get("/count")).json() == {"hits": 2}
        assert (await client.get("/value")).json() == {"value": None}
        await cache.clear()


async def test_attached_to_an_app(cache_url: str, namespace: str) -> None:
    app = App()
    cache = Cache(app=app, url=cache_url, namespace=namespace)

    @app.get("/visit")
    async def visit() -> dict[str, int]:
        return {"n": await cache.incr("visits")}

    async with AsyncTestClient(app) as client:
        assert (await client.get("/visit")).json() == {"n": 1}
        assert (await client.get("/visit")).json() == {"n": 2}
        health = await check(cache)
        assert health.status == "ok"
        assert health.cache == cache.backend.name
        assert health.latency_ms is not None
        await cache.clear()
