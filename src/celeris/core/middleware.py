"""Middleware: ASGI middleware specs and ``@app.middleware`` functions.

Function middleware run on the core pipeline with real ``Request`` and ``Response`` objects
(no ASGI message re-wrapping, so streaming, background tasks and context variables behave as
without them). The last one added is the outermost, as for ``add_middleware``. Request hooks
are pipeline steps (``celeris.core.pipeline``).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.types import ASGIApp

Endpoint = Callable[[Request], Awaitable[Response]]
CallNext = Endpoint
FunctionMiddleware = Callable[[Request, CallNext], Awaitable[Response]]
BeforeHook = Callable[[Request], Any]  # may return a Response to answer at once
AfterHook = Callable[[Response], Any]  # may return a Response to replace the one given


class Middleware:
    """An ASGI middleware class with its options, instantiated when the stack is built."""

    __slots__ = ("cls", "options")

    def __init__(self, cls: Callable[..., ASGIApp], **options: Any) -> None:
        if not callable(cls):
            raise TypeError(f"middleware must be a class or factory taking the app, got {cls!r}")
        self.cls = cls
        self.options = options

    def wrap(self, app: ASGIApp) -> ASGIApp:
        """Return ``cls(app, **options)``."""
        return self.cls(app, **self.options)

    def __repr__(self) -> str:
        name = getattr(self.cls, "__name__", repr(self.cls))
        options = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"Middleware({name}{', ' if options else ''}{options})"


def check_function_middleware(func: Callable[..., Any]) -> None:
    """Raise TypeError unless ``func`` is ``async def mw(request, call_next)``."""
    if not inspect.iscoroutinefunction(func):
        raise TypeError(f"@app.middleware needs an async def mw(request, call_next), got {func!r}")
    params = list(inspect.signature(func).parameters)
    if len(params) != 2:
        raise TypeError(
            f"@app.middleware function {func.__qualname__} must take (request, call_next)"
        )


def _with_function(func: FunctionMiddleware, inner: Endpoint) -> Endpoint:
    name = getattr(func, "__qualname__", repr(func))

    async def call(request: Request) -> Response:
        response = await func(request, inner)
        if not isinstance(response, Response):
            raise TypeError(f"middleware {name} returned {type(response).__name__}, not a Response")
        return response

    return call


def build_pipeline(endpoint: Endpoint, functions: Sequence[FunctionMiddleware]) -> Endpoint:
    """Wrap ``endpoint`` in function middleware (last added outermost)."""
    handler = endpoint
    for func in functions:
        handler = _with_function(func, handler)
    return handler
