"""The short lane: ``App``'s HTTP entry, and the whole path of routes that need no Context.

A route is *short* when its handler has no dependencies, forms or files, no step runs on it
(``Route.flow``) and the app has no function middleware (``Plan.simple``, ``text_only`` or ``body_short``): its parameters
bind without a ``Context``, and a result of one of the route's own kinds (``str``, ``dict`` or
``list``, or exactly its declared return class) goes out in one ``respond()``, without a
``Response`` object. Every other request goes on to ``App._routed``, matched once.

PERF: the compiled build compiles this module with mypyc (it is per-request code and nothing
here is meant to be subclassed); a pure install runs the same code as plain Python.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, Final, Protocol, final

from celeris.core.concurrency import run_in_threadpool
from celeris.core.di import bind_body_and_text
from celeris.core.errors import RequestValidationError
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.core.routing import EMPTY_PARAMS, Route, RouteTable
from celeris.core.signature import Plan, bind_text
from celeris.types import FastRequest

_TEXT_PLAIN: Final = (b"content-type", b"text/plain; charset=utf-8")
_APPLICATION_JSON: Final = (b"content-type", b"application/json")
_NO_ARGS: Final[dict[str, Any]] = {}  # never written to
_NO_PARAMS: Final = EMPTY_PARAMS  # PERF: a C static in the compiled build

# how a short route's parameters bind
_SIMPLE: Final = 0  # none
_TEXT: Final = 1  # path/query/header/cookie values only
_BODY: Final = 2  # a JSON body and text values


class Answering(Protocol):
    """What the lane needs of its app (``App``; a protocol, so this module never imports it)."""

    root_path: str

    def _route_path(self, path: str, root_path: str) -> str: ...

    def _routed(
        self, conn: FastRequest, route: Route | None, params: dict[str, Any], path: str
    ) -> Awaitable[None]: ...

    def _fail(self, conn: FastRequest, request: Request, exc: Exception) -> Awaitable[None]: ...


@final
class _Short:
    """What answering one short route takes, read once from its plan."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.kind = _SIMPLE if plan.simple else _TEXT if plan.text_only else _BODY
        self.params = plan.params
        self.endpoint = plan.endpoint
        self.is_async = plan.is_async
        self.direct = plan.direct
        self.encode = plan.encode
        self.json_class: object = plan.json_class
        self.render = plan.render
        self.status_code = plan.status_code


@final
class Lane:
    """The HTTP entry of an app without function middleware (its fast-lane handler)."""

    def __init__(self, app: Answering, table: RouteTable) -> None:
        self.app = app
        self.table = table
        self.root_path = app.root_path
        self.shorts: dict[Route, _Short] = {}
        for route in table.routes:
            plan = route.plan
            if (
                plan is not None
                and route.flow is None
                and (plan.simple or plan.text_only or plan.body_short)
            ):
                self.shorts[route] = _Short(plan)
        # PERF: the short routes among the static ones, by path then method: for them a
        # request costs two dict lookups before the handler runs.
        self.static: dict[str, dict[str, _Short]] = {}
        for path, methods in table.static.items():
            found = {m: self.shorts[r] for m, r in methods.items() if r in self.shorts}
            if found:
                self.static[path] = found

    def __call__(self, conn: FastRequest) -> Awaitable[None]:
        """Return the coroutine that answers ``conn`` (not itself one: no frame to pass through)."""
        path = conn.path
        if conn.root_path or self.root_path:
            path = self.app._route_path(path, conn.root_path)
        method = conn.method
        methods = self.static.get(path)
        if methods is not None:
            short = methods.get(method)
            if short is not None:
                return self.answer(short, conn, _NO_PARAMS)
        try:
            route, params = self.table.match(method, path)
        except Exception as exc:  # NOTE: answered with 500 and logged, as inside a handler
            return self.failed(conn, exc)
        if route is not None:
            short = self.shorts.get(route)
            if short is not None:
                return self.answer(short, conn, params)
        return self.app._routed(conn, route, params, path)

    async def failed(self, conn: FastRequest, exc: Exception) -> None:
        """Answer an error raised before any handler ran (``App._fail``: 500, then re-raise)."""
        await self.app._fail(conn, Request(conn, self.app, {}), exc)

    async def answer(self, short: _Short, conn: FastRequest, params: dict[str, Any]) -> None:
        """Bind, call and answer one short route; errors are answered as ``App._fail`` does."""
        app = self.app
        request: Request | None = None
        response: Response | None = None
        body = b""
        content_type = _TEXT_PLAIN
        try:
            kind = short.kind
            if kind == _SIMPLE:
                call_args = _NO_ARGS
            elif kind == _BODY:
                request = Request(conn, app, params)
                call_args = await bind_body_and_text(short.plan, request, params)
            else:
                request = Request(conn, app, params)
                errors: list[Any] = []
                call_args = {}
                for info in short.params:
                    call_args[info.name] = bind_text(info, request, params, errors)
                if errors:
                    raise RequestValidationError(errors)
            endpoint = short.endpoint
            if short.is_async:
                # PERF: f() costs about half of f(**{}) (no keyword unpacking).
                result = await (endpoint(**call_args) if call_args else endpoint())
            else:
                result = await run_in_threadpool(endpoint, **call_args)
            cls = type(result)
            if cls is str and short.direct:
                text: str = result  # PERF: typed, the compiled build encodes without a lookup
                body = text.encode()
            elif (cls is dict or cls is list or cls is short.json_class) and short.direct:
                body = short.encode(result)
                content_type = _APPLICATION_JSON
            else:
                response = short.render(result)
        except Exception as exc:
            await app._fail(conn, request or Request(conn, app, params), exc)
            return
        if response is None:
            await conn.respond(short.status_code, [content_type], body)
            return
        await response.send_to(conn)
        if response.background is not None:
            await response.background()
