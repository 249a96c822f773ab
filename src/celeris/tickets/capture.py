"""Turn an exception (and the request it ended) into a redacted, bounded ``Ticket``."""

from __future__ import annotations

import datetime
import hashlib
import json
import linecache
import os
import re
import sysconfig
import traceback
import types
import urllib.parse
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from celeris.core.routing import WEBSOCKET
from celeris.tickets.base import Ticket
from celeris.tickets.redact import Redactor

__all__ = ["Capture", "fingerprint", "in_app", "method_of", "new_id"]

_CONTEXT = 5  # source lines each side of the current one
_MAX_FRAMES = 40  # the innermost ones: where it failed
_MAX_LOCALS = 40
_MAX_LINE = 240
_MAX_MESSAGE = 2000
_MAX_BODY = 16_384
_LIBRARY_ROOTS = tuple(
    {
        os.path.realpath(path)
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (path := sysconfig.get_paths().get(key))
    }
)
_CELERIS_ROOT = str(Path(__file__).resolve().parents[1])
_ADDRESS = re.compile(r"0x[0-9a-f]+", re.I)


def new_id() -> str:
    """Return a new, unguessable ticket id."""
    return uuid.uuid4().hex


def method_of(request: Any) -> str:
    """Return the request's method; a WebSocket handshake's is ``WEBSOCKET``, as in the routes."""
    method = getattr(request, "method", None)
    return str(method) if method else WEBSOCKET


def in_app(filename: str) -> bool:
    """Tell whether ``filename`` is the app's code: not the stdlib, a library or celeris."""
    if not filename or filename.startswith("<"):
        return False
    path = os.path.realpath(filename)
    if path.startswith(_CELERIS_ROOT + os.sep):
        return False
    return not any(path.startswith(root + os.sep) for root in _LIBRARY_ROOTS)


def fingerprint(exc_type: str, frames: Sequence[dict[str, Any]]) -> str:
    """Return the grouping key: the type and the app's frames (module, function, source line).

    Line numbers and the message stay out: an edit above the failing line or a different id
    in the message is still the same error.
    """
    chosen = [frame for frame in frames if frame.get("in_app")] or list(frames)
    parts = [exc_type]
    for frame in chosen:
        line = ""
        for item in frame.get("context_lines") or ():
            if item.get("lineno") == frame.get("lineno"):
                line = str(item.get("line", "")).strip()
        module = frame.get("module") or Path(str(frame.get("filename", ""))).name
        parts.append(f"{module}:{frame.get('function')}:{_ADDRESS.sub('0x', line)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    return (
        cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"
    )


