"""``DatabaseStore``: sessions in a ``celeris.db`` table (``url="db"``)."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from celeris.db import Database, Fault, Model, classify
from celeris.sessions.base import StoreUnavailable

__all__ = ["DatabaseStore", "session_table"]

#: The sessions table, on the application models' metadata (so Alembic autogenerate sees it).
session_table = sa.Table(
    "celeris_session",
    Model.metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("expires", sa.Float, nullable=False, index=True),
)


class DatabaseStore:
    """Keep each session as one row: id, JSON data, expiry (seconds since the epoch)."""

    def __init__(self, db: Database, *, create_table: bool = True) -> None:
        self.db = db
        self.create_table = create_table

    def _unavailable(self, exc: BaseException) -> StoreUnavailable | None:
        fault = classify(exc)
        if fault in (Fault.UNAVAILABLE, Fault.TIMEOUT):
            return StoreUnavailable(f"database session store: {exc}")
        return None

    async def open(self) -> None:
        """Create the table when missing (its migration for deployments: see docs/security.md)."""
        if not self.create_table:
            return
        try:
            async with self.db.engine.begin() as connection:
                await connection.run_sync(session_table.create, checkfirst=True)
        except Exception as exc:
            down = self._unavailable(exc)
            if down is None:
                raise
            raise down from exc

    async def close(self) -> None:
        """The Database closes its own engine."""

    async def _run(self, statement: Any) -> Any:
        try:
            async with self.db.engine.begin() as connection:
                return await connection.execute(statement)
        except Exception as exc:
            down = self._unavailable(exc)
            if down is None:
                raise
            raise down from exc

    async def load(self, session_id: str) -> dict[str, Any] | None:
        """Return the session's data unless it is unknown or expired."""
        result = await self._run(
            sa.select(session_table.c.data).where(
                session_table.c.id == session_id, session_table.c.expires > time.time()
            )
        )
        blob = result.scalar_one_or_none()
        if blob is None:
            return None
        data: dict[str, Any] = msgspec.json.decode(blob)
        return data

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        """Insert or update the row (an upsert on both SQLite and PostgreSQL)."""
        values = {
            "id": session_id,
            "data": msgspec.json.encode(data),
            "expires": time.time() + max_age,
        }
        insert = pg_insert if self.db.dialect == "postgresql" else sqlite_insert
        statement = insert(session_table).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=[session_table.c.id],
            set_={"data": statement.excluded.data, "expires": statement.excluded.expires},
        )
        await self._run(statement)

    async def delete(self, session_id: str) -> None:
        """Delete the row."""
        await self._run(sa.delete(session_table).where(session_table.c.id == session_id))

    async def purge(self) -> int:
        """Delete expired rows; return how many (run it from a schedule)."""
        result = await self._run(
            sa.delete(session_table).where(session_table.c.expires <= time.time())
        )
        return int(result.rowcount or 0)

    async def ping(self) -> None:
        """Check the database answers."""
        try:
            await self.db.ping()
        except Exception as exc:
            down = self._unavailable(exc)
            if down is None:
                raise
            raise down from exc
