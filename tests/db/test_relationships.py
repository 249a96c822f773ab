"""Relationships in async code: lazy loads name the fix; debug mode reports N+1 patterns."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from celeris import App, Depends
from celeris.db import AsyncSession, Database, LazyLoadError, Reader
from celeris.testing import AsyncTestClient

from .db_models import Author, Book


async def _author_with_books(database: Database) -> None:
    async with database.scope() as session:
        author = Author(name="Le Guin", books=[Book(title="Earthsea"), Book(title="Lathe")])
        session.add(author)


async def test_an_implicit_lazy_load_raises_at_once_naming_the_fix(database: Database) -> None:
    await _author_with_books(database)
    async with database.scope() as session:
        author = await session.scalar(sa.select(Author))
        assert author is not None
        with pytest.raises(LazyLoadError) as info:
            _ = author.books
    message = str(info.value)
    assert "Author.books was not loaded" in message
    assert "selectinload(Author.books)" in message
    assert "awaitable_attrs.books" in message


async def test_loaded_and_awaited_relationships_work(database: Database) -> None:
    await _author_with_books(database)
    async with database.scope() as session:
        query = sa.select(Author).options(selectinload(Author.books))
        author = await session.scalar(query)
        assert author is not None
        assert sorted(b.title for b in author.books) == ["Earthsea", "Lathe"]
    async with database.scope() as session:
        author = await session.scalar(sa.select(Author))
        assert author is not None
        assert len(await author.awaitable_attrs.books) == 2
        book = await session.scalar(sa.select(Book).where(Book.title == "Lathe"))
        assert book is not None
        await session.refresh(book, ["author"])
        assert book.author is author  # many-to-one from the identity map: no SQL


async def test_debug_mode_reports_n_plus_one_patterns_per_request(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = App(debug=True)
    db = Database(database_url, app=app, root_path=tmp_path, create_all=True)
    titles = sa.select(Book.title).where(Book.author_id == sa.bindparam("author"))

    @app.get("/n-plus-one")
    async def n_plus_one(session: AsyncSession = Depends(db.session)) -> int:
        authors = (await session.scalars(sa.select(Author))).all()
        for author in authors:  # one query per author: the N+1 pattern
            await session.scalars(sa.select(Book).where(Book.author_id == author.id))
        return len(authors)

    @app.get("/reader")
    async def by_reader(reader: Reader = Depends(db.reader)) -> int:
        return sum([len(await reader.fetch_all(titles, author=i)) for i in range(6)])

    @app.get("/one-query")
    async def one_query(session: AsyncSession = Depends(db.session)) -> int:
        query = sa.select(Author).options(selectinload(Author.books))
        return len((await session.scalars(query)).all())

    async with AsyncTestClient(app) as client:
        async with db.scope() as session:
            session.add_all([Author(name=f"a{i}") for i in range(6)])
        with caplog.at_level(logging.WARNING, logger="celeris.db"):
            assert (await client.get("/one-query")).status_code == 200
            assert "N+1" not in caplog.text
            assert (await client.get("/n-plus-one")).status_code == 200
            assert "N+1 query pattern: one request ran 6 times: SELECT" in caplog.text
            assert "selectinload" in caplog.text
            caplog.clear()
            assert (await client.get("/reader")).status_code == 200
            assert "ran 6 times" in caplog.text


async def test_statements_are_not_counted_outside_debug_mode(
    database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()
    db = Database(database_url, app=app, root_path=tmp_path, create_all=True)

    @app.get("/n-plus-one")
    async def n_plus_one(session: AsyncSession = Depends(db.session)) -> None:
        for i in range(6):
            await session.scalars(sa.select(Book).where(Book.author_id == i))

    async with AsyncTestClient(app) as client:
        with caplog.at_level(logging.WARNING, logger="celeris.db"):
            assert (await client.get("/n-plus-one")).status_code == 204
    assert not db.debug
    assert "N+1" not in caplog.text
