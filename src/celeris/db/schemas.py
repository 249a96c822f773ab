"""msgspec schemas derived from a model: one declaration drives create, update and read.

``schemas_for(Note)`` returns three ``msgspec.Struct`` types compiled once per model:

- ``create``: every writable column; required unless nullable or defaulted.
- ``update``: every writable column, all optional (``msgspec.UNSET`` marks "not sent").
- ``read``: every column except those marked write-only.

Mark columns through ``info``: ``mapped_column(info={"celeris": {"read_only": True}})`` keeps a
column out of create/update, ``{"write_only": True}`` keeps it out of read (password hashes).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from sqlalchemy import Enum as SAEnum
from sqlalchemy import String, inspect
from sqlalchemy.orm import ColumnProperty
from sqlalchemy.sql.schema import Column

__all__ = [
    "Field",
    "ModelSchemas",
    "fields_of",
    "schemas_for",
    "to_read",
    "to_read_many",
    "values_of",
]

_UNSET_TYPE = type(msgspec.UNSET)
_cache: dict[type[Any], ModelSchemas] = {}


@dataclass(frozen=True, slots=True)
class Field:
    """One mapped column as the schemas see it."""

    name: str
    column: Column[Any]
    python_type: Any
    nullable: bool
    primary_key: bool
    generated: bool  # the database or SQLAlchemy fills it when the client does not
    read_only: bool
    write_only: bool


@dataclass(frozen=True, slots=True)
class ModelSchemas:
    """The create / update / read Structs of one model, and its fields."""

    model: type[Any]
    create: type[msgspec.Struct]
    update: type[msgspec.Struct]
    read: type[msgspec.Struct]
    fields: tuple[Field, ...]

    @property
    def primary_key(self) -> Field:
        """Return the (single) primary-key field."""
        keys = [f for f in self.fields if f.primary_key]
        if len(keys) != 1:
            raise TypeError(f"{self.model.__name__} needs exactly one primary-key column")
        return keys[0]


def _python_type(column: Column[Any]) -> Any:
    """Return the Python annotation for ``column``'s SQL type."""
    sql_type = column.type
    if isinstance(sql_type, SAEnum):
        if sql_type.enum_class is not None:
            return sql_type.enum_class
        return Literal[tuple(sql_type.enums)]
    try:
        python_type: Any = sql_type.python_type
    except NotImplementedError:
        return Any
    if python_type is dict or python_type is list:
        return Any  # JSON columns hold any JSON value
    if python_type is str and isinstance(sql_type, String) and sql_type.length:
        return Annotated[str, msgspec.Meta(max_length=sql_type.length)]
    return python_type


def _generated(column: Column[Any]) -> bool:
    if column.default is not None or column.server_default is not None:
        return True
    if column.primary_key and column.autoincrement in (True, "auto"):
        try:
            return column.type.python_type is int
        except NotImplementedError:
            return False
    return column.computed is not None or column.identity is not None


def fields_of(model: type[Any]) -> tuple[Field, ...]:
    """Return the column fields of a mapped class, in declaration order."""
    fields = []
    for prop in inspect(model).column_attrs:
        if not isinstance(prop, ColumnProperty) or len(prop.columns) != 1:
            continue
        column = prop.columns[0]
        if not isinstance(column, Column):
            continue
        flags = column.info.get("celeris", {})
        computed = column.computed is not None
        fields.append(
            Field(
                name=prop.key,
                column=column,
                python_type=_python_type(column),
                nullable=bool(column.nullable) and not column.primary_key,
                primary_key=column.primary_key,
                generated=_generated(column),
                read_only=bool(flags.get("read_only")) or computed,
                write_only=bool(flags.get("write_only")),
            )
        )
    return tuple(fields)


def _create_fields(fields: tuple[Field, ...]) -> list[tuple[Any, ...]]:
    required: list[tuple[Any, ...]] = []
    optional: list[tuple[Any, ...]] = []
    for f in fields:
        if f.read_only or (f.primary_key and f.generated):
            continue
        annotation = f.python_type | None if f.nullable else f.python_type
        if f.generated:
            optional.append((f.name, annotation | _UNSET_TYPE, msgspec.UNSET))
        elif f.nullable:
            optional.append((f.name, annotation, None))
        else:
            required.append((f.name, annotation))
    return required + optional


def _update_fields(fields: tuple[Field, ...]) -> list[tuple[Any, ...]]:
    result = []
    for f in fields:
        if f.read_only or f.primary_key:
            continue
        annotation = f.python_type | None if f.nullable else f.python_type
        result.append((f.name, annotation | _UNSET_TYPE, msgspec.UNSET))
    return result


def _read_fields(fields: tuple[Field, ...]) -> list[tuple[Any, ...]]:
    return [
        (f.name, f.python_type | None if f.nullable else f.python_type)
        for f in fields
        if not f.write_only
    ]


def schemas_for(model: type[Any]) -> ModelSchemas:
    """Return (and cache) the create / update / read Structs of ``model``."""
    cached = _cache.get(model)
    if cached is not None:
        return cached
    fields = fields_of(model)
    name = model.__name__
    module = model.__module__
    schemas = ModelSchemas(
        model=model,
        create=msgspec.defstruct(
            f"{name}Create",
            _create_fields(fields),
            kw_only=True,
            forbid_unknown_fields=True,
            module=module,
        ),
        update=msgspec.defstruct(
            f"{name}Update",
            _update_fields(fields),
            kw_only=True,
            forbid_unknown_fields=True,
            omit_defaults=True,
            module=module,
        ),
        read=msgspec.defstruct(f"{name}Read", _read_fields(fields), kw_only=True, module=module),
        fields=fields,
    )
    _cache[model] = schemas
    return schemas


def to_read(obj: Any, schema: type[msgspec.Struct] | None = None) -> Any:
    """Return ``obj`` (a model instance) as its read Struct."""
    target = schema if schema is not None else schemas_for(type(obj)).read
    # PERF: msgspec reads the attributes in C; no per-field Python loop.
    return msgspec.convert(obj, type=target, from_attributes=True)


def to_read_many(rows: Sequence[Any], schema: type[msgspec.Struct] | None = None) -> list[Any]:
    """Return model instances as a list of read Structs (for page ``items``)."""
    if not rows:
        return []
    target = schema if schema is not None else schemas_for(type(rows[0])).read
    # PERF: one C-level conversion for the whole list instead of a per-row loop.
    return msgspec.convert(rows, list[target], from_attributes=True)  # type: ignore[valid-type]


def values_of(struct: msgspec.Struct) -> dict[str, Any]:
    """Return the fields of a create/update Struct that the client actually sent."""
    return {
        name: value
        for name in struct.__struct_fields__
        if (value := getattr(struct, name)) is not msgspec.UNSET
    }
