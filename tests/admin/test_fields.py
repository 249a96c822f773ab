"""Model introspection and form fields from column types and constraints."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from examples.admin import Author, Book
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from celeris.admin.forms import FormError, input_type, parse_value, to_text
from celeris.admin.introspect import inspect_model
from celeris.db import Model


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Base(DeclarativeBase):
    """A base of its own: these test tables stay out of ``Model.metadata``."""

    type_annotation_map: ClassVar[dict[Any, Any]] = Model.type_annotation_map


class Gadget(Base):
    __tablename__ = "admin_test_gadget"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    colour: Mapped[Colour] = mapped_column(sa.Enum(Colour))
    settings: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    seen: Mapped[dt.datetime | None] = mapped_column(default=None)
    opens: Mapped[dt.time | None] = mapped_column(default=None)
    weight: Mapped[float] = mapped_column(default=0.0)
    blob: Mapped[bytes | None] = mapped_column(sa.LargeBinary, default=None)


def test_book_fields_and_relations() -> None:
    info = inspect_model(Book)
    fields = info.fields
    assert info.pk.name == "id"
    assert info.pk.autoincrement
    assert (fields["title"].kind, fields["title"].max_length, fields["title"].required) == (
        "str",
        200,
        True,
    )
    assert (fields["author_id"].kind, fields["author_id"].target, fields["author_id"].relation) == (
        "fk",
        Author,
        "author",
    )
    assert fields["author_id"].label == "Author"
    assert (fields["published"].kind, fields["published"].required) == ("bool", False)
    assert (fields["pages"].kind, fields["pages"].nullable) == ("int", True)
    assert fields["price"].kind == "decimal"
    assert (fields["tags"].kind, fields["tags"].target.__name__) == ("m2m", "Tag")  # type: ignore[union-attr]
    assert info.relations["author"].direction == "one"
    books = inspect_model(Author).relations["books"]
    assert (books.direction, books.orm_delete, books.remote_columns) == (
        "many",
        True,
        ["author_id"],
    )


def test_gadget_kinds_widgets_and_parsing() -> None:
    fields = inspect_model(Gadget).fields
    kinds = {name: f.kind for name, f in fields.items()}
    assert kinds == {
        "id": "int",
        "code": "uuid",
        "colour": "enum",
        "settings": "json",
        "seen": "datetime",
        "opens": "time",
        "weight": "float",
        "blob": "binary",
    }
    assert fields["colour"].choices == [("RED", "red"), ("BLUE", "blue")]
    assert input_type(fields["colour"], None) == "select"
    assert input_type(fields["settings"], None) == "textarea"
    assert input_type(fields["seen"], None) == "datetime-local"
    assert input_type(fields["weight"], "text") == "text"
    assert parse_value(fields["colour"], "BLUE") is Colour.BLUE
    assert parse_value(fields["settings"], '{"a": [1]}') == {"a": [1]}
    assert parse_value(fields["seen"], "2026-01-02T03:04") == dt.datetime(
        2026, 1, 2, 3, 4, tzinfo=dt.UTC
    )
    assert (
        to_text(fields["seen"], dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC))
        == "2026-01-02T03:04:00"
    )
    assert parse_value(fields["blob"], "ff00") == b"\xff\x00"
    assert parse_value(fields["opens"], "") is None
    for name, raw, message in [
        ("colour", "GREEN", "Select one of the choices."),
        ("settings", "{nope", "Enter valid JSON"),
        ("seen", "yesterday", "Enter a date and time"),
        ("weight", "nan", "Enter a finite number."),
        ("code", "xyz", "Enter a UUID."),
        ("id", "1.5", "Enter a whole number."),
        ("id", str(2**70), "out of range"),
        ("colour", "", "This field is required."),
    ]:
        with pytest.raises(FormError, match=message):
            parse_value(fields[name], raw)


def test_decimal_precision_and_lengths() -> None:
    fields = inspect_model(Book).fields
    assert parse_value(fields["price"], "123456.78") == decimal.Decimal("123456.78")
    for raw in ("1234567", "1.234", "Infinity"):
        with pytest.raises(FormError):
            parse_value(fields["price"], raw)
    with pytest.raises(FormError, match="At most 200 characters"):
        parse_value(fields["title"], "x" * 201)
    assert parse_value(fields["published"], None) is False
    assert parse_value(fields["published"], "1") is True
