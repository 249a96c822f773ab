"""Models shared by the data-layer tests."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, registry, relationship

from celeris.db.model import Model


class _TestModel(Model):
    """Model's metadata, a class registry of its own.

    NOTE: other modules of the suite (examples/admin.py) also name models Author and Book on
    Model; one registry holding both could not resolve ``Mapped[Book]``.
    """

    __abstract__ = True
    _sa_registry = registry(metadata=Model.metadata, type_annotation_map=Model.type_annotation_map)
    registry = _sa_registry


class Author(_TestModel):
    __tablename__ = "author"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(40), unique=True)
    books: Mapped[list[Book]] = relationship(back_populates="author")


class Book(_TestModel):
    __tablename__ = "book"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(80))
    pages: Mapped[int] = mapped_column(default=100)
    rating: Mapped[float | None]
    published: Mapped[dt.date | None]
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("author.id"))
    author: Mapped[Author | None] = relationship(back_populates="books")


class Tag(_TestModel):
    __tablename__ = "tag"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    label: Mapped[str] = mapped_column(sa.String(30), unique=True)
    created: Mapped[dt.datetime] = mapped_column(server_default=sa.func.now())
