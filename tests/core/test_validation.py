"""validation: lenient text conversion, strict JSON decoding, error items, encoders."""

from __future__ import annotations

import dataclasses
import datetime
import subprocess
import sys
import uuid
from typing import Annotated, Any, Literal, TypedDict

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeris import App
from celeris.core.validation import (
    MalformedBody,
    ResponseValidationFailure,
    ValidationFailure,
    constrained,
    decode_json,
    integral,
    is_model,
    is_model_body,
    is_sequence,
    json_decoder,
    json_encoder,
    may_hold_datetime,
    readable,
    strip_optional,
    text_converter,
    value_converter,
    without_none,
)
from celeris.testing import TestClient


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
        {"loc": ["query", "n"], "msg": "must be an integer", "type": "type_error"}
    ]


@pytest.mark.parametrize(
    ("tp", "value", "msg"),
    [
        (int, "abc", "must be an integer"),
        (float, "x", "must be a number"),
        (bool, "maybe", "must be true or false"),
        (int | None, "x", "must be an integer"),
        (uuid.UUID, "zz", "must be a UUID"),
        (datetime.date, "x", "must be a date such as 2024-05-01"),
        (Annotated[int, msgspec.Meta(ge=1)], "0", "must be an integer, at least 1"),
        (Annotated[float, msgspec.Meta(lt=1)], "2", "must be a number, less than 1.0"),
        (Annotated[str, msgspec.Meta(max_length=2)], "abc", "must be at most 2 characters long"),
        (Annotated[str, msgspec.Meta(pattern="^a")], "b", "must match the pattern '^a'"),
        (Literal["a", "b"], "c", "'c' is not one of the allowed values"),
        (list[int], ["1", "x"], "must be an integer"),
    ],
)
def test_text_errors_say_what_was_expected_in_plain_words(tp: Any, value: Any, msg: str) -> None:
    with pytest.raises(ValidationFailure) as info:
        text_converter(tp, ["query", "n"])(value)
    assert info.value.errors[0]["msg"] == msg
    assert info.value.errors[0]["loc"][:2] == ["query", "n"]


def test_a_json_body_error_names_the_wrong_type_and_keeps_type_and_loc() -> None:
    with pytest.raises(ValidationFailure) as info:
        json_decoder(User, ["body"])(b'{"name": "a", "age": "3"}')
    assert info.value.errors == [
        {"loc": ["body", "age"], "msg": "must be an integer, not a string", "type": "type_error"}
    ]


def test_a_message_without_plain_words_stays_as_msgspec_says_it() -> None:
    assert readable("Expected `Thing`, got `str`") == "Expected `Thing`, got `str`"
    assert readable("Object contains unknown field `x`") == "Object contains unknown field `x`"


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


# --- strictness fixes found by schemathesis -----------------------------------------------------


class Cat(msgspec.Struct, tag="cat"):
    lives: int


class Dog(msgspec.Struct, tag="dog"):
    good: bool


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_integral_json_numbers_are_integers(n: int) -> None:
    decode = json_decoder(User, ["body"])
    assert decode(f'{{"name": "a", "age": {n}.0}}'.encode()) == User("a", n)
    assert decode(f'{{"name": "a", "age": {n}}}'.encode()) == User("a", n)
    assert value_converter(list[int], ["body", "xs"])([float(n), n]) == [n, n]


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()))
def test_fractional_numbers_are_not_integers(f: float) -> None:
    with pytest.raises(ValidationFailure) as info:
        json_decoder(User, ["body"])(msgspec.json.encode({"name": "a", "age": f}))
    assert info.value.errors[0]["loc"] == ["body", "age"]


def test_integral_floats_keep_float_fields_and_strings_stay_refused() -> None:
    class Mixed(msgspec.Struct):
        n: int | None
        x: float

    decode = json_decoder(Mixed, ["body"])
    assert decode(b'{"n": 2.0, "x": 1.5}') == Mixed(2, 1.5)
    assert decode(b'{"n": null, "x": 1}') == Mixed(None, 1.0)
    for bad in (b'{"n": "1", "x": 1}', b'{"n": false, "x": 1}', b'{"n": 1.0, "x": "1"}'):
        with pytest.raises(ValidationFailure):
            decode(bad)
    with pytest.raises(MalformedBody):
        decode(b'{"n": 1.0,')


def test_integral_helper_and_without_none() -> None:
    assert integral({"a": [1.0, 1.5, {"b": -0.0}], "c": "1.0", "d": True}) == {
        "a": [1, 1.5, {"b": 0}],
        "c": "1.0",
        "d": True,
    }
    assert without_none(int | None) is int
    assert without_none(int | str | None) == int | str
    assert without_none(Annotated[int | None, "m"]) == Annotated[int, "m"]
    assert without_none(str) is str


def test_null_in_text_is_not_none() -> None:
    convert = text_converter(int | None, ["query", "n"])
    assert convert("3") == 3
    with pytest.raises(ValidationFailure) as info:
        convert("null")
    assert info.value.errors[0]["loc"] == ["query", "n"]
    assert text_converter(str | None, ["query", "s"])("null") == "null"
    assert text_converter(int | str | None, ["query", "u"])("null") == "null"


