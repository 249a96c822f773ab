"""Tests for celeris.db.health and the outage behaviour of an app using celeris.db."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from db_models import Author
from tcp_proxy import TCPProxy

from celeris.core.app import App
from celeris.core.params import Depends
from celeris.db import AsyncSession, CRUDRouter, Database, PoolOptions, add_health_route, check
from celeris.testing import AsyncTestClient


@pytest.fixture
async def proxied_postgres(postgres_url: str) -> AsyncIterator[tuple[TCPProxy, str]]:
    parts = urlsplit(postgres_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await proxy.start()
    netloc = parts.netloc.rsplit("@", 1)
    user = f"{netloc[0]}@" if len(netloc) == 2 else ""
    url = parts._replace(netloc=f"{user}127.0.0.1:{port}").geturl()
    try:
        yield proxy, url
    finally:
        await proxy.close()


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
