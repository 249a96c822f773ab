"""Redaction: secret-looking keys, secret headers, and the app's secret values, everywhere."""

from __future__ import annotations

import dataclasses
import re
import reprlib
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from celeris.settings import MASK, Secret, is_secret_name

__all__ = ["MASK", "SECRET_HEADERS", "Redactor", "secret_values"]

#: Headers whose value is always replaced, whatever it holds.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-csrf-token",
        "x-xsrf-token",
        "x-api-key",
        "x-auth-token",
        "x-sentry-auth",
        "sec-websocket-protocol",  # NOTE: browsers cannot set Authorization on a WebSocket
    }
)
# NOTE: a key (local variable, header, query or form field, dict key) that looks like it holds a
# secret; "auth" and "pass" are anchored, or "author" and "bypass" would match.
_SECRET_KEY = re.compile(
    r"password|passwd|passphrase|(^|[-_])pass$|^pwd$|secret|token|api[-_]?key|access[-_]?key"
    r"|private[-_]?key|credential|authorization|^auth$|cookie|session[-_]?id|csrf|xsrf|jwt"
    r"|signature|^dsn$",
    re.I,
)
# Credentials that are recognisable by their shape wherever they appear in a string.
_SHAPES = (
    (re.compile(r"\b(Bearer|Basic|Token|Digest)\s+[A-Za-z0-9._~+/=-]{6,}", re.I), rf"\1 {MASK}"),
    (re.compile(r"([a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@/\s]+)(@)", re.I), rf"\1{MASK}\3"),
)
_MIN_SECRET = 6  # shorter "secrets" ("", "dev", "1") would mask half of every traceback


def secret_values(settings: Any) -> list[str]:
    """Return the values the app's settings mark secret (and passwords inside URL settings)."""
    if settings is None:
        return []
    as_dict = getattr(settings, "as_dict", None)
    try:
        values: Mapping[str, Any] = (
            as_dict(reveal=True) if callable(as_dict) else dict(vars(settings))
        )
    except Exception:  # NOTE: an odd settings object: nothing to learn from it
        return []
    found: list[str] = []
    for name, value in values.items():
        if not isinstance(value, str | bytes) or not value:
            continue
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
        if isinstance(value, Secret) or is_secret_name(name):
            found.append(text)
        found.extend(match.group(2) for match in _SHAPES[1][0].finditer(text))
    return [value for value in found if len(value) >= _MIN_SECRET]


class Redactor:
    """Mask secrets in keys, headers, text and reprs; bound every repr's size."""

    def __init__(self, secrets: Iterable[str] = (), *, max_repr: int = 512) -> None:
        values = sorted({value for value in secrets if len(value) >= _MIN_SECRET}, key=len)
        values.reverse()  # NOTE: the longest first, so a secret holding another is masked whole
        self._values = re.compile("|".join(map(re.escape, values))) if values else None
        self.max_repr = max_repr
        self._repr = _SafeRepr(self)

    @staticmethod
    def is_secret_key(name: object) -> bool:
        """Tell whether a key's name says its value is a secret."""
        return isinstance(name, str) and _SECRET_KEY.search(name) is not None

    def text(self, value: str) -> str:
        """Return ``value`` with every known secret value and credential shape masked."""
        value = value.replace("\x00", "\\x00")  # NOTE: PostgreSQL text cannot hold NUL
        if self._values is not None:
            value = self._values.sub(MASK, value)
        for pattern, replacement in _SHAPES:
            value = pattern.sub(replacement, value)
        return value

    def value(self, key: object, value: Any) -> Any:
        """Return a JSON-able, redacted copy of ``value`` found under ``key``."""
        if self.is_secret_key(key):
            return MASK
        if isinstance(value, str):
            return self.text(value[: self.max_repr])
        if isinstance(value, bool | int | float) or value is None:
            return value
        if isinstance(value, Mapping):
            items = list(value.items())[:50]
            return {str(k): self.value(k, v) for k, v in items}
        if isinstance(value, list | tuple):
            return [self.value(key, item) for item in value[:50]]
        return self.repr(value)

    def header(self, name: str, value: str) -> str:
        """Return a header's value, masked when the header carries credentials."""
        if name.lower() in SECRET_HEADERS or self.is_secret_key(name):
            return MASK
        return self.text(value)

    def repr(self, value: Any) -> str:
        """Return a bounded, redacted ``repr`` that never raises."""
        try:
            shown = self._repr.repr(value)
        except Exception as error:
            shown = f"<unrepresentable {type(value).__name__}: {type(error).__name__}>"
        if len(shown) > self.max_repr:
            shown = shown[: self.max_repr - 3] + "..."
        return self.text(shown)


class _SafeRepr(reprlib.Repr):
    """``reprlib`` with secret keys and fields masked in dicts, mappings, dataclasses, Structs."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor
        self.maxstring = 240
        self.maxother = 240
        self.maxdict = self.maxlist = self.maxtuple = self.maxset = 20
        self.maxlevel = 4

    def _pairs(self, pairs: Iterable[tuple[Any, Any]], level: int) -> str:
        shown = []
        for index, (key, value) in enumerate(pairs):
            if index >= self.maxdict:
                shown.append("...")
                break
            text = MASK if self.redactor.is_secret_key(key) else self.repr1(value, level - 1)
            shown.append(f"{self.repr1(key, level - 1)}: {text}")
        return ", ".join(shown)

    def repr_tuple(self, x: tuple[Any, ...], level: int) -> str:
        # NOTE: an ASGI header pair, (b"cookie", b"..."), as in a frame's ``scope`` local
        if len(x) == 2 and isinstance(x[0], bytes | str) and level > 0:
            name = x[0].decode("latin-1") if isinstance(x[0], bytes) else x[0]
            if name.lower() in SECRET_HEADERS:
                return f"({self.repr1(x[0], level - 1)}, {MASK})"
        return super().repr_tuple(x, level)

    def repr_dict(self, x: dict[Any, Any], level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        return "{" + self._pairs(x.items(), level) + "}"

    def repr_instance(self, x: Any, level: int) -> str:
        cls = type(x)
        fields: tuple[str, ...] | None = None
        if isinstance(x, msgspec.Struct):
            fields = cls.__struct_fields__
        elif dataclasses.is_dataclass(x):
            fields = tuple(field.name for field in dataclasses.fields(x))
        if fields is not None:
            if level <= 0:
                return f"{cls.__name__}(...)"
            parts = []
            for name in fields[: self.maxdict]:
                value = getattr(x, name, None)
                text = MASK if self.redactor.is_secret_key(name) else self.repr1(value, level - 1)
                parts.append(f"{name}={text}")
            return f"{cls.__name__}({', '.join(parts)})"
        if isinstance(x, Mapping) and not isinstance(x, type):
            if level <= 0:
                return f"{cls.__name__}({{...}})"
            try:
                return f"{cls.__name__}({{{self._pairs(x.items(), level)}}})"
            except Exception:  # NOTE: a Mapping whose items() fails: its own repr, bounded
                pass
        return super().repr_instance(x, level)
