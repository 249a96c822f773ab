"""Tests for celeris.db.schemas: create / update / read Structs derived from a model."""

from __future__ import annotations

import datetime as dt
import enum

import msgspec
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.orm import Mapped, mapped_column

from celeris.db.model import Model
from celeris.db.schemas import fields_of, schemas_for, to_read, to_read_many, values_of

from .db_models import Author, Book


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Widget(Model):
    __tablename__ = "widget_schema_test"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(10))
    color: Mapped[Color] = mapped_column(default=Color.RED)
    size: Mapped[str] = mapped_column(sa.Enum("s", "m", "l", name="size"))
    data: Mapped[dict[str, object] | None] = mapped_column(sa.JSON)
    created: Mapped[dt.datetime] = mapped_column(server_default=sa.func.now())
    password_hash: Mapped[str] = mapped_column(default="", info={"celeris": {"write_only": True}})
    version: Mapped[int] = mapped_column(default=1, info={"celeris": {"read_only": True}})


def test_create_requires_what_the_database_needs() -> None:
    create = schemas_for(Book).create
    assert set(create.__struct_fields__) == {"title", "pages", "rating", "published", "author_id"}
    book = msgspec.json.decode(b'{"title": "Ficciones"}', type=create)
    assert values_of(book) == {
        "title": "Ficciones",
        "rating": None,
        "published": None,
        "author_id": None,
    }
    with pytest.raises(msgspec.ValidationError, match="missing required field `title`"):
        msgspec.json.decode(b"{}", type=create)


def test_create_rejects_unknown_fields_and_bad_types() -> None:
    create = schemas_for(Book).create
    with pytest.raises(msgspec.ValidationError, match="unknown field `titel`"):
        msgspec.json.decode(b'{"title": "x", "titel": "y"}', type=create)
    with pytest.raises(msgspec.ValidationError, match=r"\$.pages"):
        msgspec.json.decode(b'{"title": "x", "pages": "many"}', type=create)
    with pytest.raises(msgspec.ValidationError, match="length <= 80"):
        msgspec.json.decode(b'{"title": "' + b"x" * 81 + b'"}', type=create)


def test_update_is_partial() -> None:
    update = schemas_for(Book).update
    patch = msgspec.json.decode(b'{"rating": null}', type=update)
    assert values_of(patch) == {"rating": None}
    assert values_of(msgspec.json.decode(b"{}", type=update)) == {}
    assert "id" not in update.__struct_fields__


def test_read_has_every_column() -> None:
    read = schemas_for(Author).read
    assert read.__struct_fields__ == ("id", "name")
    assert msgspec.json.encode(to_read(Author(id=1, name="Woolf"))) == b'{"id":1,"name":"Woolf"}'


def test_types_flags_and_enums() -> None:
    schemas = schemas_for(Widget)
    assert "password_hash" not in schemas.read.__struct_fields__
    assert "password_hash" in schemas.create.__struct_fields__
    assert "version" not in schemas.create.__struct_fields__
    assert "version" not in schemas.update.__struct_fields__
    assert "version" in schemas.read.__struct_fields__
    good = msgspec.json.decode(
        b'{"name": "w", "size": "m", "color": "blue", "data": {"a": [1]}}', type=schemas.create
    )
    assert good.color is Color.BLUE
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(b'{"name": "w", "size": "xl"}', type=schemas.create)
    assert schemas.primary_key.name == "id"
    assert [f.name for f in fields_of(Widget) if f.generated] == [
        "id",
        "color",
        "created",
        "password_hash",
        "version",
    ]


def test_schemas_are_cached() -> None:
    assert schemas_for(Book) is schemas_for(Book)


@given(
    title=st.text(min_size=1, max_size=80),
    pages=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    rating=st.none() | st.floats(allow_nan=False, allow_infinity=False),
)
def test_create_roundtrips_any_valid_book(title: str, pages: int, rating: float | None) -> None:
    create = schemas_for(Book).create
    sent = {"title": title, "pages": pages, "rating": rating}
    decoded = msgspec.json.decode(msgspec.json.encode(sent), type=create)
    assert {k: v for k, v in values_of(decoded).items() if k in sent} == sent


def test_to_read_many() -> None:
    rows = [Author(id=1, name="a"), Author(id=2, name="b")]
    assert msgspec.json.encode(to_read_many(rows)) == b'[{"id":1,"name":"a"},{"id":2,"name":"b"}]'
    assert to_read_many([]) == []
