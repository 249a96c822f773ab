"""An asyncpg pool created lazily on first use, shared by the async contenders."""

from __future__ import annotations

import asyncio

import asyncpg

from bench.apps.sql import (
    ADDITIONAL_FORTUNE,
    DATABASE_URL,
    POOL_SIZE,
    SELECT_FORTUNES,
    SELECT_WORLD,
    UPDATE_WORLD,
    distinct_ids,
    random_id,
)

_pool: asyncpg.Pool | None = None
_lock: asyncio.Lock | None = None


async def open_pool() -> None:
    """Create the pool now (from a startup hook); later calls to ``pool()`` reuse it."""
    await pool()


async def close_pool() -> None:
    """Close the pool (from a shutdown hook)."""
    global _pool
    if _pool is not None:
        await _pool.close()
        _pool = None


async def pool() -> asyncpg.Pool:
    """Return the process's pool, creating it on the first call."""
    global _pool, _lock
    if _pool is not None:
        return _pool
    if _lock is None:
        _lock = asyncio.Lock()
    async with _lock:
        if _pool is None:
            _pool = await asyncpg.create_pool(DATABASE_URL, min_size=POOL_SIZE, max_size=POOL_SIZE)
    return _pool


async def single_query() -> dict[str, int]:
    """Fetch one random world row."""
    async with (await pool()).acquire() as conn:
        row = await conn.fetchrow(SELECT_WORLD, random_id())
    return {"id": row[0], "randomNumber": row[1]}


async def multiple_queries(count: int) -> list[dict[str, int]]:
    """Fetch ``count`` random world rows, one query each."""
    async with (await pool()).acquire() as conn:
        stmt = await conn.prepare(SELECT_WORLD)
        worlds = []
        for _ in range(count):
            row = await stmt.fetchrow(random_id())
            worlds.append({"id": row[0], "randomNumber": row[1]})
    return worlds


async def fortunes() -> list[tuple[int, str]]:
    """Fetch all fortunes, add one, sort by message."""
    async with (await pool()).acquire() as conn:
        rows = [tuple(r) for r in await conn.fetch(SELECT_FORTUNES)]
    rows.append((0, ADDITIONAL_FORTUNE))
    rows.sort(key=lambda r: r[1])
    return rows


async def updates(count: int) -> list[dict[str, int]]:
    """Read ``count`` random rows, give each a new random number, write them back."""
    ids = distinct_ids(count)
    async with (await pool()).acquire() as conn:
        stmt = await conn.prepare(SELECT_WORLD)
        worlds = []
        for world_id in ids:
            await stmt.fetchrow(world_id)
            worlds.append({"id": world_id, "randomNumber": random_id()})
        await conn.executemany(UPDATE_WORLD, [(w["id"], w["randomNumber"]) for w in worlds])
    return worlds
