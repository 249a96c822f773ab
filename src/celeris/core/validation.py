"""Decoding, conversion and encoding: the only core module that touches msgspec and pydantic.

Text sources (path, query, header, cookie, form) are converted leniently
(``msgspec.convert(..., strict=False)``: ``"1"`` becomes ``1``); JSON bodies are decoded
strictly (``"1"`` is not an int). Failures become lists of error items
``{"loc": [...], "msg": "...", "type": "..."}`` ready for a 422 problem.

pydantic is never imported here: a pydantic model can only reach us if the user imported
pydantic, so we find it in ``sys.modules`` when msgspec does not support a type.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import types
import typing
from collections.abc import Callable
from functools import cache
from typing import Any, Final, Union, get_args, get_origin

import msgspec

ErrorItem = dict[str, Any]

_PATH_TOKEN: Final = re.compile(r"\.([^.\[]+)|\[(\d+)\]")
_MISSING_FIELD: Final = re.compile(r"Object missing required field `([^`]+)`")


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


_SEQUENCE_ORIGINS: Final = (list, tuple, set, frozenset)


def is_sequence(tp: Any) -> bool:
    """Tell whether ``tp`` is a list-like type bound from repeated keys (``list[int]``)."""
    tp = strip_optional(strip_annotated(tp))
    origin = get_origin(tp) or tp
    if origin in _SEQUENCE_ORIGINS:
        return True
    import_abc = getattr(origin, "__module__", "") == "collections.abc"
    return import_abc and getattr(origin, "__name__", "") in ("Sequence", "Set", "MutableSequence")


def is_model_body(tp: Any) -> bool:
    """Tell whether ``tp`` is a model or a list of models (a body type by default)."""
    tp = strip_optional(strip_annotated(tp))
    if is_model(tp):
        return True
    if get_origin(tp) in (list, tuple, set, frozenset):
        args = get_args(tp)
        return bool(args) and is_model(strip_optional(strip_annotated(args[0])))
    return False


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
    return [{"loc": where, "msg": msg, "type": kind}]


def pydantic_errors(exc: Any, loc: list[str | int]) -> list[ErrorItem]:
    """Turn a pydantic ``ValidationError`` into error items under ``loc``."""
    return [
        {"loc": [*loc, *err.get("loc", ())], "msg": err.get("msg", ""), "type": err.get("type", "")}
        for err in exc.errors(include_url=False)
    ]


def missing_error(loc: list[str | int]) -> ErrorItem:
    """Return the error item for a required value that is absent."""
    return {"loc": loc, "msg": "Field required", "type": "missing"}


# --- converters -----------------------------------------------------------------------------


Converter = Callable[[Any], Any]


@cache
def _adapter(tp: Any) -> Any:
    pyd = _pydantic()
    if pyd is None:
        raise TypeError(f"cannot validate {tp!r}: msgspec does not support it")
    return pyd.TypeAdapter(tp)


def _msgspec_supports(tp: Any) -> bool:
    try:
        msgspec.json.Decoder(tp)
    except TypeError:
        return False
    return True


def text_converter(tp: Any, loc: list[str | int]) -> Converter:
    """Return a function converting text (or a list of texts) into ``tp``; raises ValidationFailure."""
    if tp is str or tp is Any or tp is object:
        return _identity
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
                raise ValidationFailure(msgspec_errors(exc, loc)) from None

        return convert_strict
    adapter = _adapter(tp)
    pyd_error = _pydantic().ValidationError  # type: ignore[union-attr]

    def convert_pydantic(value: Any) -> Any:
        try:
            return adapter.validate_python(value, strict=True)
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

        def decode_msgspec(body: bytes) -> Any:
            try:
                return decode(body)
            except msgspec.ValidationError as exc:
                raise ValidationFailure(msgspec_errors(exc, loc)) from None
            except msgspec.DecodeError as exc:
                raise MalformedBody(f"Malformed JSON body: {exc}") from None

        return decode_msgspec
    adapter = _adapter(tp)
    pyd_error = _pydantic().ValidationError  # type: ignore[union-attr]
    decode_any = msgspec.json.decode

    def decode_pydantic(body: bytes) -> Any:
        try:
            data = decode_any(body)
        except msgspec.DecodeError as exc:
            raise MalformedBody(f"Malformed JSON body: {exc}") from None
        try:
            return adapter.validate_python(data, strict=False)
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


_ENCODER: Final = msgspec.json.Encoder(enc_hook=_enc_hook)
encode_json: Final[Callable[[Any], bytes]] = _ENCODER.encode

_PASS_THROUGH: Final = (Any, object, dict, list, typing.Dict, typing.List)  # noqa: UP006


def _needs_filtering(tp: Any) -> bool:
    """Tell whether values must be converted to ``tp`` before encoding (models drop extras)."""
    if is_model(tp):
        return True
    return any(_needs_filtering(strip_annotated(arg)) for arg in get_args(tp))


def json_encoder(tp: Any) -> Callable[[Any], bytes]:
    """Return the encoder for values declared as ``tp``; raises ResponseValidationFailure."""
    tp = strip_annotated(tp)
    if tp in _PASS_THROUGH or tp is None or not _needs_filtering(tp):
        # PERF: plain containers are encoded as they are, with no conversion pass.
        return encode_json
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
            return encode_json(value)
        try:
            return encode_json(convert(value, tp, from_attributes=True))
        except msgspec.ValidationError as exc:
            raise ResponseValidationFailure(str(exc)) from exc

    return encode_filtered
