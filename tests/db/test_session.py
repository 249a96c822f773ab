"""Tests for celeris.db.session: the unit-of-work scope."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from celeris.db.database import Database
from celeris.db.session import make_sessionmaker, session_scope

from .db_models import Author


async def test_objects_stay_readable_after_commit(database: Database) -> None:
    factory = make_sessionmaker(database.engine)
    async with session_scope(factory) as session:
        author = Author(name="Morrison")
        session.add(author)
    # expire_on_commit=False: no lazy refresh (which would need a live session) is triggered
    assert author.name == "Morrison"
    assert author.id is not None


async def test_untouched_scope_needs_no_connection(database: Database) -> None:
    factory = make_sessionmaker(database.engine)
    checked_out = database.engine.pool.checkedout()
    async with session_scope(factory) as session:
        assert not session.in_transaction()
    assert database.engine.pool.checkedout() == checked_out


async def test_core_statements_are_committed_too(database: Database) -> None:
    factory = make_sessionmaker(database.engine)
    async with session_scope(factory) as session:
        await session.execute(sa.insert(Author).values(name="Plain SQL"))
    async with session_scope(factory) as session:
        assert await session.scalar(sa.select(Author.name)) == "Plain SQL"


class Abort(BaseException):
    """Like CancelledError: not an Exception, must still roll back."""


async def test_cancellation_rolls_back(database: Database) -> None:
    factory = make_sessionmaker(database.engine)

    async def cancelled() -> None:
        async with session_scope(factory) as session:
            session.add(Author(name="Cancelled"))
            await session.flush()
            raise Abort

    with pytest.raises(Abort):
        await cancelled()
    async with session_scope(factory) as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Author)) == 0
