"""Tests for celeris.db.reader: compiled selects decoded into read schemas, on both backends."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import asyncpg
import msgspec
import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from celeris import App, Depends
from celeris.db import Database, PoolOptions, Reader, schemas_for
from celeris.db.errors import Fault, classify
from celeris.testing import AsyncTestClient

from .db_models import Author, Book, Tag

BOOK_BY_ID = sa.select(Book).where(Book.id == sa.bindparam("id"))
LONG_BOOKS = sa.select(Book).where(Book.pages > 150).order_by(Book.id)
BookRead = schemas_for(Book).read


class Title(msgspec.Struct):
    id: int
    title: str


async def _seed(database: Database) -> None:
    async with database.scope() as session:
        author = Author(name="Le Guin")
        session.add(author)
        await session.flush()
        session.add_all(
            [
                Book(
                    title="Earthsea", pages=200, author_id=author.id, published=dt.date(1968, 1, 1)
                ),
                Book(title="Lathe", pages=100, rating=4.5),
                Book(title="Dispossessed", pages=400),
            ]
        )


async def test_rows_decode_into_the_models_read_schema(database: Database) -> None:
    await _seed(database)
    async with database.scope() as session:
        expected = [
            msgspec.convert(b, BookRead, from_attributes=True)
            for b in await session.scalars(
                sa.select(Book).where(Book.pages > 150).order_by(Book.id)
            )
        ]
    assert await database.fetch_all(LONG_BOOKS) == expected
    first = await database.fetch_one(BOOK_BY_ID, id=expected[0].id)
    assert first == expected[0]
    assert isinstance(first, BookRead)
    assert first.published == dt.date(1968, 1, 1)
    assert await database.fetch_one(BOOK_BY_ID, id=424242) is None


async def test_a_smaller_schema_reads_only_its_columns(database: Database) -> None:
    await _seed(database)
    titles = await database.fetch_all(sa.select(Book).order_by(Book.title), Title)
    assert [t.title for t in titles] == ["Dispossessed", "Earthsea", "Lathe"]
    with pytest.raises(TypeError, match="not a column"):
        await database.fetch_all(sa.select(Author), Title)


async def test_selects_of_columns_and_in_lists(database: Database) -> None:
    await _seed(database)
    pairs = await database.fetch_all(sa.select(Book.title, Book.pages).order_by(Book.pages))
    assert pairs == [("Lathe", 100), ("Earthsea", 200), ("Dispossessed", 400)]
    some = sa.select(Book).where(Book.title.in_(sa.bindparam("titles", expanding=True)))
    found = await database.fetch_all(some.order_by(Book.id), Title, titles=["Lathe", "Earthsea"])
    assert sorted(t.title for t in found) == ["Earthsea", "Lathe"]
    with pytest.raises(sa_exc.SQLAlchemyError, match="required for bind parameter 'id'"):
        await database.fetch_one(BOOK_BY_ID)


async def test_datetimes_are_aware_on_the_fast_path(database: Database) -> None:
    async with database.scope() as session:
        session.add(Tag(label="x", created=dt.datetime(2026, 1, 2, 3, 4, 5)))
    tag = await database.fetch_one(sa.select(Tag))
    assert tag is not None
    assert tag.created == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


async def test_the_plan_is_compiled_once_per_statement(database: Database) -> None:
    await _seed(database)
    await database.fetch_one(BOOK_BY_ID, id=1)
    plans = database._plans
    assert plans is not None
    plan = plans.get(BOOK_BY_ID, None)
    await database.fetch_one(BOOK_BY_ID, id=2)
    assert plans.get(BOOK_BY_ID, None) is plan


async def test_reader_dependency_returns_its_connection(database_url: str, tmp_path: Path) -> None:
    app = App()
    db = Database(database_url, app=app, root_path=tmp_path, create_all=True)

    @app.get("/books/{book_id}")
    async def book(book_id: int, reader: Reader = Depends(db.reader)) -> BookRead:
        found = await reader.fetch_one(BOOK_BY_ID, id=book_id)
        again = await reader.fetch_one(BOOK_BY_ID, id=book_id)  # same connection
        assert found == again
        return found

    async with AsyncTestClient(app) as client:
        await _seed(db)
        response = await client.get("/books/1")
        assert response.status_code == 200
        assert response.json()["title"] == "Earthsea"
        assert db.engine.sync_engine.pool.checkedout() == 0


async def test_reader_for_a_session_shares_its_transaction(
    private_postgres_url: str, tmp_path: Path
) -> None:
    db = Database(private_postgres_url, root_path=tmp_path, create_all=True)
    try:
        await db.connect()
        await _seed(db)
        rename = (
            sa.update(Book).where(Book.id == sa.bindparam("bid")).values(title=sa.bindparam("t"))
        )
        async with db.scope() as session:
            reader = await db.reader_for(session)
            session.add(Author(name="Butler"))
            await session.flush()  # the reader sees the session's own writes
            assert await reader.fetch_all(sa.select(Author.name).order_by(Author.name)) == [
                ("Butler",),
                ("Le Guin",),
            ]
            await reader.execute_many(rename, [{"bid": 1, "t": "A Wizard"}, {"bid": 2, "t": "B"}])
            await session.rollback()  # the bulk write was part of the transaction
        assert (await db.fetch_one(BOOK_BY_ID, id=1)).title == "Earthsea"
        async with db.scope() as session:
            reader = await db.reader_for(session)
            await reader.execute_many(rename, [{"bid": 1, "t": "A Wizard"}])
        assert (await db.fetch_one(BOOK_BY_ID, id=1)).title == "A Wizard"
        assert db.engine.sync_engine.pool.checkedout() == 0
    finally:
        await db.disconnect()


async def test_faults_on_the_fast_path_classify_like_the_orms(
    private_postgres_url: str, tmp_path: Path
) -> None:
    db = Database(
        private_postgres_url,
        root_path=tmp_path,
        create_all=True,
        pool=PoolOptions(size=1, max_overflow=0, statement_timeout=0.2),
    )
    try:
        await db.connect()
        await _seed(db)
        insert = sa.insert(Author).values(name=sa.bindparam("n"))
        reader = db._reader()
        try:
            with pytest.raises(sa_exc.IntegrityError) as unique:
                await reader.execute_many(insert, [{"n": "Le Guin"}])
            assert classify(unique.value) is Fault.UNIQUE
            with pytest.raises(sa_exc.DBAPIError) as slow:
                await reader.fetch_one(sa.select(sa.func.pg_sleep(1)))
            assert classify(slow.value) is Fault.TIMEOUT
            pid = (await reader.fetch_one(sa.select(sa.func.pg_backend_pid())))[0]
        finally:
            await reader.close()
        admin = await asyncpg.connect(private_postgres_url.replace("+asyncpg", "", 1))
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        with pytest.raises(Exception) as lost:
            await db.fetch_one(BOOK_BY_ID, id=1)
        assert classify(lost.value) is Fault.UNAVAILABLE
        assert (await db.fetch_one(BOOK_BY_ID, id=1)).title == "Earthsea"  # recovered
    finally:
        await db.disconnect()


async def test_a_cancelled_read_never_returns_a_busy_connection(
    private_postgres_url: str, tmp_path: Path
) -> None:
    db = Database(
        private_postgres_url,
        root_path=tmp_path,
        create_all=True,
        pool=PoolOptions(size=1, max_overflow=0),
    )
    try:
        await db.connect()
        await _seed(db)
        slow = sa.select(sa.func.pg_sleep(2))
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(db.fetch_one(slow), 0.1)  # a client that went away
        assert db.engine.sync_engine.pool.checkedout() == 0
        found = await asyncio.wait_for(db.fetch_one(BOOK_BY_ID, id=1), 1.5)
        assert found is not None
        assert found.title == "Earthsea"
    finally:
        await db.disconnect()
