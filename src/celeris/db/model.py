"""The declarative ``Model`` base with a constraint naming convention.

Named constraints make Alembic's autogenerate and SQLite batch alters produce the same
migrations on SQLite and PostgreSQL (an unnamed constraint cannot be dropped portably).
``Mapped[datetime]`` columns are celeris's ``DateTime``: aware UTC values on both databases.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase

from celeris.db.types import DateTime

__all__ = ["NAMING_CONVENTION", "Model", "primary_key_columns"]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Model(AsyncAttrs, DeclarativeBase):
    """Base class of application models: ``class Note(Model): __tablename__ = "note"``.

    ``await note.awaitable_attrs.comments`` loads a relationship from async code.
    """

    metadata: ClassVar[MetaData] = MetaData(naming_convention=NAMING_CONVENTION)
    # NOTE: ``Mapped[datetime]`` reads back aware (UTC) on SQLite as on PostgreSQL.
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: DateTime()}

    def __repr__(self) -> str:
        keys = ", ".join(
            f"{c.key}={getattr(self, c.key, None)!r}" for c in primary_key_columns(type(self))
        )
        return f"<{type(self).__name__} {keys}>"


def primary_key_columns(model: type[Any]) -> list[Any]:
    """Return the primary-key columns of a mapped class."""
    table = model.__table__
    return list(table.primary_key.columns)
