"""validation: lenient text conversion, strict JSON decoding, error items, encoders."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from typing import Annotated, Any, TypedDict

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeris.core.validation import (
    MalformedBody,
    ResponseValidationFailure,
    ValidationFailure,
    decode_json,
    is_model,
    is_model_body,
    is_sequence,
    json_decoder,
    json_encoder,
    strip_optional,
    text_converter,
    value_converter,
)


class User(msgspec.Struct):
    name: str
    age: int


@dataclasses.dataclass
class DC:
    a: int


class TD(TypedDict):
    k: str


def test_model_detection() -> None:
    assert is_model(User)
    assert is_model(DC)
    assert is_model(TD)
    assert not is_model(dict)
    assert not is_model(int)
    assert is_model_body(list[User])
    assert is_model_body(User | None)
    assert not is_model_body(list[int])


def test_sequence_detection() -> None:
    assert is_sequence(list[int])
    assert is_sequence(list[int] | None)
    assert is_sequence(tuple[str, ...])
    assert not is_sequence(int)
    assert not is_sequence(str)


def test_strip_optional() -> None:
    assert strip_optional(int | None) is int
    assert strip_optional(int | str) == int | str


def test_text_converter_is_lenient() -> None:
    assert text_converter(int, ["query", "n"])("42") == 42
    assert text_converter(bool, ["query", "b"])("true") is True
    assert text_converter(list[int], ["query", "n"])(["1", "2"]) == [1, 2]
    assert text_converter(str, ["query", "s"])("x") == "x"
    with pytest.raises(ValidationFailure) as info:
        text_converter(int, ["query", "n"])("abc")
    assert info.value.errors == [
        {"loc": ["query", "n"], "msg": "Expected `int`, got `str`", "type": "type_error"}
    ]


def test_constraints_give_value_errors() -> None:
    convert = text_converter(Annotated[int, msgspec.Meta(ge=1)], ["query", "limit"])
    assert convert("3") == 3
    with pytest.raises(ValidationFailure) as info:
        convert("0")
    assert info.value.errors[0]["type"] == "value_error"
    assert info.value.errors[0]["loc"] == [
        "query",
        "limit",
    ]


def test_json_decoder_is_strict() -> None:
    decode = json_decoder(User, ["body"])
    assert decode(b'{"name": "a", "age": 3}') == User("a", 3)
    with pytest.raises(ValidationFailure) as info:
        decode(b'{"name": "a", "age": "3"}')
    assert info.value.errors[0]["loc"] == ["body", "age"]
    with pytest.raises(ValidationFailure) as info:
        decode(b'{"age": 3}')
    assert info.value.errors == [
        {"loc": ["body", "name"], "msg": "Field required", "type": "missing"}
    ]
    with pytest.raises(MalformedBody):
        decode(b'{"name":')


def test_nested_error_locations() -> None:
    decode = json_decoder(list[User], ["body"])
    with pytest.raises(ValidationFailure) as info:
        decode(b'[{"name": "a", "age": 1}, {"name": "b", "age": "x"}]')
    assert info.value.errors[0]["loc"] == ["body", 1, "age"]


def test_value_converter_strict() -> None:
    assert value_converter(int, ["body", "n"])(3) == 3
    with pytest.raises(ValidationFailure):
        value_converter(int, ["body", "n"])("3")
    assert value_converter(Any, ["body", "x"])({"a": 1}) == {"a": 1}


def test_decode_json_any() -> None:
    assert decode_json(b"[1, 2]") == [1, 2]
    with pytest.raises(MalformedBody):
        decode_json(b"nope")


def test_encoder_filters_extra_fields() -> None:
    encode = json_encoder(User)
    assert encode({"name": "a", "age": 1, "password": "x"}) == b'{"name":"a","age":1}'
    assert encode(User("b", 2)) == b'{"name":"b","age":2}'
    with pytest.raises(ResponseValidationFailure):
        encode({"name": "a"})
    assert json_encoder(list[User])([{"name": "a", "age": 1, "x": 0}]) == b'[{"name":"a","age":1}]'
    assert json_encoder(DC)(DC(1)) == b'{"a":1}'


def test_plain_containers_pass_through() -> None:
    assert json_encoder(dict)({"a": 1}) == b'{"a":1}'
    assert json_encoder(dict[str, int])({"a": 1}) == b'{"a":1}'
    assert json_encoder(Any)([1, "x"]) == b'[1,"x"]'


@given(
    st.dictionaries(
        st.text(max_size=5), st.integers() | st.text(max_size=5) | st.none(), max_size=5
    )
)
def test_json_round_trip(data: dict[str, Any]) -> None:
    assert decode_json(json_encoder(dict)(data)) == data


def test_pydantic_models_when_imported() -> None:
    pydantic = pytest.importorskip("pydantic")
    assert "pydantic" in sys.modules

    class Model(pydantic.BaseModel):
        name: str
        n: int = 0

    assert is_model(Model)
    decode = json_decoder(Model, ["body"])
    assert decode(b'{"name": "a"}') == Model(name="a")
    with pytest.raises(ValidationFailure) as info:
        decode(b'{"n": 1}')
    assert info.value.errors[0]["loc"] == ["body", "name"]
    with pytest.raises(MalformedBody):
        decode(b"{")
    assert json_encoder(Model)({"name": "x", "n": 2, "extra": 1}) == b'{"name":"x","n":2}'
    assert json_encoder(dict)({"m": Model(name="y")}) == b'{"m":{"name":"y","n":0}}'
    assert text_converter(Model, ["query", "m"])({"name": "q"}) == Model(name="q")


def test_works_without_pydantic() -> None:
    code = """
import sys
sys.modules["pydantic"] = None  # as if not installed
import msgspec
from celeris import App
from celeris.testing import TestClient

class Item(msgspec.Struct):
    name: str

app = App()

@app.post("/items")
async def create(item: Item) -> Item:
    return item

client = TestClient(app)
assert client.post("/items", json={"name": "a"}).json() == {"name": "a"}
assert client.post("/items", json={}).status_code == 422
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr
