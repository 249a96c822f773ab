"""Data-layer fixtures: every backend test runs on SQLite and on a private PostgreSQL database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from celeris.db.database import Database


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def private_postgres(base_url: str) -> Iterator[str]:
    """Create a throw-away PostgreSQL database; yield its asyncpg URL; drop it afterwards."""
    name = f"celeris_db_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(base_url, f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(base_url).set(drivername="postgresql+asyncpg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(base_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    yield from private_postgres(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def database(database_url: str, tmp_path: Path) -> AsyncIterator[Database]:
    """A connected ``Database`` whose tables are created from the test models."""
    db = Database(database_url, root_path=tmp_path, create_all=True)
    await db.connect()
    try:
        yield db
    finally:
        await db.disconnect()


@pytest.fixture
def private_postgres_url(postgres_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database (asyncpg URL), for PostgreSQL-only tests."""
    yield from private_postgres(postgres_url)
