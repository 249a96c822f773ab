"""Read a SQLAlchemy model's mapper into the fields and relations the admin shows and edits."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapper, RelationshipDirection, RelationshipProperty

__all__ = ["FieldInfo", "ModelInfo", "RelationInfo", "inspect_model", "kind_of"]


@dataclass(slots=True)
class RelationInfo:
    """A relationship of a model: to-one, to-many (inlines, cascades) or many-to-many."""

    name: str
    direction: str  # "one", "many" or "m2m"
    target: type[Any]
    local_columns: list[str]
    remote_columns: list[str]
    secondary: sa.Table | None
    orm_delete: bool  # the ORM cascade deletes the related rows
    db_ondelete: str | None  # the foreign key's ON DELETE on the child side


@dataclass(slots=True)
class FieldInfo:
    """One editable (or shown) value of a model: a column or a many-to-many relationship."""

    name: str
    label: str
    kind: str  # str text int float decimal bool date datetime time enum json uuid binary fk m2m
    column: Any = None
    required: bool = False
    nullable: bool = True
    max_length: int | None = None
    has_default: bool = False
    primary_key: bool = False
    choices: list[tuple[str, str]] = field(default_factory=list)
    enum_class: type[enum.Enum] | None = None
    target: type[Any] | None = None  # fk / m2m: the related model
    relation: str | None = None  # fk: its to-one relationship; m2m: the relationship
    autoincrement: bool = False

    @property
    def is_relation(self) -> bool:
        """Tell whether the value points at rows of another model."""
        return self.kind in ("fk", "m2m")


@dataclass(slots=True)
class ModelInfo:
    """What the admin knows about a model: its table, key, fields and relations."""

    model: type[Any]
    table: sa.Table
    pk: FieldInfo
    fields: dict[str, FieldInfo]
    relations: dict[str, RelationInfo]

    @property
    def column_names(self) -> list[str]:
        """Return the names of the model's column attributes."""
        return [f.name for f in self.fields.values() if f.kind != "m2m"]


def _python_type(column: Any) -> Any:
    type_ = column.type
    if isinstance(type_, sa.TypeDecorator):
        # NOTE: a TypeDecorator (celeris.db.DateTime) says ``object``; the type it wraps knows.
        type_ = type_.impl_instance
    try:
        return type_.python_type
    except NotImplementedError:
        return None


def kind_of(column: Any) -> str:
    """Return the form kind of a column from its type."""
    type_ = column.type
    type_ = getattr(type_, "impl_instance", type_) if isinstance(type_, sa.TypeDecorator) else type_
    if column.foreign_keys:
        return "fk"
    if isinstance(type_, sa.Enum):
        return "enum"
    if isinstance(type_, sa.JSON):
        return "json"
    if isinstance(type_, sa.Boolean):
        return "bool"
    if isinstance(type_, sa.Text | sa.UnicodeText) or (
        isinstance(type_, sa.String) and type_.length is None
    ):
        return "text"
    python = _python_type(column)
    table = {
        str: "str",
        bool: "bool",
        int: "int",
        float: "float",
        decimal.Decimal: "decimal",
        dt.datetime: "datetime",
        dt.date: "date",
        dt.time: "time",
        uuid.UUID: "uuid",
        bytes: "binary",
        dict: "json",
        list: "json",
    }
    return table.get(python, "str")


def _label(name: str) -> str:
    return name.replace("_", " ").strip().capitalize()


def _relation(prop: RelationshipProperty[Any]) -> RelationInfo:
    direction = prop.direction
    if direction is RelationshipDirection.MANYTOMANY:
        kind = "m2m"
    elif direction is RelationshipDirection.MANYTOONE:
        kind = "one"
    else:
        kind = "many"
    ondelete = None
    if kind == "many":
        for column in prop.remote_side:
            for fk in column.foreign_keys:
                ondelete = (fk.ondelete or "").upper() or None
    return RelationInfo(
        name=prop.key,
        direction=kind,
        target=prop.mapper.class_,
        local_columns=[c.key for c in prop.local_columns if c.key is not None],
        remote_columns=[c.key for c in prop.remote_side if c.key is not None],
        secondary=prop.secondary if isinstance(prop.secondary, sa.Table) else None,
        orm_delete=bool(prop.cascade.delete),
        db_ondelete=ondelete,
    )


def _target_of(column: Any, mapper: Mapper[Any], relations: dict[str, RelationInfo]) -> Any:
    """Return the model a foreign-key column points at (through a relationship or the registry)."""
    for relation in relations.values():
        if relation.direction == "one" and column.key in relation.local_columns:
            return relation.target, relation.name
    [fk] = list(column.foreign_keys)[:1]
    table = fk.column.table
    for other in mapper.registry.mappers:
        if other.local_table is table:
            return other.class_, None
    return None, None


def inspect_model(model: type[Any]) -> ModelInfo:
    """Return the admin's view of ``model`` (a mapped class)."""
    mapper: Mapper[Any] = sa.inspect(model)
    table = mapper.local_table
    if not isinstance(table, sa.Table):
        raise TypeError(f"{model.__name__} is not mapped to a table")
    relations = {prop.key: _relation(prop) for prop in mapper.relationships}
    fields: dict[str, FieldInfo] = {}
    pks: list[FieldInfo] = []
    for attr in mapper.column_attrs:
        if len(attr.columns) != 1 or not isinstance(attr.columns[0], sa.Column):
            continue
        column = attr.columns[0]
        kind = kind_of(column)
        length = getattr(column.type, "length", None)
        has_default = (
            column.default is not None
            or column.server_default is not None
            or (column.primary_key and column.autoincrement in (True, "auto"))
        )
        info = FieldInfo(
            name=attr.key,
            label=_label(attr.key),
            kind=kind,
            column=column,
            nullable=bool(column.nullable),
            required=not column.nullable and not has_default,
            max_length=length if isinstance(length, int) and kind in ("str", "text") else None,
            has_default=has_default,
            primary_key=bool(column.primary_key),
            autoincrement=bool(
                column.primary_key and column.autoincrement in (True, "auto") and kind == "int"
            ),
        )
        if kind == "enum":
            enum_class = getattr(column.type, "enum_class", None)
            info.enum_class = enum_class
            if enum_class is not None:
                info.choices = [(m.name, str(m.value)) for m in enum_class]
            else:
                info.choices = [(str(v), str(v)) for v in getattr(column.type, "enums", ())]
        if kind == "fk":
            target, relation = _target_of(column, mapper, relations)
            if target is None:
                info.kind = kind_of_plain(column)
            info.target = target
            info.relation = relation
            if relation is not None:
                info.label = _label(relation)
        fields[attr.key] = info
        if info.primary_key:
            pks.append(info)
    for relation in relations.values():
        if relation.direction == "m2m":
            fields[relation.name] = FieldInfo(
                name=relation.name,
                label=_label(relation.name),
                kind="m2m",
                target=relation.target,
                relation=relation.name,
            )
    if len(pks) != 1:
        raise TypeError(
            f"admin.E001: {model.__name__} has {len(pks)} primary-key columns; the admin "
            "edits models with exactly one (add a surrogate id column)"
        )
    return ModelInfo(model=model, table=table, pk=pks[0], fields=fields, relations=relations)


def kind_of_plain(column: Any) -> str:
    """Return the kind of a foreign-key column whose target is not a mapped model."""
    python = _python_type(column)
    return "int" if python is int else "str"
