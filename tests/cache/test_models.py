"""Model-aware invalidation: a commit drops the values tagged with the rows and tables it changed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import String, delete, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from celeris.cache import Cache
from celeris.cache.models import invalidate_on_commit, model_tag


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "cache_note"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))


class WatchedSession(Session):
    """Only these sessions are watched, so the listeners never touch other tests."""


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'notes.db'}")
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield async_sessionmaker(engine, sync_session_class=WatchedSession, expire_on_commit=False)
    await engine.dispose()


@pytest.fixture
def watching(cache: Cache) -> Iterator[None]:
    stop = invalidate_on_commit(cache, WatchedSession)
    yield
    stop()


def test_model_tags() -> None:
    assert model_tag(Note) == "table:cache_note"
    assert model_tag(Note, 3) == "table:cache_note:3"
    assert model_tag(Note, (1, "a")) == "table:cache_note:1,a"


async def test_commit_invalidates_rows_and_tables(
    cache: Cache, sessions: async_sessionmaker[AsyncSession], watching: None
) -> None:
    async with sessions() as session:
        session.add_all([Note(id=1, title="one"), Note(id=2, title="two")])
        await session.commit()

    await cache.set("note:1", "one", tags=[model_tag(Note, 1)])
    await cache.set("note:2", "two", tags=[model_tag(Note, 2)])
    await cache.set("notes", ["one", "two"], tags=[model_tag(Note)])

    async with sessions() as session:
        note = await session.get(Note, 1)
        assert note is not None
        note.title = "uno"
        await session.flush()
        assert await cache.get("note:1") == "one"  # not before the commit
        await session.commit()
    assert await cache.get("note:1") is None  # invalidated by the time commit returned
    assert await cache.get("notes") is None
    assert await cache.get("note:2") == "two"


async def test_rollback_invalidates_nothing(
    cache: Cache, sessions: async_sessionmaker[AsyncSession], watching: None
) -> None:
    await cache.set("notes", [], tags=[model_tag(Note)])
    async with sessions() as session:
        session.add(Note(id=5, title="five"))
        await session.flush()
        await session.rollback()
        await session.commit()  # an empty transaction: nothing pending
    assert await cache.get("notes") == []


async def test_bulk_statements_invalidate_the_table(
    cache: Cache, sessions: async_sessionmaker[AsyncSession], watching: None
) -> None:
    async with sessions() as session:
        session.add(Note(id=1, title="one"))
        await session.commit()
    for statement in (update(Note).values(title="x"), delete(Note)):
        await cache.set("notes", ["x"], tags=[model_tag(Note)])
        async with sessions() as session:
            await session.execute(statement)
            await session.commit()
        assert await cache.get("notes") is None


async def test_one_workers_commit_reaches_another(
    redis_url: str, namespace: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with (
        Cache(url=redis_url, namespace=namespace) as worker_a,
        Cache(url=redis_url, namespace=namespace) as worker_b,
    ):
        stop = invalidate_on_commit(worker_a, WatchedSession)
        try:
            await worker_b.set("note:9", "nine", tags=[model_tag(Note, 9)])
            async with sessions() as session:
                session.add(Note(id=9, title="nine"))
                await session.commit()
            assert await worker_b.get("note:9") is None
        finally:
            stop()
            await worker_a.clear()
