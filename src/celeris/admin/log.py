"""The admin's own tables: the audit log (who changed what, before and after) and bulk tasks.

Declared on a ``MetaData`` of their own, as the jobs battery declares its tables, and created
at start-up when missing.
"""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import uuid
from typing import Any

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from celeris.db import DateTime

__all__ = ["METADATA", "log_table", "snapshot", "task_table", "write_log"]

METADATA = MetaData()

log_table = Table(
    "celeris_admin_log",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created", DateTime(), nullable=False),
    Column("user_id", Integer),
    Column("user", String(254), nullable=False, default=""),
    Column("action", String(64), nullable=False),  # add change delete action:<name>
    Column("model", String(100), nullable=False),
    Column("object_id", String(100)),
    Column("object_repr", String(200), nullable=False, default=""),
    Column("before", Text),  # JSON object of column values, or null
    Column("after", Text),
)
Index("ix_celeris_admin_log_object", log_table.c.model, log_table.c.object_id, log_table.c.id)
Index("ix_celeris_admin_log_created", log_table.c.created)

task_table = Table(
    "celeris_admin_task",
    METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(32)),
    Column("model", String(100), nullable=False),
    Column("action", String(64), nullable=False),
    Column("user_id", Integer),
    Column("total", Integer, nullable=False, default=0),
    Column("done", Integer, nullable=False, default=0),
    Column("state", String(16), nullable=False, default="queued"),  # queued running done failed
    Column("error", Text),
    Column("query", Text, nullable=False, default="{}"),  # the selection, as JSON
    Column("created", DateTime(), nullable=False),
    Column("finished", DateTime()),
)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return str(value)


def snapshot(obj: Any, names: list[str]) -> dict[str, Any]:
    """Return the JSON-ready column values of ``obj`` (the log's before/after)."""
    state = obj.__dict__
    return {name: _jsonable(state.get(name)) for name in names if name in state}


async def write_log(
    db: AsyncSession | AsyncConnection,
    *,
    user: Any,
    action: str,
    model: str,
    object_id: Any,
    object_repr: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Add one entry to the audit log (in the caller's transaction)."""
    await db.execute(
        insert(log_table).values(
            created=dt.datetime.now(dt.UTC),
            user_id=getattr(user, "id", None),
            user=str(getattr(user, "email", "") or "")[:254],
            action=action[:64],
            model=model,
            object_id=None if object_id is None else str(object_id)[:100],
            object_repr=object_repr[:200],
            before=None if before is None else json.dumps(before, ensure_ascii=False),
            after=None if after is None else json.dumps(after, ensure_ascii=False),
        )
    )


def entries(model: str | None = None, object_id: Any = None, limit: int = 50) -> Any:
    """Return the statement of the newest log entries (of a model, of one object)."""
    statement = select(log_table).order_by(log_table.c.id.desc()).limit(limit)
    if model is not None:
        statement = statement.where(log_table.c.model == model)
    if object_id is not None:
        statement = statement.where(log_table.c.object_id == str(object_id))
    return statement