class Capture:
    """Build tickets with one ``Redactor``; every step is bounded and none raises."""

    def __init__(self, redactor: Redactor, *, release: str | None = None) -> None:
        self.redactor = redactor
        self.release = release

    def ticket(
        self,
        exc: BaseException,
        *,
        request: Any = None,
        route: str | None = None,
        now: datetime.datetime | None = None,
    ) -> Ticket:
        """Return the ticket of ``exc`` raised while answering ``request``."""
        exc_type = _type_name(exc)
        frames = self.frames(exc.__traceback__)
        key = fingerprint(exc_type, frames)
        return Ticket(
            id=new_id(),
            group_id=key[:32],
            created=now or datetime.datetime.now(datetime.UTC),
            exc_type=exc_type,
            message=self.message(exc),
            frames=frames,
            request=self.request(request, route) if request is not None else None,
            user=self.user(request) if request is not None else None,
            release=self.release[:200] if self.release else None,
            route=route,
            fingerprint=key,
        )

    def message(self, exc: BaseException) -> str:
        """Return the exception's message, redacted and bounded (with its cause's type)."""
        try:
            text = str(exc)
        except Exception:
            text = "<the message could not be read>"
        cause = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if cause is not None:
            text = f"{text} (from {_type_name(cause)}: {self._str(cause)})"
        return self.redactor.text(text[:_MAX_MESSAGE])

    @staticmethod
    def _str(exc: BaseException) -> str:
        try:
            return str(exc)[:500]
        except Exception:
            return "?"

    def frames(self, tb: types.TracebackType | None) -> list[dict[str, Any]]:
        """Return the traceback's frames, innermost last, with source lines and locals."""
        walked = list(traceback.walk_tb(tb))[-_MAX_FRAMES:]
        return [self.frame(frame, lineno) for frame, lineno in walked]

    def frame(self, frame: types.FrameType, lineno: int) -> dict[str, Any]:
        """Return one frame: where, the source around it, and its locals (redacted reprs)."""
        code = frame.f_code
        filename = code.co_filename
        return {
            "filename": filename,
            "module": frame.f_globals.get("__name__"),
            "lineno": lineno,
            "function": getattr(code, "co_qualname", code.co_name),
            "context_lines": self.source(filename, lineno, frame.f_globals),
            "locals": self.locals(frame.f_locals.items()),
            "in_app": in_app(filename),
        }

    def source(
        self, filename: str, lineno: int, module_globals: Any = None
    ) -> list[dict[str, Any]]:
        """Return the source lines around ``lineno`` (each: lineno, line)."""
        lines = linecache.getlines(filename, module_globals)
        first = max(lineno - _CONTEXT, 1)
        last = min(lineno + _CONTEXT, len(lines))
        return [
            {
                "lineno": number,
                "line": self.redactor.text(lines[number - 1].rstrip("\n")[:_MAX_LINE]),
            }
            for number in range(first, last + 1)
        ]

    def locals(self, items: Iterable[tuple[str, Any]]) -> dict[str, str]:
        """Return the locals' names and redacted, bounded reprs."""
        shown: dict[str, str] = {}
        for name, value in items:
            if len(shown) >= _MAX_LOCALS:
                shown["..."] = "more locals left out"
                break
            if name.startswith("__") and name.endswith("__"):
                continue
            shown[name] = (
                "**********" if self.redactor.is_secret_key(name) else self.redactor.repr(value)
            )
        return shown

    def request(self, request: Any, route: str | None) -> dict[str, Any]:
        """Return the request line, headers, query, client and (if read) body, redacted.

        ``request`` may be a ``WebSocket``: its handshake's path, headers, query and client.
        """
        redactor = self.redactor
        try:
            pairs = list(request.query_params.multi_items())
        except Exception:
            pairs = []
        query = [[key, redactor.value(key, value)] for key, value in pairs[:100]]
        headers: dict[str, str] = {}
        for name, value in list(request.headers.items())[:100]:
            shown = redactor.header(name, value)
            headers[name] = f"{headers[name]}, {shown}" if name in headers else shown
        client = request.client
        path = redactor.text(str(request.url.path))
        encoded = urllib.parse.urlencode([(key, str(value)) for key, value in query])
        shown_request: dict[str, Any] = {
            "method": method_of(request),
            "path": path,
            "url": f"{path}?{encoded}" if encoded else path,
            "query": query,
            "headers": headers,
            "client": f"{client[0]}:{client[1]}" if client else None,
            "route": route,
        }
        data = self.body(request, headers.get("content-type", ""))
        if data is not None:
            shown_request["data"] = data
        return shown_request

    def body(self, request: Any, content_type: str) -> Any:
        """Return the body if the handler already read it: form and JSON fields redacted."""
        read = getattr(request, "body_read", None)
        raw = read() if callable(read) else None
        if not raw:
            return None
        kind = content_type.partition(";")[0].strip().lower()
        raw = raw[:_MAX_BODY]
        if kind == "application/x-www-form-urlencoded":
            fields = urllib.parse.parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
            return [[key, self.redactor.value(key, value)] for key, value in fields[:100]]
        if kind == "application/json" or kind.endswith("+json"):
            try:
                return self.redactor.value(None, json.loads(raw))
            except ValueError:
                pass
        if kind.startswith("multipart/"):
            return f"<{kind} body of {len(raw)} bytes not kept>"
        return self.redactor.text(raw.decode("utf-8", "replace")[:2000])

    def user(self, request: Any) -> dict[str, Any] | None:
        """Return who was logged in: ``request.state.user`` (what ``celeris.auth`` sets)."""
        try:
            state = request.state
            user = state.user if "user" in state else None
        except Exception:
            return None
        if user is None:
            return None
        if isinstance(user, dict):
            value = self.redactor.value(None, user)
            return value if isinstance(value, dict) else None
        shown: dict[str, Any] = {}
        for name in ("id", "email", "username", "name", "is_staff", "is_superuser"):
            value = getattr(user, name, None)
            if value is not None and not callable(value):
                shown[name] = self.redactor.value(
                    name, value if isinstance(value, int | bool) else str(value)
                )
        shown["repr"] = self.redactor.repr(user)
        return shown
