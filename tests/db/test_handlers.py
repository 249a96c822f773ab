"""Database faults over HTTP: they reach the app's own HTTPError handler like any other error."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from celeris import App, Depends
from celeris.core.errors import HTTPError
from celeris.core.responses import JSONResponse
from celeris.db import AsyncSession, Database, Ordering, PoolOptions, paginate_cursor
from celeris.testing import AsyncTestClient

from .db_models import Author


def _shaped_app() -> tuple[App, list[HTTPError]]:
    """An app that gives every HTTP error its own JSON shape (and passes headers on)."""
    app = App()
    seen: list[HTTPError] = []

    @app.exception_handler(HTTPError)
    async def shaped(_request: Any, exc: HTTPError) -> JSONResponse:
        seen.append(exc)
        return JSONResponse(
            {"error": {"code": exc.status_code, "message": exc.detail}},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    return app, seen


async def test_unique_violation_reaches_the_apps_http_error_handler(
    database_url: str, tmp_path: Path
) -> None:
    app, seen = _shaped_app()
    db = Database(database_url, app=app, root_path=tmp_path, create_all=True)

    @app.post("/authors", status_code=201)
    async def create(name: str, session: AsyncSession = Depends(db.session)) -> dict[str, str]:
        session.add(Author(name=name))
        return {"name": name}

    async with AsyncTestClient(app) as client:
        assert (await client.post("/authors", params={"name": "Le Guin"})).status_code == 201
        clash = await client.post("/authors", params={"name": "Le Guin"})
    assert clash.status_code == 409
    assert clash.json()["error"]["code"] == 409
    assert "unique" in clash.json()["error"]["message"]
    assert isinstance(seen[-1].__cause__, sa.exc.IntegrityError)


async def test_database_down_reaches_the_apps_handler_with_retry_after(tmp_path: Path) -> None:
    app, seen = _shaped_app()
    db = Database(
        "postgresql://nobody@127.0.0.1:9/none",
        app=app,
        root_path=tmp_path,
        retry_after=7,
        pool=PoolOptions(connect_timeout=1.0),
    )

    @app.get("/authors")
    async def names(session: AsyncSession = Depends(db.read_session)) -> list[str]:
        return list((await session.scalars(sa.select(Author.name))).all())

    async with AsyncTestClient(app) as client:
        response = await client.get("/authors")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"]["code"] == 503
    assert seen[-1].status_code == 503


async def test_handlers_keyed_by_status_code_also_see_database_faults(
    database_url: str, tmp_path: Path
) -> None:
    app = App()
    db = Database(database_url, app=app, root_path=tmp_path, create_all=True)

    @app.exception_handler(409)
    async def conflict(_request: Any, exc: HTTPError) -> JSONResponse:
        return JSONResponse({"taken": True}, status_code=409)

    @app.post("/authors")
    async def create(name: str, session: AsyncSession = Depends(db.session)) -> None:
        session.add(Author(name=name))

    async with AsyncTestClient(app) as client:
        await client.post("/authors", params={"name": "Butler"})
        clash = await client.post("/authors", params={"name": "Butler"})
    assert (clash.status_code, clash.json()) == (409, {"taken": True})


async def test_a_timeout_elsewhere_is_not_a_database_fault(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()
    db = Database(database_url, app=app, root_path=tmp_path, create_all=True)

    @app.get("/weather")
    async def weather(session: AsyncSession = Depends(db.session)) -> dict[str, int]:
        await session.execute(sa.select(Author.id))
        async with asyncio.timeout(0.01):  # a slow call to another service
            await asyncio.sleep(1)
        return {}

    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        with caplog.at_level(logging.WARNING, logger="celeris.db"):
            response = await client.get("/weather")
    assert response.status_code == 500
    assert "retry-after" not in response.headers
    assert "database fault" not in caplog.text


async def test_a_timeout_elsewhere_reaches_the_apps_timeout_handler(
    database_url: str, tmp_path: Path
) -> None:
    app = App()
    db = Database(database_url, app=app, root_path=tmp_path)

    @app.exception_handler(OSError)
    async def upstream(_request: Any, exc: OSError) -> JSONResponse:
        return JSONResponse({"upstream": type(exc).__name__}, status_code=504)

    @app.get("/weather")
    async def weather() -> None:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)

    assert db.url is not None
    async with AsyncTestClient(app) as client:
        response = await client.get("/weather")
    assert (response.status_code, response.json()) == (504, {"upstream": "TimeoutError"})


async def test_a_database_timeout_is_503_and_the_log_names_it(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()
    db = Database(
        postgres_url,
        app=app,
        root_path=tmp_path,
        pool=PoolOptions(statement_timeout=None, extra={"command_timeout": 0.2}),
    )

    @app.get("/slow")
    async def slow(session: AsyncSession = Depends(db.read_session)) -> None:
        await session.execute(sa.text("SELECT pg_sleep(2)"))

    async with AsyncTestClient(app) as client:
        with caplog.at_level(logging.WARNING, logger="celeris.db"):
            response = await client.get("/slow")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "waiting for the database" in response.json()["detail"]
    assert "database fault" in caplog.text
    assert "TimeoutError" in caplog.text


async def test_a_forged_cursor_in_a_users_own_handler_is_400(
    database_url: str, tmp_path: Path
) -> None:
    app, seen = _shaped_app()
    db = Database(database_url, app=app, root_path=tmp_path, create_all=True)

    @app.get("/authors")
    async def authors(
        cursor: str | None = None, session: AsyncSession = Depends(db.read_session)
    ) -> list[str]:
        rows, _next = await paginate_cursor(
            session, sa.select(Author), ordering=[Ordering(Author.id)], limit=5, cursor=cursor
        )
        return [row.name for row in rows]

    async with AsyncTestClient(app) as client:
        assert (await client.get("/authors")).status_code == 200
        forged = await client.get("/authors", params={"cursor": "bm90IGpzb24"})
    assert forged.status_code == 400
    assert "invalid cursor" in forged.json()["error"]["message"]
    assert seen[-1].status_code == 400