def test_union_of_models_is_a_body_type() -> None:
    assert is_model_body(Cat | Dog)
    assert is_model_body(Cat | Dog | None)
    assert is_model_body(list[Cat | Dog])
    assert not is_model_body(Cat | int)
    assert json_decoder(Cat | Dog, ["body"])(b'{"type": "dog", "good": true}') == Dog(True)


def test_pydantic_bodies_are_strict_in_json_mode() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Event(pydantic.BaseModel):
        n: int
        ok: bool = True
        at: datetime.datetime | None = None

    for convert in (
        json_decoder(Event, ["body"]),
        lambda raw: value_converter(Event, ["body", "e"])(decode_json(raw)),
    ):
        assert convert(b'{"n": 2.0, "at": "2024-05-01T10:00:00Z"}') == Event(
            n=2, at=datetime.datetime(2024, 5, 1, 10, tzinfo=datetime.UTC)
        )
        for bad in (b'{"n": false}', b'{"n": "1"}', b'{"n": 1.5}', b'{"n": 1, "ok": 1}'):
            with pytest.raises(ValidationFailure):
                convert(bad)
    with pytest.raises(MalformedBody):
        json_decoder(Event, ["body"])(b'{"n": 1.0')


def test_constrained_puts_meta_inside_optional_and_keeps_metadata() -> None:
    assert constrained(int, {}) is int
    assert constrained(int, {"ge": 1}) == Annotated[int, msgspec.Meta(ge=1)]
    optional = constrained(int | None, {"ge": 1})
    assert optional == Annotated[int, msgspec.Meta(ge=1)] | None
    kept = constrained(Annotated[str, "doc"], {"max_length": 2})
    assert kept == Annotated[Annotated[str, msgspec.Meta(max_length=2)], "doc"]
    convert = text_converter(optional, ["query", "n"])
    assert convert("3") == 3
    with pytest.raises(ValidationFailure):
        convert("0")


@pytest.mark.parametrize(
    ("tp", "constraints", "match"),
    [
        (int, {"pattern": "^a$"}, "pattern"),
        (str, {"ge": 1}, "ge"),
        (str, {"pattern": "("}, "pattern"),
        (bool, {"max_length": 1}, "max_length"),
    ],
)
def test_constrained_refuses_what_does_not_fit(
    tp: Any, constraints: dict[str, Any], match: str
) -> None:
    with pytest.raises(TypeError, match=match):
        constrained(tp, constraints)


@given(st.integers(min_value=-50, max_value=50), st.integers(min_value=-60, max_value=60))
def test_ge_le_agree_with_python(bound: int, value: int) -> None:
    convert = text_converter(constrained(int, {"ge": bound, "le": bound + 10}), ["query", "n"])
    if bound <= value <= bound + 10:
        assert convert(str(value)) == value
    else:
        with pytest.raises(ValidationFailure):
            convert(str(value))


def test_handlers_json_datetimes_have_a_stable_precision() -> None:
    app = App(openapi_url=None)

    class Event(msgspec.Struct):
        at: datetime.datetime

    @app.get("/event")
    async def event() -> Event:
        return Event(datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC))

    @app.get("/events")
    async def events() -> list[dict[str, Any]]:
        return [
            {"at": datetime.datetime(2024, 5, 1, second=s, tzinfo=datetime.UTC)} for s in (0, 1)
        ]

    with TestClient(app) as client:
        assert client.get("/event").json() == {"at": "2024-05-01T00:00:00.000000Z"}
        assert client.get("/events").json() == [
            {"at": "2024-05-01T00:00:00.000000Z"},
            {"at": "2024-05-01T00:00:01.000000Z"},
        ]


class _Plain(msgspec.Struct):
    n: int
    tags: list[str]


class _Dated(msgspec.Struct):
    at: datetime.datetime | None


class _Tree(msgspec.Struct):
    name: str
    children: list[_Tree] = []


@pytest.mark.parametrize(
    ("tp", "may"),
    [
        (dict[str, str], False),
        (list[int], False),
        (_Plain, False),
        (list[_Plain], False),
        (_Tree, False),  # recursive, and no datetime anywhere
        (Annotated[int, msgspec.Meta(ge=1)], False),
        (str | None, False),
        (dict, True),
        (Any, True),
        (dict[str, Any], True),
        (_Dated, True),
        (list[_Dated], True),
        (tuple[int, datetime.datetime], True),
    ],
)
def test_may_hold_datetime(tp: Any, may: bool) -> None:
    assert may_hold_datetime(tp) is may


def test_a_type_without_datetimes_skips_the_datetime_check() -> None:
    raw = json_encoder(dict[str, str])
    assert raw({"a": "2024-05-01T12:00:00Z"}) == b'{"a":"2024-05-01T12:00:00Z"}'
    # a value the declared type does not allow is not looked at: msgspec's bytes as they are
    lie = {"a": datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC)}
    assert raw(lie) == b'{"a":"2024-05-01T00:00:00Z"}'
    assert json_encoder(dict)(lie) == b'{"a":"2024-05-01T00:00:00.000000Z"}'
    dated = json_encoder(_Dated)
    assert dated(_Dated(datetime.datetime(2024, 5, 1, tzinfo=datetime.UTC))) == (
        b'{"at":"2024-05-01T00:00:00.000000Z"}'
    )
