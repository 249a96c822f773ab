"""A session store that goes down: 503 with Retry-After where the session is needed, recovery."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from celeris import App, Request
from celeris.sessions import Sessions, StoreUnavailable
from celeris.testing import AsyncTestClient

from ..db.tcp_proxy import TCPProxy


async def test_redis_outage_is_503_and_recovers(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    port = await proxy.start()
    url = f"redis://127.0.0.1:{port}{parts.path or '/0'}"
    app = App()
    sessions = Sessions(app=app, url=url, secret_key="outage-test-key", retry_after=7)

    @app.get("/count")
    async def count(request: Request) -> dict[str, int]:
        request.session["n"] = request.session.get("n", 0) + 1
        return {"n": request.session["n"]}

    @app.get("/peek")
    async def peek(request: Request) -> str:
        return request.method  # sees the Request, not the session

    @app.get("/health")
    async def health() -> str:
        return "ok"

    try:
        async with AsyncTestClient(app) as client:
            assert (await client.get("/count")).json() == {"n": 1}
            assert (await client.get("/count")).json() == {"n": 2}
            await proxy.cut()
            for _ in range(3):
                r = await client.get("/count")
                assert r.status_code == 503
                assert r.headers["retry-after"] == "7"
                assert r.headers["content-type"].startswith("application/problem+json")
                assert "session store" in r.json()["detail"]
            assert (await client.get("/health")).text == "ok"  # no session: keeps serving
            assert (await client.get("/nowhere")).status_code == 404  # misses load nothing
            with pytest.raises(StoreUnavailable):
                await sessions.check()  # what a readiness route reports
            fresh = AsyncTestClient(app)  # no cookie yet: nothing to load, nothing to fail
            assert (await fresh.get("/peek")).status_code == 200
            await fresh.aclose()
            await proxy.restore()
            r = await client.get("/count")
            assert r.status_code == 200
            assert r.json() == {"n": 3}
            await sessions.check()
    finally:
        await proxy.close()


async def test_database_outage_is_503_and_recovers(postgres_url: str, tmp_path) -> None:
    from celeris.db import Database, PoolOptions

    parts = urlsplit(postgres_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await proxy.start()
    url = postgres_url.replace(f"{parts.hostname}:{parts.port or 5432}", f"127.0.0.1:{port}")
    app = App()
    db = Database(url, app=app, root_path=tmp_path, pool=PoolOptions(connect_timeout=1.0, size=2))
    Sessions(app=app, url="db", db=db, secret_key="outage-test-key")

    @app.get("/count")
    async def count(request: Request) -> dict[str, int]:
        request.session["n"] = request.session.get("n", 0) + 1
        return {"n": request.session["n"]}

    @app.get("/health")
    async def health() -> str:
        return "ok"

    try:
        async with AsyncTestClient(app) as client:
            assert (await client.get("/count")).json() == {"n": 1}
            await proxy.cut()
            for _ in range(2):
                r = await client.get("/count")
                assert r.status_code == 503
                assert r.headers["retry-after"] == "5"
            assert (await client.get("/health")).text == "ok"
            await proxy.restore()
            r = await client.get("/count")
            assert r.status_code == 200
            assert r.json() == {"n": 2}
    finally:
        await proxy.close()
