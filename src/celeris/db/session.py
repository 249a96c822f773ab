"""Session scopes: one ``AsyncSession`` per unit of work, committed on success.

``Database.session`` (the request-scoped dependency) and ``Database.scope()`` (for scripts,
jobs and tests) are both built on ``session_scope``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

__all__ = ["make_sessionmaker", "session_scope"]


def make_sessionmaker(bind: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return the session factory celeris uses for ``bind`` (an ``AsyncEngine``)."""
    # NOTE: expire_on_commit=False so objects returned by a handler can still be serialised
    # after the dependency has committed (no lazy refresh on a closed session).
    return async_sessionmaker(bind=bind, expire_on_commit=False, class_=AsyncSession)


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
