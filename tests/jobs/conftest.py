"""Fixtures: one Jobs per test on each backend (memory, SQLite, PostgreSQL in its own schema)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from celeris.db import Database, PoolOptions
from celeris.jobs import Jobs

BACKENDS = ["memory", "sqlite", "postgresql"]


async def make_database(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Database | None:
    """Return a Database for ``kind`` (None for memory); PostgreSQL gets a fresh schema."""
    if kind == "memory":
        return None
    if kind == "sqlite":
        return Database(f"sqlite:///{tmp_path / 'jobs.db'}", root_path=tmp_path)
    url = request.getfixturevalue("postgres_url")
    schema = f"jobs_{uuid.uuid4().hex[:10]}"
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


def _run(coroutine: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coroutine)


@pytest.fixture(params=BACKENDS)
def backend_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def database(
    backend_kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Database | None]:
    db = await make_database(backend_kind, tmp_path, request)
    yield db
    if db is not None:
        await db.disconnect()


@pytest.fixture
def make_jobs(database: Database | None, tmp_path: Path):
    """Return a factory of Jobs on the test's backend (fast polling and short leases)."""

    def make(**options: object) -> Jobs:
        options.setdefault("poll", 0.02)
        options.setdefault("lease", 2.0)
        options.setdefault("embedded_worker", False)
        if database is None:
            return Jobs("memory://", root_path=tmp_path, **options)  # type: ignore[arg-type]
        return Jobs(db=database, root_path=tmp_path, **options)  # type: ignore[arg-type]

    return make


NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture(params=["amqp", "redis", "nats"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """A real broker: RabbitMQ, Redis (streams) or NATS (JetStream)."""
    if request.param == "amqp":
        return str(request.getfixturevalue("rabbitmq_url"))
    if request.param == "redis":
        return str(request.getfixturevalue("redis_url"))
    from tests.conftest import require_service

    return require_service("NATS", NATS_URL, 4222)


async def delete_queue(url: str, queue: str) -> None:
    """Remove the broker-side queue / stream a test created."""
    name = f"celeris.jobs.{queue}"
    if url.startswith("amqp"):
        import aio_pika

        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(name)
    elif url.startswith("redis"):
        import redis.asyncio as redis

        client = redis.from_url(url)
        await client.delete(name)
        await client.aclose()
    else:
        import nats

        client = await nats.connect(url)
        await client.jetstream().delete_stream(name.replace(".", "_"))
        await client.close()
