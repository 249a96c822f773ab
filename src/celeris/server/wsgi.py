"""WSGI apps (Flask, Django's WSGI handler, Bottle...) on the server, through a2wsgi.

a2wsgi runs each request's WSGI call on a bounded thread pool (``--wsgi-threads`` per worker),
hands it the request body as the app reads it and sends the response body as the app yields it,
so neither is buffered whole. The server's limits apply before the app, as for any ASGI app.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterable
from typing import Any, cast

from a2wsgi import WSGIMiddleware

from celeris.types import ASGIApp

INTERFACES = ("auto", "asgi3", "wsgi")


def is_wsgi(obj: Any) -> bool:
    """Tell whether ``obj`` looks like a WSGI app: a plain callable of (environ, start_response)."""
    if not callable(obj) or inspect.isclass(obj):
        return False
    call = obj if inspect.isroutine(obj) else type(obj).__call__
    if inspect.iscoroutinefunction(obj) or inspect.iscoroutinefunction(call):
        return False
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return False  # builtins and C callables: taken as ASGI, as before
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) == 2 and not any(p.kind == p.VAR_POSITIONAL for p in params)


class _ServerEnviron:
    """Complete a2wsgi's environ with what this server guarantees."""

    __slots__ = ("app",)

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        # The server ends the input stream itself (chunked bodies decoded, --limit-request-body
        # enforced), so apps may read a body without Content-Length (PEP 3333's
        # wsgi.input_terminated; Werkzeug reads nothing of a chunked body without it).
        environ["wsgi.input_terminated"] = True
        environ["wsgi.errors"] = sys.stderr  # NOTE: stdout carries the access log
        body: Iterable[bytes] = self.app(environ, start_response)
        return body


def as_asgi(app: Any, threads: int) -> ASGIApp:
    """Wrap the WSGI ``app`` into an ASGI app that runs it on ``threads`` threads."""
    # NOTE: a2wsgi's send queue is bounded too (10 chunks): a slow client holds the app's
    # thread back instead of the body piling up in memory.
    wsgi: Any = _ServerEnviron(app)
    return cast(ASGIApp, WSGIMiddleware(wsgi, workers=threads))
