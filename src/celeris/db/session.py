"""Session scopes: one ``AsyncSession`` per unit of work, committed on success.

``Database.session`` (the request-scoped dependency) and ``Database.scope()`` (for scripts,
jobs and tests) are both built on ``session_scope``. Their sessions turn an implicit lazy
load in async code (which SQLAlchemy reports as a puzzling ``MissingGreenlet``) into a
``LazyLoadError`` that names the relationship and the fix.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.util.concurrency import in_greenlet

from celeris.db.errors import DatabaseError

__all__ = ["CelerisSession", "LazyLoadError", "make_sessionmaker", "session_scope"]


class LazyLoadError(DatabaseError):
    """A relationship was read in async code without having been loaded."""


class CelerisSession(Session):
    """The synchronous session behind celeris's ``AsyncSession``s."""


@event.listens_for(CelerisSession, "do_orm_execute")
def _refuse_implicit_lazy_load(state: ORMExecuteState) -> None:
    """Raise ``LazyLoadError`` for a lazy load attempted outside SQLAlchemy's greenlet."""
    if not state.is_select or in_greenlet() or state.lazy_loaded_from is None:
        return  # NOTE: awaited loads (awaitable_attrs, refresh, run_sync) run in the greenlet
    path: Any = state.loader_strategy_path
    relationship = getattr(path, "prop", None)
    name = str(relationship) if relationship is not None else "a relationship"
    owner, _, attribute = name.partition(".")
    instance = owner.lower() or "obj"
    raise LazyLoadError(
        f"{name} was not loaded, and async code cannot load it implicitly. Load it with the "
        f"query: select({owner}).options(selectinload({name})), or await "
        f"{instance}.awaitable_attrs.{attribute or 'name'}, or await "
        f"session.refresh({instance}, [{attribute!r}])."
    )


def make_sessionmaker(bind: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session factory celeris uses for ``bind`` (an ``AsyncEngine``)."""
    # NOTE: expire_on_commit=False so objects returned by a handler can still be serialised
    # after the dependency has committed (no lazy refresh on a closed session).
    return async_sessionmaker(
        bind=bind,
        expire_on_commit=False,
        class_=AsyncSession,
        sync_session_class=CelerisSession,
    )


async def _finish(session: AsyncSession) -> None:
    """Commit the unit of work if it began a transaction."""
    # PERF: a session that never touched the database holds no connection; committing it
    # would be a no-op, so skip the call. Otherwise COMMIT costs the same single round trip
    # as the rollback the pool would issue on return.
    if session.in_transaction():
        await session.commit()


@asynccontextmanager
async def session_scope(factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """Yield a session; commit when the block succeeds, roll back when it raises."""
    session = factory()
    try:
        yield session
        await _finish(session)
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()
