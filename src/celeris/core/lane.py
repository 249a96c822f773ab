"""The short lane: ``App``'s HTTP entry, and the whole path of routes that need no Context.

A route is *short* when its handler has no dependencies, forms or files, no step runs on it
(``Route.flow``) and the app has no function middleware (``Plan.simple``, ``text_only`` or
``body_short``): its parameters bind without a ``Context``, and a result of one of the route's
own kinds (``str``, ``dict`` or ``list``, or exactly its declared return class) goes out in one
``respond()``, without a ``Response`` object. A route with steps is *piped* when its handler
and dependencies bind without a ``Context`` (``di.is_flat``): the lane runs its flow's
befores, binds, calls, builds a ``Response`` of finished parts for the afters and sends it.
Every other request goes on to ``App._routed``, matched once.

PERF: the compiled build compiles this module with mypyc (it is per-request code and nothing
here is meant to be subclassed); a pure install runs the same code as plain Python.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final, Protocol, final

from celeris.core._fast import parts_response
from celeris.core.concurrency import run_in_threadpool
from celeris.core.di import bind_body_and_text, flat_kwargs, is_flat
from celeris.core.errors import RequestValidationError
from celeris.core.params import MISSING
from celeris.core.pipeline import Answering as Flowing
from celeris.core.pipeline import Entry, Flow
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.core.routing import EMPTY_PARAMS, Route, RouteTable, routing_path
from celeris.core.signature import TEXT_KINDS, Kind, ParamInfo, Plan, bind_text
from celeris.core.validation import ValidationFailure, missing_error
from celeris.types import CheckedHeader, FastRequest

_TEXT_PLAIN: Final = CheckedHeader((b"content-type", b"text/plain; charset=utf-8"))
_APPLICATION_JSON: Final = CheckedHeader((b"content-type", b"application/json"))
_TEXT_TYPE: Final = "text/plain"
_JSON_TYPE: Final = "application/json"
_NO_ARGS: Final[dict[str, Any]] = {}  # never written to
_NO_PARAMS: Final = EMPTY_PARAMS  # PERF: a C static in the compiled build
_NO_STEPS: Final = Flow(())
_DEPENDENCY: Final = Kind.DEPENDENCY
_REQUEST: Final = Kind.REQUEST
_UNCALLED: Final = object()  # NOTE: the piped handler's result before it is called

# how a short route's parameters bind
_SIMPLE: Final = 0  # none
_TEXT: Final = 1  # path/query/header/cookie values only
_BODY: Final = 2  # a JSON body and text values


class Answering(Flowing, Protocol):
    """What the lane needs of its app (``App``; a protocol, so this module never imports it)."""

    root_path: str

    def _route_path(self, path: str, root_path: str) -> str: ...

    def _routed(
        self, conn: FastRequest, route: Route | None, params: dict[str, Any], path: str
    ) -> Awaitable[None]: ...

    def _fail(self, conn: FastRequest, request: Request, exc: Exception) -> Awaitable[None]: ...


@final
class _Value:
    """One text parameter of an inlined dependency, read once from its ``ParamInfo``."""

    def __init__(self, info: ParamInfo) -> None:
        assert info.extract is not None
        self.name = info.name
        self.extract: Callable[[Any, dict[str, Any]], Any] = info.extract
        self.required = info.required
        self.default: Any = info.default
        self.source: str = info.kind.value
        self.alias = info.alias


@final
class _Bound:
    """One parameter of an inlined piped handler, read once from its ``ParamInfo``.

    PERF: compiled, a ``ParamInfo`` (an interpreted dataclass) costs a generic attribute
    lookup per field read; this native object's fields are C struct reads.
    """

    def __init__(self, info: ParamInfo) -> None:
        self.info = info
        self.name = info.name
        self.kind = info.kind
        sub = info.dependency
        self.endpoint: Callable[..., Any] | None = None
        self.values: tuple[_Value, ...] = ()
        self.names: tuple[str, ...] = ()
        self.positional = False
        if info.kind is Kind.DEPENDENCY and sub is not None:
            self.endpoint = sub.endpoint
            self.values = tuple(_Value(each) for each in sub.params)
            self.names = tuple(each.name for each in sub.params)
            self.positional = sub.positional


@final
class _Short:
    """What answering one short route takes, read once from its plan."""

    def __init__(self, plan: Plan, flow: Flow | None = None) -> None:
        self.plan = plan
        self.flow = flow  # PERF: None for a route without steps (the plain short lane)
        self.kind = _SIMPLE if plan.simple else _TEXT if plan.text_only else _BODY
        self.params = plan.params
        self.endpoint = plan.endpoint
        self.is_async = plan.is_async
        self.direct = plan.direct
        self.encode = plan.encode
        self.json_class: object = plan.json_class
        self.render = plan.render
        self.status_code = plan.status_code
        # PERF: text values, the Request and dependencies of text values only: bound here,
        # without flat_kwargs' coroutine.
        self.inline = not plan.dependencies and all(
            info.kind in TEXT_KINDS
            or info.kind is Kind.REQUEST
            or (
                info.dependency is not None
                and info.dependency.is_async
                and (info.dependency.simple or info.dependency.text_only)
            )
            for info in plan.params
        )
        self.bound: tuple[_Bound, ...] = (
            tuple(_Bound(info) for info in plan.params) if self.inline else ()
        )
        self.names: tuple[str, ...] = tuple(info.name for info in plan.params)
        self.positional = plan.positional
        # PERF: the flow's parts, read once (a Flow and its Tail are immutable once built).
        self.befores: tuple[Entry, ...] = flow.befores if flow is not None else ()
        self.afters: tuple[Entry, ...] = flow.tail.afters if flow is not None else ()
        self.tail_headers: list[Any] = flow.tail.headers if flow is not None else []
        self.tail_names: frozenset[bytes] = flow.tail.names if flow is not None else frozenset()


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
            if plan is None:
                continue
            flow = route.flow
            if flow is None and (plan.simple or plan.text_only or plan.body_short):
                self.shorts[route] = _Short(plan)
            elif not route.deprecated and is_flat(plan):
                # NOTE: a route with dependencies and no steps runs an empty flow.
                self.shorts[route] = _Short(plan, flow or _NO_STEPS)
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
        if len(path) != len(conn.raw_path):
            # PERF: equal lengths mean the raw path held no escape (so no %2F): no extra work.
            path = routing_path(path, conn.raw_path)
        if conn.root_path or self.root_path:
            path = self.app._route_path(path, conn.root_path)
        method = conn.method
        methods = self.static.get(path)
        if methods is not None:
            short = methods.get(method)
            if short is not None:
                if short.flow is not None:
                    return self.piped(short, short.flow, conn, _NO_PARAMS)
                return self.answer(short, conn, _NO_PARAMS)
        try:
            route, params = self.table.match(method, path)
        except Exception as exc:  # NOTE: answered with 500 and logged, as inside a handler
            return self.failed(conn, exc)
        if route is not None:
            short = self.shorts.get(route)
            if short is not None:
                if short.flow is not None:
                    return self.piped(short, short.flow, conn, params)
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
        result: Any = _UNCALLED
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
                args: list[Any] = []
                for info in short.params:
                    args.append(bind_text(info, request, params, errors))  # noqa: PERF401
                if errors:
                    raise RequestValidationError(errors)
                if short.is_async and short.positional:
                    # PERF: f(*values) costs about two thirds of f(**kwargs).
                    result = await short.endpoint(*args)
                    call_args = _NO_ARGS
                else:
                    call_args = dict(zip(short.names, args, strict=True))
            if result is _UNCALLED:
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

    async def piped(
        self, short: _Short, flow: Flow, conn: FastRequest, params: dict[str, Any]
    ) -> None:
        """Answer a piped route: its flow around a Context-free call (as ``Flow.answer``)."""
        app = self.app
        request = Request(conn, app, params)
        index = 0
        try:
            for before, is_async in short.befores:
                early = (await before(request)) if is_async else before(request)
                if early is not None and isinstance(early, Response):
                    response, error = await flow.finish(
                        app, request, early, flow.tails[index], None
                    )
                    await self.send(request, response, error)
                    return
                index += 1
            result: Any = _UNCALLED
            if short.kind == _SIMPLE:
                call_args = _NO_ARGS
            elif short.inline:
                # PERF: values in a list, passed positionally where the function allows
                # (about half the cost of a keyword call), else by name.
                errors: list[Any] = []
                args: list[Any] = []
                for param in short.bound:
                    kind = param.kind
                    if kind is _DEPENDENCY:
                        count = len(errors)
                        values: list[Any] = []
                        for each in param.values:  # PERF: a loop, not a comprehension's function
                            # PERF: bind_text(), inlined (one call less per value)
                            try:
                                value = each.extract(request, params)
                            except ValidationFailure as exc:
                                errors.extend(exc.errors)
                                value = MISSING
                            else:
                                if value is MISSING:
                                    if each.required:
                                        errors.append(missing_error([each.source, each.alias]))
                                    value = each.default
                            values.append(value)
                        if len(errors) > count:
                            args.append(MISSING)
                            continue
                        endpoint = param.endpoint
                        assert endpoint is not None
                        if param.positional:
                            args.append(await endpoint(*values))
                        else:
                            kwargs = dict(zip(param.names, values, strict=True))
                            args.append(await endpoint(**kwargs))
                    elif kind is _REQUEST:
                        args.append(request)
                    else:
                        args.append(bind_text(param.info, request, params, errors))
                if errors:
                    raise RequestValidationError(errors)
                if short.is_async and short.positional:
                    result = await short.endpoint(*args)
                    call_args = _NO_ARGS
                else:
                    call_args = dict(zip(short.names, args, strict=True))
            else:
                errors = []
                call_args = await flat_kwargs(short.plan, request, params, errors)
                if errors:
                    raise RequestValidationError(errors)
            if result is _UNCALLED:
                endpoint = short.endpoint
                if short.is_async:
                    result = await (endpoint(**call_args) if call_args else endpoint())
                else:
                    result = await run_in_threadpool(endpoint, **call_args)
            cls = type(result)
            # NOTE: list[Any]: compiled, a list of tuples would store CheckedHeader pairs
            # re-made as plain tuples, which the server scans.
            headers: list[Any]
            if cls is str and short.direct:
                text: str = result
                body = text.encode()
                # NOTE: no content-length, as in answer(): respond() adds the body's (the
                # server, and ASGIConnection over ASGI), after what the steps added.
                headers = [_TEXT_PLAIN]
                response = parts_response(short.status_code, headers, body, _TEXT_TYPE)
            elif (cls is dict or cls is list or cls is short.json_class) and short.direct:
                body = short.encode(result)
                headers = [_APPLICATION_JSON]
                response = parts_response(short.status_code, headers, body, _JSON_TYPE)
            else:
                response = short.render(result)
        except Exception as exc:
            response, error = await flow.fail(app, request, index, exc)
            await self.send(request, response, error)
            return
        try:
            for after, is_async in short.afters:
                replaced = (
                    (await after(request, response)) if is_async else after(request, response)
                )
                if replaced is not None:
                    response = replaced
        except Exception as exc:
            response, late = await app._error_response(request, exc)
            await self.send(request, response, late)
            return
        tail_headers = short.tail_headers
        if tail_headers:
            # PERF: add_headers(), inlined
            raw = response.raw_headers
            present = {name.lower() for name, _ in raw}  # PERF: usually two names
            if short.tail_names.isdisjoint(present):
                raw.extend(tail_headers)
            else:
                raw.extend([pair for pair in tail_headers if pair[0] not in present])
        if type(response) is Response:
            # PERF: Response.send_to inlined (one coroutine less).
            await conn.respond(response.status_code, response.raw_headers, response.body)
        else:
            await response.send_to(conn)
        if response.background is not None:
            await response.background()
        # PERF: Request.holds_resources() inlined.
        if request._form is not None or request._disconnect_task is not None:
            await request.close()

    async def send(self, request: Request, response: Response, error: Exception | None) -> None:
        """Send a piped route's answer after an early answer or an error (then re-raise it)."""
        # NOTE: no try/finally here: in the compiled build, a finally block run while the
        # caller handles an exception re-raised that exception (a handled 422 became a 500).
        await response.send_to(request.conn)
        await request.close()
        if error is not None:
            raise error
        if response.background is not None:
            await response.background()
