"""Turn Python types into JSON Schema 2020-12 with shared ``#/components/schemas`` entries.

One ``SchemaRegistry`` collects every type a spec needs, then renders them all in a single
pass so component names are stable and de-duplicated: msgspec Structs, dataclasses,
TypedDicts, enums, ``Literal``, unions (tagged ones get a ``discriminator``), generics and
``Annotated[..., Meta(...)]`` go through ``msgspec.json.schema_components``; types involving
pydantic v2 models or ``Field`` constraints go through pydantic's own JSON Schema generator.
"""

from __future__ import annotations

import sys
import types
import typing
from collections.abc import Iterator
from typing import Any, Literal

import msgspec


def _pydantic() -> Any | None:
    """Return pydantic if the application imported it (a model implies it did)."""
    # PERF: never import pydantic ourselves; it costs more than all of celeris.
    return sys.modules.get("pydantic")


__all__ = ["REF_PREFIX", "SchemaError", "SchemaRegistry", "uses_pydantic"]

REF_PREFIX = "#/components/schemas/"
Mode = Literal["validation", "serialization"]


class SchemaError(TypeError):
    """A type that cannot be described by JSON Schema."""


def _walk(tp: Any) -> Iterator[Any]:
    """Yield ``tp`` and every type nested in its arguments and ``Annotated`` metadata."""
    yield tp
    for arg in typing.get_args(tp):
        if isinstance(arg, type | types.GenericAlias | types.UnionType) or typing.get_origin(arg):
            yield from _walk(arg)
        else:
            yield arg
    meta = getattr(tp, "__metadata__", ())
    yield from meta


def uses_pydantic(tp: Any) -> bool:
    """Tell whether ``tp`` needs pydantic (a ``BaseModel`` or ``Field`` somewhere inside)."""
    pyd = _pydantic()
    if pyd is None:
        return False
    for part in _walk(tp):
        if isinstance(part, type) and issubclass(part, pyd.BaseModel):
            return True
        if isinstance(part, pyd.fields.FieldInfo):
            return True
    return False


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    """Return ``node`` with ``$ref`` targets renamed (component name -> new name)."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIX):
                name = value[len(REF_PREFIX) :]
                out[key] = REF_PREFIX + renames.get(name, name)
            elif key == "mapping" and isinstance(value, dict):
                out[key] = {
                    k: _rewrite_refs({"$ref": v}, renames)["$ref"] for k, v in value.items()
                }
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


class SchemaRegistry:
    """Collect types, then render their schemas and the shared components in one pass."""

    __slots__ = ("_components", "_rendered", "_wanted")

    def __init__(self) -> None:
        self._wanted: list[tuple[Any, Mode]] = []
        self._rendered: dict[tuple[int, Mode], dict[str, Any]] | None = None
        self._components: dict[str, dict[str, Any]] = {}

    def add(self, tp: Any, mode: Mode = "validation") -> None:
        """Register ``tp`` so that ``schema(tp, mode)`` works after ``render()``."""
        if self._rendered is not None:
            raise RuntimeError("SchemaRegistry.add() after render(); create a new registry")
        if all(existing is not tp or m != mode for existing, m in self._wanted):
            self._wanted.append((tp, mode))

    def render(self) -> None:
        """Produce every registered schema and the components they reference."""
        rendered: dict[tuple[int, Mode], dict[str, Any]] = {}
        native = [(tp, mode) for tp, mode in self._wanted if not uses_pydantic(tp)]
        foreign = [(tp, mode) for tp, mode in self._wanted if uses_pydantic(tp)]
        components: dict[str, dict[str, Any]] = {}
        if native:
            try:
                schemas, comps = msgspec.json.schema_components(
                    [tp for tp, _ in native], ref_template=REF_PREFIX + "{name}"
                )
            except TypeError as exc:
                raise SchemaError(f"celeris.openapi.E001: cannot describe a type: {exc}") from exc
            for (tp, mode), schema in zip(native, schemas, strict=True):
                rendered[(id(tp), mode)] = dict(schema)
            components.update(comps)
        if foreign:
            self._render_pydantic(foreign, rendered, components)
        self._components = dict(sorted(components.items()))
        self._rendered = rendered

    def _render_pydantic(
        self,
        wanted: list[tuple[Any, Mode]],
        rendered: dict[tuple[int, Mode], dict[str, Any]],
        components: dict[str, dict[str, Any]],
    ) -> None:
        pyd: Any = _pydantic()
        inputs = [(index, mode, pyd.TypeAdapter(tp)) for index, (tp, mode) in enumerate(wanted)]
        try:
            keyed, defs = pyd.TypeAdapter.json_schemas(inputs, ref_template=REF_PREFIX + "{model}")
        except pyd.PydanticUserError as exc:
            raise SchemaError(f"celeris.openapi.E001: cannot describe a type: {exc}") from exc
        # NOTE: a pydantic model may share its name with a msgspec type; keep both, renamed.
        renames: dict[str, str] = {}
        for name, schema in defs.get("$defs", {}).items():
            if name in components and components[name] != schema:
                new = f"{name}_"
                while new in components or new in defs.get("$defs", {}):
                    new += "_"
                renames[name] = new
        for name, schema in defs.get("$defs", {}).items():
            components[renames.get(name, name)] = _rewrite_refs(schema, renames)
        for (index, mode), schema in keyed.items():
            tp = wanted[int(index)][0]
            rendered[(id(tp), mode)] = _rewrite_refs(schema, renames)

    def schema(self, tp: Any, mode: Mode = "validation") -> dict[str, Any]:
        """Return the (possibly ``$ref``) schema of a registered type."""
        if self._rendered is None:
            raise RuntimeError("SchemaRegistry.schema() before render()")
        try:
            return self._rendered[(id(tp), mode)]
        except KeyError:
            raise KeyError(f"type {tp!r} ({mode}) was not added to the registry") from None

    @property
    def components(self) -> dict[str, dict[str, Any]]:
        """Return the named schemas, sorted by name."""
        return self._components

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """Follow a top-level ``$ref`` into the components (one level)."""
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF_PREFIX):
            return self._components.get(ref[len(REF_PREFIX) :], schema)
        return schema
