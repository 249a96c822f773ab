"""Tests for celeris.db.pagination: limit/offset and cursor pages on both backends."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from celeris.core.app import App
from celeris.core.params import Depends
from celeris.db import AsyncSession, OffsetPage, schemas_for, to_read_many
from celeris.db.database import Database
from celeris.db.pagination import (
    InvalidCursor,
    Ordering,
    decode_cursor,
    encode_cursor,
    paginate,
    paginate_cursor,
)
from celeris.testing import AsyncTestClient

from .db_models import Book

BookRead = schemas_for(Book).read


async def _books(database: Database, count: int) -> None:
    async with database.scope() as session:
        session.add_all(Book(title=f"book {i:03}", pages=i % 7) for i in range(count))


async def test_offset_pages_cover_everything_once(database: Database) -> None:
    await _books(database, 23)
    seen: list[int] = []
    async with database.scope() as session:
        statement = sa.select(Book).order_by(Book.id)
        for offset in range(0, 30, 10):
            items, total = await paginate(session, statement, limit=10, offset=offset)
            assert total == 23
            seen.extend(book.id for book in items)
        small, total = await paginate(session, statement.where(Book.pages == 0), limit=10)
        assert total == len(small) == 4
        _, no_count = await paginate(session, statement, limit=5, count=False)
        assert no_count is None
    assert sorted(seen) == seen
    assert len(set(seen)) == 23


async def test_paginate_rejects_bad_bounds(database: Database) -> None:
    async with database.scope() as session:
        with pytest.raises(ValueError, match="limit"):
            await paginate(session, sa.select(Book), limit=0)


@pytest.mark.parametrize("descending", [False, True])
async def test_cursor_pages_with_mixed_ordering(database: Database, descending: bool) -> None:
    await _books(database, 25)
    ordering = [Ordering(Book.pages, descending=descending), Ordering(Book.id)]
    seen: list[tuple[int, int]] = []
    cursor: str | None = None
    async with database.scope() as session:
        for _ in range(10):
            items, cursor = await paginate_cursor(
                session, sa.select(Book), ordering=ordering, limit=4, cursor=cursor
            )
            seen.extend((b.pages, b.id) for b in items)
            if cursor is None:
                break
    assert len(seen) == 25
    assert len(set(seen)) == 25
    expected = sorted(seen, key=lambda row: (-row[0] if descending else row[0], row[1]))
    assert seen == expected


async def test_forged_cursor_is_invalid(database: Database) -> None:
    ordering = [Ordering(Book.id)]
    async with database.scope() as session:
        for forged in ["%%%", "bm90IGpzb24", encode_cursor(["text"]), encode_cursor([1, 2])]:
            with pytest.raises(InvalidCursor):
                await paginate_cursor(
                    session, sa.select(Book), ordering=ordering, limit=2, cursor=forged
                )


@given(st.lists(st.integers() | st.text() | st.booleans(), min_size=1, max_size=3))
def test_cursor_roundtrip(values: list[object]) -> None:
    cursor = encode_cursor(values)
    assert cursor.isascii()
    assert "=" not in cursor

    class Column:
        def __init__(self, value: object) -> None:
            self.type = (
                sa.Integer()
                if type(value) is int
                else (sa.Boolean() if isinstance(value, bool) else sa.String())
            )

    ordering = [Ordering(Column(v)) for v in values]
    assert list(decode_cursor(cursor, ordering)) == values


@given(st.text())
def test_arbitrary_text_never_crashes_decoding(text: str) -> None:
    try:
        decode_cursor(text, [Ordering(Book.id), Ordering(Book.title)])
    except InvalidCursor:
        pass


async def test_offset_page_as_a_handler_return_type(database_url: str, tmp_path) -> None:
    app = App()
    db = Database(database_url, app=app, root_path=tmp_path, create_all=True)

    @app.get("/books")
    async def books(
        limit: int = 2, session: AsyncSession = Depends(db.read_session)
    ) -> OffsetPage[BookRead]:
        rows, total = await paginate(session, sa.select(Book).order_by(Book.id), limit=limit)
        return OffsetPage(items=to_read_many(rows, BookRead), total=total, limit=limit, offset=0)

    async with AsyncTestClient(app) as client:
        await _books(db, 3)
        page = (await client.get("/books")).json()
    assert page["total"] == 3
    assert [b["title"] for b in page["items"]] == ["book 000", "book 001"]
