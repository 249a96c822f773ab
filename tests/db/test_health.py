"""Tests for celeris.db.health and the outage behaviour of an app using celeris.db."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from celeris.core.app import App
from celeris.core.params import Depends
from celeris.db import AsyncSession, CRUDRouter, Database, PoolOptions, add_health_route, check
from celeris.testing import AsyncTestClient

from .conftest import private_postgres
from .db_models import Author
from .tcp_proxy import TCPProxy


@pytest.fixture
async def proxied_postgres(postgres_url: str) -> AsyncIterator[tuple[TCPProxy, str]]:
    """A private PostgreSQL database reached through a TCP proxy the test can cut."""
    private = private_postgres(postgres_url)
    # the helper is synchronous (asyncio.run); keep it off this test's running loop
    target = make_url(await asyncio.to_thread(next, private))
    proxy = TCPProxy(target.host or "127.0.0.1", target.port or 5432)
    port = await proxy.start()
    try:
        yield proxy, target.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        await proxy.close()
        await asyncio.to_thread(private.close)  # drops the database


async def test_check_reports_ok(database: Database) -> None:
    health = await check(database)
    assert health.status == "ok"
    assert health.database == database.dialect
    assert health.latency_ms is not None


async def test_healthz_route(database_url: str, tmp_path: Path) -> None:
    app = App()
    db = Database(database_url, app=app, root_path=tmp_path)
    add_health_route(app, db)
    async with AsyncTestClient(app) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_outage_gives_503_other_routes_keep_serving_and_it_recovers(
    proxied_postgres: tuple[TCPProxy, str], tmp_path: Path
) -> None:
    proxy, url = proxied_postgres
    app = App()
    db = Database(
        url,
        app=app,
        root_path=tmp_path,
        create_all=True,
        retry_after=7,
        pool=PoolOptions(size=2, connect_timeout=1.0),
    )
    app.include_router(CRUDRouter(Author, db))
    add_health_route(app, db, timeout=1.0)

    @app.get("/static")
    async def static() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/count")
    async def count(session: AsyncSession = Depends(db.session)) -> int:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(Author)) or 0)

    async with AsyncTestClient(app) as client:
        assert (await client.post("/author", json={"name": "Before"})).status_code == 201
        assert (await client.get("/count")).json() == 1

        await proxy.cut()
        for path in ("/author", "/count", "/count", "/healthz"):
            down = await client.get(path)
            assert down.status_code == 503, (path, down.text)
            assert down.headers["retry-after"] == "7"
            assert down.headers["content-type"].startswith("application/problem+json")
            assert "Traceback" not in down.text
        assert (await client.post("/author", json={"name": "During"})).status_code == 503
        assert (await client.get("/static")).json() == {"ok": True}

        await proxy.restore()
        assert (await client.get("/count")).json() == 1
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.post("/author", json={"name": "After"})).status_code == 201


async def test_statement_timeout_gives_503(postgres_url: str, tmp_path: Path) -> None:
    app = App()
    db = Database(
        postgres_url, app=app, root_path=tmp_path, pool=PoolOptions(statement_timeout=0.2)
    )

    @app.get("/slow")
    async def slow(session: AsyncSession = Depends(db.session)) -> str:
        await session.execute(sa.text("SELECT pg_sleep(2)"))
        return "done"

    async with AsyncTestClient(app) as client:
        response = await client.get("/slow")
    assert response.status_code == 503
    assert "timed out" in response.json()["detail"]
    assert response.headers["retry-after"] == "5"


async def test_startup_with_database_down_still_serves(tmp_path: Path) -> None:
    app = App()
    db = Database(
        "postgresql://nobody@127.0.0.1:9/none",
        app=app,
        root_path=tmp_path,
        create_all=True,
        pool=PoolOptions(connect_timeout=0.5),
    )
    add_health_route(app, db)

    @app.get("/static")
    async def static() -> str:
        return "up"

    async with AsyncTestClient(app) as client:
        assert (await client.get("/static")).text == "up"
        health = await client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["database"] == "postgresql"


async def test_stalled_database_gives_503_not_a_hang(
    proxied_postgres: tuple[TCPProxy, str], tmp_path: Path
) -> None:
    proxy, url = proxied_postgres
    app = App()
    pool = PoolOptions(size=1, max_overflow=0, connect_timeout=0.5, statement_timeout=0.5)
    db = Database(url, app=app, root_path=tmp_path, pool=pool)

    @app.get("/one")
    async def one(session: AsyncSession = Depends(db.session)) -> int:
        return int(await session.scalar(sa.select(1)) or 0)

    async with AsyncTestClient(app) as client:
        assert (await client.get("/one")).json() == 1
        proxy.stall()  # the pooled connection now hangs mid-query
        started = asyncio.get_running_loop().time()
        hung = await asyncio.wait_for(client.get("/one"), 10)
        assert hung.status_code == 503
        fresh = await asyncio.wait_for(client.get("/one"), 10)  # new connections hang too
        assert fresh.status_code == 503
        assert asyncio.get_running_loop().time() - started < 8
        await proxy.restore()
        assert (await client.get("/one")).json() == 1
