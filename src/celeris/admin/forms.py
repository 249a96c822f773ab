"""Form fields from columns: widgets, parsing and validation with errors per field."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import uuid
from typing import Any

from celeris.admin.introspect import FieldInfo

__all__ = ["FormError", "display", "input_type", "parse_value", "to_text"]

#: The HTML widgets a ``ModelAdmin.widgets`` entry may name.
WIDGETS = frozenset(
    {"text", "textarea", "number", "checkbox", "select", "date", "datetime", "time", "email",
     "url", "password", "hidden", "raw_id", "color"}
)  # fmt: skip

_INPUT = {
    "str": "text",
    "int": "number",
    "float": "number",
    "decimal": "number",
    "date": "date",
    "datetime": "datetime-local",
    "time": "time",
    "uuid": "text",
}


class FormError(ValueError):
    """A submitted value that does not fit its field; the message is shown beside it."""


def input_type(info: FieldInfo, widget: str | None) -> str:
    """Return the widget a field renders as: an ``<input type>`` or textarea/select/checkbox."""
    if widget:
        return {"datetime": "datetime-local"}.get(widget, widget)
    if info.kind in ("text", "json"):
        return "textarea"
    if info.kind == "bool":
        return "checkbox"
    if info.kind in ("enum",):
        return "select"
    if info.kind in ("fk", "m2m"):
        return "relation"
    return _INPUT.get(info.kind, "text")


def to_text(info: FieldInfo, value: Any) -> str:
    """Return a value as the text a form input holds."""
    if value is None:
        return ""
    if info.kind == "datetime" and isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return str(value.isoformat(timespec="seconds"))
    if info.kind == "enum" and hasattr(value, "name"):
        return str(value.name)
    if info.kind == "json":
        return json.dumps(value, indent=2, ensure_ascii=False)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def display(value: Any) -> str:
    """Return a value as a list cell or log entry shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if hasattr(value, "name") and hasattr(value, "value") and not isinstance(value, str):
        return str(value.value)
    return str(value)


def parse_value(info: FieldInfo, raw: str | None) -> Any:
    """Return the Python value of a submitted field, or raise ``FormError`` with the reason."""
    kind = info.kind
    if kind == "bool":
        return raw not in (None, "", "0", "off", "false")
    text = (raw or "").strip() if kind not in ("text", "str") else (raw or "")
    if text.strip() == "":
        if info.required and not info.nullable:
            raise FormError("This field is required.")
        if kind in ("str", "text") and not info.nullable:
            return ""
        return None
    if info.max_length is not None and len(text) > info.max_length:
        raise FormError(f"At most {info.max_length} characters (this has {len(text)}).")
    try:
        return _PARSERS[kind](info, text)
    except FormError:
        raise
    except (ValueError, TypeError, ArithmeticError, KeyError):
        raise FormError(_MESSAGES.get(kind, "Enter a valid value.")) from None


def _int(_info: FieldInfo, text: str) -> int:
    value = int(text, 10)
    if not -(2**63) <= value < 2**63:
        raise FormError("This number is out of range.")
    return value


def _float(_info: FieldInfo, text: str) -> float:
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):
        raise FormError("Enter a finite number.")
    return value


def _decimal(info: FieldInfo, text: str) -> decimal.Decimal:
    value = decimal.Decimal(text)
    if not value.is_finite():
        raise FormError("Enter a finite number.")
    scale = getattr(info.column.type, "scale", None)
    precision = getattr(info.column.type, "precision", None)
    if scale is not None and precision is not None:
        digits = len(value.as_tuple().digits)
        exponent = value.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        if places > scale or digits - places > precision - scale:
            raise FormError(
                f"At most {precision - scale} digits before and {scale} after the point."
            )
    return value


def _datetime(_info: FieldInfo, text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text)
    # NOTE: the browser's datetime-local input has no zone: the admin speaks UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _enum(info: FieldInfo, text: str) -> Any:
    names = {name for name, _ in info.choices}
    if text not in names:
        raise FormError("Select one of the choices.")
    if info.enum_class is not None:
        return info.enum_class[text]
    return text


def _json(_info: FieldInfo, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise FormError(f"Enter valid JSON ({error.msg} at line {error.lineno}).") from None


def _fk(info: FieldInfo, text: str) -> Any:
    python = info.column.type.python_type if info.column is not None else int
    return int(text, 10) if python is int else python(text)


_PARSERS: dict[str, Any] = {
    "str": lambda _i, t: t,
    "text": lambda _i, t: t,
    "int": _int,
    "float": _float,
    "decimal": _decimal,
    "date": lambda _i, t: dt.date.fromisoformat(t),
    "datetime": _datetime,
    "time": lambda _i, t: dt.time.fromisoformat(t),
    "uuid": lambda _i, t: uuid.UUID(t),
    "enum": _enum,
    "json": _json,
    "binary": lambda _i, t: bytes.fromhex(t),
    "fk": _fk,
}

_MESSAGES = {
    "int": "Enter a whole number.",
    "float": "Enter a number.",
    "decimal": "Enter a number.",
    "date": "Enter a date (YYYY-MM-DD).",
    "datetime": "Enter a date and time (YYYY-MM-DDTHH:MM).",
    "time": "Enter a time (HH:MM).",
    "uuid": "Enter a UUID.",
    "binary": "Enter hexadecimal bytes.",
    "fk": "Enter the id of a row.",
}
