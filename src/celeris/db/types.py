"""Column types that behave the same on SQLite and PostgreSQL.

``DateTime`` is what a ``Mapped[datetime]`` column of a ``Model`` gets: values come back
timezone-aware in UTC on both databases (SQLite has no time zones and hands back naive
values; PostgreSQL's ``timestamptz`` aware ones). Naive values written are taken as UTC.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import types

__all__ = ["DateTime"]

_UTC = dt.UTC


class DateTime(types.TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and read back aware (``tzinfo=UTC``) on every database."""

    impl = types.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        value = value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)
        # NOTE: SQLite stores the text of the value without its offset: store UTC wall time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=_UTC)  # type: ignore[no-any-return]
        return value.astimezone(_UTC)  # type: ignore[no-any-return]
