"""Fixtures: a Tickets per test on each store (memory, SQLite, PostgreSQL in its own schema)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from celeris.db import Database, PoolOptions

STORES = ["memory", "sqlite", "postgresql"]


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coroutine)


async def make_database(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Database | None:
    """Return a Database for ``kind`` (None for memory); PostgreSQL gets a fresh schema."""
    if kind == "memory":
        return None
    if kind == "sqlite":
        return Database(f"sqlite:///{tmp_path / 'app.db'}", root_path=tmp_path)
    url = request.getfixturevalue("postgres_url")
    schema = f"tickets_{uuid.uuid4().hex[:10]}"
    admin = Database(url, root_path=tmp_path)
    async with admin.engine.begin() as connection:
        await connection.execute(text(f"CREATE SCHEMA {schema}"))
    await admin.disconnect()

    async def drop() -> None:
        async with admin.engine.begin() as connection:
            await connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        await admin.disconnect()

    request.addfinalizer(lambda: _run(drop()))
    settings = {"search_path": schema, "statement_timeout": "30000"}
    return Database(url, root_path=tmp_path, pool=PoolOptions(extra={"server_settings": settings}))


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database(
    store_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Database | None]:
    db = await make_database(store_kind, tmp_path, request)
    yield db
    if db is not None:
        await db.disconnect()


@pytest.fixture
def store_options(database: Database | None) -> dict[str, Any]:
    """Keyword arguments for Tickets on the test's store."""
    if database is None:
        return {"url": "memory://"}
    return {"db": database}
