"""Type -> JSON Schema: one registry, stable de-duplicated component names."""

from __future__ import annotations

import dataclasses
import enum
from typing import Annotated, Generic, Literal, TypedDict, TypeVar

import msgspec
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeris.openapi.schema import REF_PREFIX, SchemaError, SchemaRegistry, uses_pydantic

T = TypeVar("T")


class Item(msgspec.Struct):
    name: str
    price: Annotated[float, msgspec.Meta(gt=0, description="Price in euros")]


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


class Movie(TypedDict):
    title: str
    year: int


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Cat(msgspec.Struct, tag="cat"):
    meows: int


class Dog(msgspec.Struct, tag="dog"):
    barks: int


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    total: int


class User(pydantic.BaseModel):
    id: Annotated[int, pydantic.Field(ge=1)]
    name: str = pydantic.Field(max_length=20)


def render(*types: object) -> SchemaRegistry:
    registry = SchemaRegistry()
    for tp in types:
        registry.add(tp)
    registry.render()
    return registry


def test_struct_becomes_a_component_with_constraints() -> None:
    registry = render(Item)
    assert registry.schema(Item) == {"$ref": REF_PREFIX + "Item"}
    component = registry.components["Item"]
    assert component["required"] == ["name", "price"]
    assert component["properties"]["price"] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "description": "Price in euros",
    }


def test_dataclass_typeddict_enum_literal() -> None:
    lit = Literal["a", "b"]
    registry = render(Point, Movie, Color, lit)
    assert registry.components["Point"]["required"] == ["x"]
    assert registry.components["Movie"]["required"] == ["title", "year"]
    assert sorted(registry.components["Color"]["enum"]) == ["blue", "red"]
    assert registry.schema(lit) == {"enum": ["a", "b"]}


def test_tagged_union_has_a_discriminator() -> None:
    union = Cat | Dog
    schema = render(union).schema(union)
    assert schema["discriminator"]["propertyName"] == "type"
    assert schema["discriminator"]["mapping"] == {
        "cat": REF_PREFIX + "Cat",
        "dog": REF_PREFIX + "Dog",
    }


def test_generics_get_distinct_names() -> None:
    registry = render(Page[Item], Page[int])
    assert {"Page_Item_", "Page_int_", "Item"} <= set(registry.components)


def test_same_name_in_two_modules_is_deduplicated() -> None:
    other = type(
        "Item", (msgspec.Struct,), {"__annotations__": {"other": int}, "__module__": "elsewhere"}
    )
    registry = render(Item, other)
    names = set(registry.components)
    assert len(names) == 2
    assert registry.schema(Item) != registry.schema(other)


def test_pydantic_models_and_field_constraints() -> None:
    assert uses_pydantic(User)
    assert uses_pydantic(list[User])
    assert uses_pydantic(Annotated[int, pydantic.Field(ge=3)])
    assert not uses_pydantic(Item)
    constrained = Annotated[int, pydantic.Field(ge=3)]
    registry = render(User, list[Item], constrained)
    assert registry.schema(User) == {"$ref": REF_PREFIX + "User"}
    assert registry.components["User"]["properties"]["id"]["minimum"] == 1
    assert registry.components["User"]["properties"]["name"]["maxLength"] == 20
    assert registry.schema(constrained) == {"type": "integer", "minimum": 3}


def test_pydantic_name_clash_with_msgspec_is_renamed() -> None:
    clash = type(
        "Item",
        (pydantic.BaseModel,),
        {"__annotations__": {"other": int}, "__module__": "elsewhere"},
    )
    registry = render(Item, clash)
    assert registry.schema(Item) == {"$ref": REF_PREFIX + "Item"}
    assert registry.schema(clash) == {"$ref": REF_PREFIX + "Item_"}
    assert registry.components["Item_"]["properties"]["other"]["type"] == "integer"


def test_unsupported_type_is_a_precise_error() -> None:
    class Opaque:
        pass

    registry = SchemaRegistry()
    registry.add(Opaque)
    with pytest.raises(SchemaError, match=r"celeris\.openapi\.E001"):
        registry.render()


def test_registry_order_of_use() -> None:
    registry = SchemaRegistry()
    with pytest.raises(RuntimeError):
        registry.schema(int)
    registry.add(int)
    registry.render()
    with pytest.raises(RuntimeError):
        registry.add(str)
    with pytest.raises(KeyError):
        registry.schema(str)
    assert registry.resolve({"type": "integer"}) == {"type": "integer"}


def test_resolve_follows_a_ref() -> None:
    registry = render(Item)
    assert registry.resolve(registry.schema(Item))["title"] == "Item"


@given(st.lists(st.sampled_from([int, str, float, bool, Item, Point, Movie, Color]), min_size=1))
def test_components_are_stable_whatever_the_order(types: list[type]) -> None:
    first = render(*types)
    second = render(*reversed(types))
    assert list(first.components) == sorted(first.components)
    assert first.components == second.components
