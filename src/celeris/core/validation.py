"""Decoding, conversion and encoding: the only core module that touches msgspec and pydantic.

Text sources (path, query, header, cookie, form) are converted leniently
(``msgspec.convert(..., strict=False)``: ``"1"`` becomes ``1``), except that a present
value is never ``None`` (``?n=null`` is not ``None`` for ``int | None``). JSON bodies are
decoded strictly (``"1"`` is not an int, ``false`` is not ``0``) but, as JSON Schema says,
an integral number such as ``1.0`` is an integer. Failures become lists of error items
``{"loc": [...], "msg": "...", "type": "..."}`` ready for a 422 problem.

pydantic is never imported here: a pydantic model can only reach us if the user imported
pydantic, so we find it in ``sys.modules`` when msgspec does not support a type.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import re
import sys
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, Final, Union, get_args, get_origin

import msgspec
import msgspec.inspect

ErrorItem = dict[str, Any]

_PATH_TOKEN: Final = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_MISSING_FIELD: Final = re.compile(r"Object missing required field `([^`]+)`")
_INT_GOT_FLOAT: Final = re.compile(r"Expected `(?:[^`]*\| )?int(?: \|[^`]*)?`, got `float`")


class ValidationFailure(Exception):
    """One or more values did not validate; ``errors`` holds the error items."""

    def __init__(self, errors: list[ErrorItem]) -> None:
        super().__init__(errors)
        self.errors = errors


class MalformedBody(Exception):
    """The body is not well-formed JSON; ``str(exc)`` says where."""


class ResponseValidationFailure(Exception):
    """A handler returned a value that does not match its declared response type."""


def _pydantic() -> Any | None:
    """Return the pydantic module if the application imported it."""
    return sys.modules.get("pydantic")


def is_pydantic_model(tp: Any) -> bool:
    """Tell whether ``tp`` is a pydantic ``BaseModel`` subclass."""
    pyd = _pydantic()
    return pyd is not None and isinstance(tp, type) and issubclass(tp, pyd.BaseModel)


def is_typeddict(tp: Any) -> bool:
    """Tell whether ``tp`` is a TypedDict class."""
    return isinstance(tp, type) and issubclass(tp, dict) and hasattr(tp, "__total__")


def is_model(tp: Any) -> bool:
    """Tell whether ``tp`` is a structured model (Struct, dataclass, TypedDict, pydantic)."""
    if isinstance(tp, type):
        return (
            issubclass(tp, msgspec.Struct)
            or dataclasses.is_dataclass(tp)
            or is_typeddict(tp)
            or is_pydantic_model(tp)
        )
    return False


def strip_optional(tp: Any) -> Any:
    """Return ``T`` for ``T | None`` / ``Optional[T]``, else ``tp``."""
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def strip_annotated(tp: Any) -> Any:
    """Return ``T`` for ``Annotated[T, ...]``, else ``tp``."""
    while get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return tp


_SEQUENCE_ORIGINS: Final = (
    list,
    tuple,
    set,
    frozenset,
    collections.abc.Sequence,
    collections.abc.MutableSequence,
    collections.abc.Set,
)


def is_sequence(tp: Any) -> bool:
    """Tell whether ``tp`` is a list-like type bound from repeated keys (``list[int]``)."""
    tp = strip_optional(strip_annotated(tp))
    origin = get_origin(tp) or tp
    return origin in _SEQUENCE_ORIGINS


def is_model_body(tp: Any) -> bool:
    """Tell whether ``tp`` is a model, a union of models or a list of them (a body by default)."""
    tp = strip_optional(strip_annotated(tp))
    if is_model(tp):
        return True
    if get_origin(tp) in (Union, types.UnionType):
        members = [a for a in get_args(tp) if a is not type(None)]
        return all(is_model_body(a) for a in members)
    if get_origin(tp) in (list, tuple, set, frozenset):
        args = get_args(tp)
        return bool(args) and is_model_body(args[0])
    return False


def without_none(tp: Any) -> Any:
    """Return ``tp`` with ``None`` removed from a union (``Annotated`` metadata kept)."""
    if get_origin(tp) is typing.Annotated:
        base, *meta = get_args(tp)
        stripped = without_none(base)
        return tp if stripped is base else typing.Annotated[(stripped, *meta)]
    if get_origin(tp) in (Union, types.UnionType):
        args = tuple(a for a in get_args(tp) if a is not type(None))
        if args and len(args) < len(get_args(tp)):
            return args[0] if len(args) == 1 else Union[args]  # noqa: UP007
    return tp


def constrained(tp: Any, constraints: dict[str, Any]) -> Any:
    """Return ``tp`` with ``msgspec.Meta(**constraints)`` on it (inside ``| None``).

    Raises TypeError when a constraint does not fit the type (``pattern`` on an ``int``).
    """
    if not constraints:
        return tp
    if get_origin(tp) is typing.Annotated:
        base, *meta = get_args(tp)
        return typing.Annotated[(constrained(base, constraints), *meta)]
    if get_origin(tp) in (Union, types.UnionType):
        args = get_args(tp)
        if type(None) in args:
            inner = [constrained(a, constraints) for a in args if a is not type(None)]
            return Union[(*inner, type(None))]
    try:
        out = typing.Annotated[tp, msgspec.Meta(**constraints)]
        msgspec.json.Decoder(out)
    except (TypeError, ValueError, re.error) as exc:
        given = ", ".join(f"{k}={v!r}" for k, v in constraints.items())
        raise TypeError(f"{given} does not apply to {tp!r}: {exc}") from None
    return out


def integral(value: Any) -> Any:
    """Return decoded JSON with integral floats (``1.0``) as ints, recursively."""
    cls = value.__class__
    if cls is float:
        return int(value) if value.is_integer() else value
    if cls is list:
        return [integral(v) for v in value]
    if cls is dict:
        return {k: integral(v) for k, v in value.items()}
    return value


def _int_got_float(exc: msgspec.ValidationError) -> bool:
    """Tell whether msgspec refused a float where an int was expected (maybe ``1.0``)."""
    return _INT_GOT_FLOAT.match(str(exc)) is not None


def _pydantic_int_got_float(exc: Any) -> bool:
    return any(
        err.get("type") == "int_type" and isinstance(err.get("input"), float)
        for err in exc.errors(include_url=False)
    )


# --- error items ----------------------------------------------------------------------------


def _loc_of_path(path: str) -> list[str | int]:
    loc: list[str | int] = []
    for name, index in _PATH_TOKEN.findall(path):
        loc.append(int(index) if index else name)
    return loc


def msgspec_errors(exc: msgspec.ValidationError, loc: list[str | int]) -> list[ErrorItem]:
    """Turn a msgspec validation error into error items under ``loc``."""
    text = str(exc)
    msg, sep, path = text.rpartition(" - at `")
    if not sep:
        msg, path = text, ""
    where = [*loc, *_loc_of_path(path.rstrip("`"))]
    missing = _MISSING_FIELD.match(msg)
    if missing:
        return [{"loc": [*where, missing.group(1)], "msg": "Field required", "type": "missing"}]
    kind = "type_error" if msg.startswith("Expected `") and "`," in msg else "value_error"
    if msg.startswith("Object contains unknown field"):
        kind = "extra_forbidden"
    return [{"loc": where, "msg": readable(msg, text=bool(loc) and loc[0] != "body"), "type": kind}]


# what msgspec's type names are, in a user's words ("must be an integer")
_NOUNS: Final = {
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "str": "text",
    "null": "null",
    "array": "a list",
    "object": "an object",
    "bytes": "base64 text",
    "datetime": "a date and time",
    "date": "a date",
    "time": "a time",
    "uuid": "a UUID",
    "decimal": "a decimal number",
    "duration": "a duration",
}
_GOT: Final = {**_NOUNS, "bool": "a boolean", "str": "a string"}
_UNITS: Final = {
    "str": ("be", "character long", "characters long"),
    "bytes": ("be", "byte long", "bytes long"),
    "array": ("have", "item", "items"),
    "object": ("have", "key", "keys"),
}
_EXPECTED: Final = re.compile(r"Expected `([^`]+)`(?:, got `([^`]+)`)?(.*)")
_BOUND: Final = re.compile(r" (>=|>|<=|<) (\S+)$")
_LENGTH: Final = re.compile(r" of length (>=|<=) (\d+)$")
_WORDS: Final = {">=": "at least", ">": "greater than", "<=": "at most", "<": "less than"}
_INVALID: Final = {
    "Invalid RFC3339 encoded datetime": "must be a date and time such as 2024-05-01T12:00:00Z",
    "Invalid RFC3339 encoded date": "must be a date such as 2024-05-01",
    "Invalid RFC3339 encoded time": "must be a time such as 12:00:00",
    "Invalid UUID": "must be a UUID",
    "Invalid decimal string": "must be a decimal number",
    "Invalid ISO8601 duration": "must be an ISO 8601 duration such as PT30S",
    "Invalid base64 encoded string": "must be base64 text",
}


def readable(msg: str, *, text: bool = True) -> str:
    """Say a msgspec message in a user's terms: "Expected `int`, got `str`" is "must be an integer".

    ``text``: the value came as text (query, path, header, cookie, form), so what it "got" is
    always text and goes unsaid; a JSON body's wrong type is named (", not text").
    """
    known = _INVALID.get(msg)
    if known is not None:
        return known
    if msg.startswith("Invalid enum value "):
        return f"{msg[len('Invalid enum value ') :]} is not one of the allowed values"
    match = _EXPECTED.fullmatch(msg)
    if match is None:
        return msg
    expected, got, rest = match.groups()
    nouns = [_NOUNS.get(part.strip()) for part in expected.split("|")]
    if not all(nouns):
        return msg
    said = "must be " + " or ".join(n for n in nouns if n)
    bound = _BOUND.fullmatch(rest) if rest else None
    length = _LENGTH.fullmatch(rest) if rest else None
    if length is not None:
        count = length[2]
        verb, one, many = _UNITS.get(expected, _UNITS["array"])
        said = f"must {verb} {_WORDS[length[1]]} {count} {one if count == '1' else many}"
    elif bound is not None:
        said += f", {_WORDS[bound[1]]} {bound[2]}"
    elif rest.startswith(" matching regex "):
        said = f"must match the pattern {rest[len(' matching regex ') :]}"
    elif rest.startswith(" that is a multiple of "):
        said += f", a multiple of {rest[len(' that is a multiple of ') :]}"
    elif rest:
        return msg
    if got is not None and not text:
        said += f", not {_GOT.get(got, got)}"
    return said


def pydantic_errors(exc: Any, loc: list[str | int]) -> list[ErrorItem]:
    """Turn a pydantic ``ValidationError`` into error items under ``loc``."""
    return [
        {"loc": [*loc, *err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors(include_url=False)
    ]


def missing_error(loc: list[str | int]) -> ErrorItem:
    """Return the error item for a required value that is absent."""
    return {"loc": loc, "msg": "Field required", "type": "missing"}


def repeated_error(loc: list[str | int], count: int) -> ErrorItem:
    """Return the error item for a single-valued key given ``count`` times."""
    return {
        "loc": loc,
        "msg": f"Expected one value, got {count} (declare a list type to accept repeats)",
        "type": "multiple_values",
    }


# --- converters -----------------------------------------------------------------------------


Converter = Callable[[Any], Any]


@cache
def _adapter(tp: Any) -> Any:
    pyd = _pydantic()
    if pyd is None:
        raise TypeError(f"cannot validate {tp!r}: msgspec does not support it")
    return pyd.TypeAdapter(tp)


def _contains_pydantic(tp: Any) -> bool:
    if _pydantic() is None:
        return False
    tp = strip_annotated(tp)
    return is_pydantic_model(tp) or any(_contains_pydantic(arg) for arg in get_args(tp))


def _msgspec_supports(tp: Any) -> bool:
    """Tell whether msgspec handles ``tp`` (pydantic models go to pydantic instead)."""
    if _contains_pydantic(tp):
        return False
    try:
        msgspec.json.Decoder(tp)
    except TypeError:
        return False
    return True


def text_converter(tp: Any, loc: list[str | int]) -> Converter:
    """Return a function converting text (or a list of texts) into ``tp``; raises ValidationFailure."""
    if tp is Any or tp is object or strip_optional(tp) is str:
        # PERF: text is already text (a present value is never None).
        return _identity
    # NOTE: only absence gives None: "null" in a query string is not None for int | None.
    tp = without_none(tp)
    if _msgspec_supports(tp):
        convert = msgspec.convert

        def convert_text(value: Any) -> Any:
            try:
                return convert(value, tp, strict=False)
            except msgspec.ValidationError as exc:
                raise ValidationFailure(msgspec_errors(exc, loc)) from None

        return convert_text
    adapter = _adapter(tp)
    pyd_error = _pydantic().ValidationError  # type: ignore[union-attr]

    def convert_pydantic(value: Any) -> Any:
        try:
            return adapter.validate_python(value)
        except pyd_error as exc:
            raise ValidationFailure(pydantic_errors(exc, loc)) from None

    return convert_pydantic


def _identity(value: Any) -> Any:
    return value


#: The converter of a ``str`` / ``Any`` value: the compiled extractors skip calling it.
identity: Converter = _identity


def value_converter(tp: Any, loc: list[str | int]) -> Converter:
    """Return a strict converter for an already-decoded JSON value (an embedded body member)."""
    if tp is Any or tp is object:
        return _identity
    if _msgspec_supports(tp):
        convert = msgspec.convert

        def convert_strict(value: Any) -> Any:
            try:
                return convert(value, tp, strict=True)
            except msgspec.ValidationError as exc:
                if not _int_got_float(exc):
                    raise ValidationFailure(msgspec_errors(exc, loc)) from None
            try:
                return convert(integral(value), tp, strict=True)
            except msgspec.ValidationError as exc:
                raise ValidationFailure(msgspec_errors(exc, loc)) from None

        return convert_strict
    adapter = _adapter(tp)
    pyd_error = _pydantic().ValidationError  # type: ignore[union-attr]
    encode = msgspec.json.encode

    def convert_pydantic(value: Any) -> Any:
        # NOTE: JSON-mode strictness: ISO datetime strings pass, ``false`` is not 0.
        raw = encode(value)
        try:
            return adapter.validate_json(raw, strict=True)
        except pyd_error as exc:
            if not _pydantic_int_got_float(exc):
                raise ValidationFailure(pydantic_errors(exc, loc)) from None
        try:
            return adapter.validate_json(encode(integral(value)), strict=True)
        except pyd_error as exc:
            raise ValidationFailure(pydantic_errors(exc, loc)) from None

    return convert_pydantic


Decoder = Callable[[bytes], Any]


def json_decoder(tp: Any, loc: list[str | int]) -> Decoder:
    """Return a strict JSON decoder into ``tp``; raises MalformedBody or ValidationFailure."""
    if tp is bytes:
        return _identity
    if _msgspec_supports(tp):
        decode = msgspec.json.Decoder(tp).decode
        convert = msgspec.convert

        def decode_msgspec(body: bytes) -> Any:
            try:
                return decode(body)
            except msgspec.ValidationError as exc:
                if not _int_got_float(exc):
                    raise ValidationFailure(msgspec_errors(exc, loc)) from None
            except msgspec.DecodeError as exc:
                raise MalformedBody(f"Malformed JSON body: {exc}") from None
            # NOTE: the slow path, for integral floats only: decode, turn 1.0 into 1, convert.
            try:
                return convert(integral(decode_json(body)), tp, strict=True)
            except msgspec.ValidationError as exc:
                raise ValidationFailure(msgspec_errors(exc, loc)) from None

        return decode_msgspec
    adapter = _adapter(tp)
    pyd_error = _pydantic().ValidationError  # type: ignore[union-attr]
    encode = msgspec.json.encode

    def decode_pydantic(body: bytes) -> Any:
        # NOTE: strict JSON mode: ``false`` is not 0 and ``"1"`` not 1, ISO dates still parse.
        try:
            return adapter.validate_json(body, strict=True)
        except pyd_error as exc:
            failure = exc
        if any(err.get("type") == "json_invalid" for err in failure.errors(include_url=False)):
            raise MalformedBody(f"Malformed JSON body: {failure.errors()[0]['msg']}") from None
        if not _pydantic_int_got_float(failure):
            raise ValidationFailure(pydantic_errors(failure, loc)) from None
        try:
            return adapter.validate_json(encode(integral(decode_json(body))), strict=True)
        except pyd_error as exc:
            raise ValidationFailure(pydantic_errors(exc, loc)) from None

    return decode_pydantic


def decode_json(body: bytes) -> Any:
    """Decode any JSON value; raises MalformedBody."""
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise MalformedBody(f"Malformed JSON body: {exc}") from None


# --- encoders -------------------------------------------------------------------------------


def _enc_hook(obj: Any) -> Any:
    if hasattr(obj, "model_dump") and is_pydantic_model(type(obj)):
        return obj.model_dump(mode="json")
    raise NotImplementedError(f"Objects of type {type(obj).__name__} are not JSON serializable")


# NOTE: the JSON rule for datetimes: always six fractional digits (microseconds: lossless and
# fixed-width), ``Z`` for UTC, ``+hh:mm`` for other offsets, no offset only for a naive one.
# msgspec writes the fraction only when it is non-zero; encoders built here add it back.
# PERF: a literal first character ("T") lets the regex engine skip to candidates quickly.
_BARE_DATETIME: Final = re.compile(rb'T\d\d:\d\d:\d\d(?:Z|[+-]\d\d:\d\d)?"')
_DATETIMES: Final = (datetime.datetime,)
_RAW_ENCODE: Final = msgspec.json.Encoder().encode


def datetime_text(value: datetime.datetime) -> str:
    """Return a datetime as JSON writes it: ``2024-05-01T12:00:00.000000Z``."""
    return _datetime_json(value)[1:-1].decode()


def _datetime_json(value: datetime.datetime) -> bytes:
    # PERF: msgspec formats a datetime in ~40 ns (isoformat(timespec=...) takes ~850 ns);
    # only the fraction it leaves out when zero is put back.
    text = _RAW_ENCODE(value)
    if value.microsecond == 0:
        return text[:20] + b".000000" + text[20:]
    return text


def _with_datetime_texts(value: Any) -> Any:
    """Return builtins with each zero-microsecond datetime as its JSON text (``Raw``)."""
    cls = value.__class__
    if cls is dict:
        out = {}
        for key, item in value.items():
            kind = item.__class__
            if kind is dict or kind is list or isinstance(item, datetime.datetime):
                item = _with_datetime_texts(item)
            out[key] = item
        return out
    if cls is list:
        return [_with_datetime_texts(item) for item in value]
    if isinstance(value, datetime.datetime) and value.microsecond == 0:
        return msgspec.Raw(_datetime_json(value))
    return value


def stable_datetimes(
    encode: Callable[[Any], bytes], enc_hook: Callable[[Any], Any]
) -> Callable[[Any], bytes]:
    """Wrap a msgspec JSON ``encode`` so that every datetime keeps six fractional digits."""
    to_builtins = msgspec.to_builtins
    search = _BARE_DATETIME.search

    def encode_stable(value: Any) -> bytes:
        out = encode(value)
        # PERF: a memchr for "T" first (every datetime has one); the scan only when it is there.
        if out.find(b"T") < 0 or search(out) is None:
            return out
        # NOTE: the rare case: a datetime with zero microseconds (or text that looks like one).
        plain = to_builtins(value, builtin_types=_DATETIMES, enc_hook=enc_hook)
        return encode(_with_datetime_texts(plain))

    return encode_stable


_ENCODER: Final = msgspec.json.Encoder(enc_hook=_enc_hook)
encode_json: Final[Callable[[Any], bytes]] = stable_datetimes(_ENCODER.encode, _enc_hook)

_PASS_THROUGH: Final = (Any, object, dict, list, typing.Dict, typing.List)  # noqa: UP006


def _needs_filtering(tp: Any) -> bool:
    """Tell whether values must be converted to ``tp`` before encoding (models drop extras)."""
    if is_model(tp):
        return True
    return any(_needs_filtering(strip_annotated(arg)) for arg in get_args(tp))


_NO_DATETIME: Final = (
    msgspec.inspect.BoolType,
    msgspec.inspect.BytesType,
    msgspec.inspect.ByteArrayType,
    msgspec.inspect.DateType,
    msgspec.inspect.DecimalType,
    msgspec.inspect.EnumType,
    msgspec.inspect.FloatType,
    msgspec.inspect.IntType,
    msgspec.inspect.LiteralType,
    msgspec.inspect.NoneType,
    msgspec.inspect.StrType,
    msgspec.inspect.TimeDeltaType,
    msgspec.inspect.TimeType,
    msgspec.inspect.UUIDType,
)


def may_hold_datetime(tp: Any) -> bool:
    """Tell whether a value declared as ``tp`` can hold a datetime (``Any`` and ``dict`` can)."""
    try:
        info = msgspec.inspect.type_info(tp)
    except (TypeError, ValueError):
        return True
    return _holds_datetime(info, set())


def _holds_datetime(info: Any, seen: set[int]) -> bool:
    if isinstance(info, _NO_DATETIME):
        return False
    if isinstance(info, msgspec.inspect.Metadata):
        return _holds_datetime(info.type, seen)
    if isinstance(info, msgspec.inspect.UnionType):
        return any(_holds_datetime(member, seen) for member in info.types)
    if isinstance(info, msgspec.inspect.CollectionType):  # list, set, frozenset, tuple[T, ...]
        return _holds_datetime(info.item_type, seen)
    if isinstance(info, msgspec.inspect.TupleType):
        return any(_holds_datetime(item, seen) for item in info.item_types)
    if isinstance(info, msgspec.inspect.DictType):
        return _holds_datetime(info.key_type, seen) or _holds_datetime(info.value_type, seen)
    fields = getattr(info, "fields", None)  # Struct, dataclass, TypedDict, NamedTuple
    if fields is not None:
        if id(info.cls) in seen:  # NOTE: a recursive model: its fields are being looked at
            return False
        seen.add(id(info.cls))
        return any(_holds_datetime(field.type, seen) for field in fields)
    return True  # Any, datetime, a custom type: anything may be inside


def json_encoder(tp: Any) -> Callable[[Any], bytes]:
    """Return the encoder for values declared as ``tp``; raises ResponseValidationFailure."""
    tp = strip_annotated(tp)
    # PERF: a declared type that cannot hold a datetime (``dict[str, str]``) skips the check
    # that keeps datetimes' fractions (stable_datetimes): msgspec's bytes are already final.
    encode = encode_json if may_hold_datetime(tp) else _ENCODER.encode
    if tp in _PASS_THROUGH or tp is None or not _needs_filtering(tp):
        # PERF: plain containers are encoded as they are, with no conversion pass.
        return encode
    if not _msgspec_supports(tp):
        adapter = _adapter(tp)

        def encode_pydantic(value: Any) -> bytes:
            try:
                model = adapter.validate_python(value, from_attributes=True)
            except Exception as exc:
                raise ResponseValidationFailure(str(exc)) from exc
            return bytes(adapter.dump_json(model))

        return encode_pydantic
    convert = msgspec.convert
    exact = tp if isinstance(tp, type) and issubclass(tp, msgspec.Struct) else None

    def encode_filtered(value: Any) -> bytes:
        if exact is not None and type(value) is exact:
            # PERF: a Struct of exactly the declared type has nothing to filter.
            return encode(value)
        try:
            return encode(convert(value, tp, from_attributes=True))
        except msgspec.ValidationError as exc:
            raise ResponseValidationFailure(str(exc)) from exc

    return encode_filtered
