"""Limit/offset and cursor (keyset) pagination over a ``select()``.

``paginate`` is simple and lets clients jump to any page; ``paginate_cursor`` stays fast on
deep pages and stable while rows are inserted, because it seeks past the last row seen instead
of counting rows to skip. Cursors are opaque URL-safe strings; a forged or stale one raises
``InvalidCursor``, an ``HTTPError`` (400) wherever it is raised, never a crash.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from celeris.core.errors import BadRequest
from celeris.db.errors import DatabaseError

__all__ = [
    "CursorPage",
    "InvalidCursor",
    "OffsetPage",
    "Ordering",
    "decode_cursor",
    "encode_cursor",
    "paginate",
    "paginate_cursor",
]

T = TypeVar("T")


class InvalidCursor(BadRequest, DatabaseError, ValueError):
    """A pagination cursor that this server did not issue for this ordering (a 400)."""


class OffsetPage(msgspec.Struct, Generic[T], kw_only=True):
    """One page of a limit/offset listing."""

    items: list[T]
    total: int | None
    limit: int
    offset: int


class CursorPage(msgspec.Struct, Generic[T], kw_only=True):
    """One page of a cursor listing; pass ``next_cursor`` back as ``cursor`` for the next."""

    items: list[T]
    limit: int
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class Ordering:
    """One ordering key: a column and its direction."""

    column: Any
    descending: bool = False

    @property
    def python_type(self) -> Any:
        """Return the Python type of the key's values (for decoding cursors)."""
        try:
            return self.column.type.python_type
        except NotImplementedError:
            return Any


async def paginate(
    session: AsyncSession,
    statement: Select[Any],
    *,
    limit: int,
    offset: int = 0,
    count: bool = True,
) -> tuple[list[Any], int | None]:
    """Return one page of ``statement``'s scalars and, when ``count``, the total row count."""
    if limit < 1 or offset < 0:
        raise ValueError("limit must be >= 1 and offset >= 0")
    result = await session.scalars(statement.limit(limit).offset(offset))
    items = list(result.all())
    total: int | None = None
    if count:
        if offset == 0 and len(items) < limit:
            total = len(items)  # PERF: the first page already holds everything
        else:
            counted = select(func.count()).select_from(statement.order_by(None).subquery())
            total = int(await session.scalar(counted) or 0)
    return items, total


def encode_cursor(values: Sequence[Any]) -> str:
    """Return an opaque cursor for the ordering values of the last row of a page."""
    return base64.urlsafe_b64encode(msgspec.json.encode(list(values))).rstrip(b"=").decode()


def decode_cursor(cursor: str, ordering: Sequence[Ordering]) -> tuple[Any, ...]:
    """Return the ordering values inside ``cursor``, typed like the ordering columns."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = msgspec.json.decode(raw, type=tuple[tuple(key.python_type for key in ordering)])  # type: ignore[misc]
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError) as error:
        raise InvalidCursor(f"invalid cursor: {error}") from None
    return tuple(values)


def _after(ordering: Sequence[Ordering], values: Sequence[Any]) -> ColumnElement[bool]:
    """Return the keyset condition "row comes after ``values``" for mixed directions."""
    clauses = []
    for index, key in enumerate(ordering):
        equal = [ordering[i].column == values[i] for i in range(index)]
        beyond = key.column < values[index] if key.descending else key.column > values[index]
        clauses.append(and_(*equal, beyond))
    return or_(*clauses)


async def paginate_cursor(
    session: AsyncSession,
    statement: Select[Any],
    *,
    ordering: Sequence[Ordering],
    limit: int,
    cursor: str | None = None,
) -> tuple[list[Any], str | None]:
    """Return one page after ``cursor`` and the cursor of the next page (None at the end).

    ``ordering`` must end with a unique, non-null key (usually the primary key).
    """
    if limit < 1:
        raise ValueError("limit must be >= 1")
    if not ordering:
        raise ValueError("cursor pagination needs at least one ordering key")
    if cursor:
        statement = statement.where(_after(ordering, decode_cursor(cursor, ordering)))
    order = [key.column.desc() if key.descending else key.column.asc() for key in ordering]
    # PERF: fetch one extra row to learn whether a next page exists without counting.
    result = await session.scalars(statement.order_by(None).order_by(*order).limit(limit + 1))
    items = list(result.all())
    if len(items) <= limit:
        return items, None
    items = items[:limit]
    last = items[-1]
    return items, encode_cursor([getattr(last, key.column.key) for key in ordering])
