"""Tests for celeris.db.pool: first come, first served under contention, on real databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from celeris import App
from celeris.db import Database, PoolOptions
from celeris.db.pool import FairPool, pool_sizes, worker_count
from celeris.testing import AsyncTestClient


def _database(url: str, tmp_path: Path, size: int, timeout: float = 10.0) -> Database:
    return Database(
        url, root_path=tmp_path, pool=PoolOptions(size=size, max_overflow=0, timeout=timeout)
    )


async def _query(db: Database) -> None:
    async with db.engine.connect() as connection:
        await connection.execute(sa.text("SELECT 1"))


async def test_the_engine_runs_on_the_fair_pool(database_url: str, tmp_path: Path) -> None:
    db = _database(database_url, tmp_path, 2)
    try:
        await _query(db)
        assert isinstance(db.engine.sync_engine.pool, FairPool)
    finally:
        await db.disconnect()


async def test_many_concurrent_acquirers_are_served_in_arrival_order(
    postgres_url: str, tmp_path: Path
) -> None:
    db = _database(postgres_url, tmp_path, 4)
    arrived: list[int] = []
    served: list[int] = []

    async def request(index: int) -> None:
        await asyncio.sleep(index * 0.002)  # arrivals spread out while the pool is busy
        arrived.append(index)
        async with db.engine.connect() as connection:
            served.append(index)
            await connection.execute(sa.text("SELECT pg_sleep(0.01)"))

    try:
        await asyncio.gather(*(_query(db) for _ in range(4)))
        await asyncio.gather(*(request(i) for i in range(80)))
    finally:
        await db.disconnect()
    assert served == arrived


async def test_the_wait_is_bounded_and_waiters_are_not_lost(
    database_url: str, tmp_path: Path
) -> None:
    db = _database(database_url, tmp_path, 1, timeout=0.2)
    try:
        async with db.engine.connect() as held:
            await held.execute(sa.text("SELECT 1"))
            with pytest.raises(sa_exc.TimeoutError):
                await _query(db)
            # a waiter cancelled while queued gives up its place without taking a connection
            cancelled = asyncio.ensure_future(_query(db))
            await asyncio.sleep(0.05)
            assert db.engine.sync_engine.pool.waiting == 1  # type: ignore[attr-defined]
            cancelled.cancel()
            await asyncio.sleep(0)
        await asyncio.wait_for(_query(db), 1)  # the connection came back to the pool
        assert db.engine.sync_engine.pool.checkedout() == 0
    finally:
        await db.disconnect()


def test_pool_sizes_share_the_connection_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    assert pool_sizes(80, 1) == (10, 10)
    assert pool_sizes(80, 4) == (10, 10)
    assert pool_sizes(80, 8) == (5, 5)
    assert pool_sizes(80, 16) == (2, 3)
    assert pool_sizes(80, 200) == (1, 0)
    monkeypatch.delenv("CELERIS_WORKERS", raising=False)
    monkeypatch.setenv("WEB_CONCURRENCY", "8")
    assert worker_count() == 8
    assert PoolOptions().sizes() == (5, 5)
    assert PoolOptions(size=3).sizes() == (3, 5)
    monkeypatch.setenv("CELERIS_WORKERS", "2")
    assert PoolOptions(max_connections=20).sizes() == (5, 5)


async def test_a_request_that_waits_too_long_answers_503_with_retry_after(
    database_url: str, tmp_path: Path
) -> None:
    app = App()
    db = Database(
        database_url,
        app=app,
        root_path=tmp_path,
        retry_after=3,
        pool=PoolOptions(size=1, max_overflow=0, timeout=0.2),
    )

    @app.get("/one")
    async def one() -> list[tuple[int]]:
        return await db.fetch_all(sa.select(sa.literal(1)))

    async with AsyncTestClient(app) as client:
        async with db.engine.connect() as held:  # every connection is busy
            await held.execute(sa.text("SELECT 1"))
            busy = await client.get("/one")
        free = await client.get("/one")
    assert busy.status_code == 503
    assert busy.headers["retry-after"] == "3"
    assert "waiting for the database" in busy.json()["detail"]
    assert (free.status_code, free.json()) == (200, [[1]])
