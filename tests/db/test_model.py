"""Tests for celeris.db.model: the naming convention that keeps migrations portable."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from celeris.db.model import NAMING_CONVENTION, Model, primary_key_columns

from .db_models import Author, Book


def test_constraints_are_named_by_convention() -> None:
    assert Model.metadata.naming_convention == NAMING_CONVENTION
    book = Book.__table__
    assert book.primary_key.name == "pk_book"
    foreign_keys = {fk.name for fk in book.foreign_key_constraints}
    assert foreign_keys == {"fk_book_author_id_author"}
    ddl = str(sa.schema.CreateTable(Author.__table__).compile(dialect=sa.dialects.sqlite.dialect()))
    assert "uq_author_name" in ddl


def test_check_constraint_and_index_names() -> None:
    class Gadget(Model):
        __tablename__ = "gadget_model_test"
        id: Mapped[int] = mapped_column(primary_key=True)
        weight: Mapped[int] = mapped_column(index=True)
        __table_args__ = (sa.CheckConstraint("weight > 0", name="positive_weight"),)

    table = Gadget.__table__
    names = {c.name for c in table.constraints}
    assert "ck_gadget_model_test_positive_weight" in names
    assert {i.name for i in table.indexes} == {"ix_gadget_model_test_weight"}
    Model.metadata.remove(table)


def test_repr_and_primary_key_columns() -> None:
    assert [c.name for c in primary_key_columns(Book)] == ["id"]
    assert repr(Author(id=3, name="x")) == "<Author id=3>"
