"""``create_tables``: batteries' own tables, created by workers that start together."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa

from celeris.db import Database, create_tables


def _metadata() -> sa.MetaData:
    metadata = sa.MetaData()
    for n in range(6):
        sa.Table(f"battery_t{n}", metadata, sa.Column("id", sa.Integer, primary_key=True))
    return metadata


async def test_workers_starting_together_create_the_tables_once(private_postgres_url: str) -> None:
    # Six engines stand for six worker processes: without the lock, concurrent CREATE TABLE of
    # one name fails in PostgreSQL's catalog (a unique violation on pg_type).
    metadata = _metadata()

    async def worker() -> None:
        db = Database(private_postgres_url)
        await db.connect()
        try:
            async with db.engine.begin() as connection:
                await create_tables(connection, metadata)
        finally:
            await db.disconnect()

    await asyncio.gather(*(worker() for _ in range(6)))
    db = Database(private_postgres_url)
    await db.connect()
    try:
        async with db.engine.connect() as connection:
            names = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        assert sorted(n for n in names if n.startswith("battery_")) == [
            f"battery_t{n}" for n in range(6)
        ]
    finally:
        await db.disconnect()


async def test_only_the_named_tables_are_created(tmp_path: Path) -> None:
    metadata = _metadata()
    db = Database(f"sqlite:///{tmp_path}/t.db")
    await db.connect()
    try:
        async with db.engine.begin() as connection:
            await create_tables(connection, metadata, [metadata.tables["battery_t1"]])
            await create_tables(
                connection, metadata, [metadata.tables["battery_t1"]]
            )  # again: no-op
        async with db.engine.connect() as connection:
            names = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
        assert names == ["battery_t1"]
    finally:
        await db.disconnect()
