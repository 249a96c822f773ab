"""``App``: the ASGI entry, the fast lane, the middleware stack, lifespan and errors.

One pipeline serves both entry points: ``__call__`` (ASGI) wraps the scope in an
``ASGIConnection`` and the fast lane passes the server's request object; both reach
``_entry`` with a ``FastRequest``: the short lane (``celeris.core.lane``) when the app has no
function middleware, else ``_http``. Each route runs its compiled ``Flow`` of steps
(``celeris.core.pipeline``) around its handler; see ``build_middleware_stack``.
"""

from __future__ import annotations

import html
import inspect
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, ClassVar, TypeVar, Unpack

from celeris.core.asgi import ASGIConnection, scope_of
from celeris.core.bridge import MountedResponse, start_mounted
from celeris.core.concurrency import configure_threadpool, run_in_threadpool, threadpool_size
from celeris.core.datastructures import State
from celeris.core.di import Context, call, call_early, run, solve
from celeris.core.errors import RAISE_HTTP_ERRORS, HTTPError, NotFound
from celeris.core.lane import Lane
from celeris.core.lifespan import Handler, Lifespan, LifespanFactory
from celeris.core.middleware import (
    AfterHook,
    BeforeHook,
    Endpoint,
    FunctionMiddleware,
    Middleware,
    build_pipeline,
    check_function_middleware,
)
from celeris.core.pipeline import Flow, Step, compile_flow, hook_steps
from celeris.core.requests import Request
from celeris.core.responses import RedirectResponse, Response, json_encode
from celeris.core.routing import (
    ESCAPED_SLASH,
    WEBSOCKET,
    Mount,
    Route,
    RouteOptions,
    Router,
    RouteRegistrar,
    RouterOptions,
    RouteTable,
    routing_path,
)
from celeris.core.websocket import WebSocket, WebSocketDisconnect
from celeris.types import ASGIApp, FastHandler, FastRequest, Receive, Scope, Send

F = TypeVar("F", bound=Callable[..., Any])
ExceptionHandler = Callable[[Request, Exception], Any]
WebSocketErrorHandler = Callable[[WebSocket, Exception], Any]

logger = logging.getLogger("celeris.app")


class _MountCall:
    """A request for a mounted app, passed through the pipeline; holds the started response."""

    __slots__ = ("mount", "response")

    def __init__(self, mount: Mount) -> None:
        self.mount = mount
        self.response: MountedResponse | None = None


# what a request that matched no route leads to: an error, a ready answer or a mounted app
Outcome = HTTPError | Response | _MountCall | None

# NOTE: how the innermost pipeline endpoint finds the request's binding context when
# function middleware or hooks sit in between (they only pass the Request along).
_current: ContextVar[tuple[Route | None, Context | None, Outcome]] = ContextVar(
    "celeris_current_route"
)


class App(RouteRegistrar):
    """A celeris application: an ASGI 3 app that also offers the celeris fast lane."""

    #: Start-up extensions: each is called once with the app, before its routes compile.
    #: ``celeris`` registers ``celeris.openapi.install`` here (the core never imports openapi).
    extensions: ClassVar[list[Callable[[App], None]]] = []

    def __init__(
        self,
        debug: bool = False,
        title: str = "celeris",
        version: str = "0.1.0",
        description: str = "",
        openapi_url: str | None = "/openapi.json",
        docs_url: str | None = "/docs",
        lifespan: LifespanFactory | None = None,
        on_startup: Sequence[Handler] | None = None,
        on_shutdown: Sequence[Handler] | None = None,
        exception_handlers: Mapping[type[Exception] | int, ExceptionHandler] | None = None,
        middleware: Sequence[Middleware] | None = None,
        dependencies: Sequence[Any] | None = None,
        redirect_slashes: bool = True,
        thread_pool_size: int = 40,
        root_path: str = "",
        settings: Any = None,
    ) -> None:
        if (
            isinstance(thread_pool_size, bool)
            or not isinstance(thread_pool_size, int)
            or thread_pool_size < 1
        ):
            raise ValueError(f"thread_pool_size must be an integer >= 1, got {thread_pool_size!r}")
        self.debug = debug
        self.title = title
        self.version = version
        self.description = description
        self.openapi_url = openapi_url
        self.docs_url = docs_url
        self.redirect_slashes = redirect_slashes
        self.thread_pool_size = thread_pool_size
        self.root_path = root_path.rstrip("/")
        #: The app's settings object (normally a ``celeris.settings.Settings``), or None.
        self.settings = settings
        self.state = State()
        self.router = Router(dependencies=dependencies)
        self.lifespan = Lifespan(
            self, lifespan, on_startup, on_shutdown, children=self._mounted_lifespans
        )
        # NOTE: index 0 is the outermost middleware (as in Starlette); add_middleware prepends.
        self.user_middleware: list[Middleware] = list(middleware or ())
        self.exception_handlers: dict[type[Exception] | int, ExceptionHandler] = {}
        for key, handler in (exception_handlers or {}).items():
            self.add_exception_handler(key, handler)
        #: Called with ``(websocket, exc)`` for an unhandled error in a WebSocket handler.
        self.websocket_error_handlers: list[WebSocketErrorHandler] = []
        self._functions: list[FunctionMiddleware] = []
        self._before: list[BeforeHook] = []
        self._after: list[AfterHook] = []
        self._steps: list[Step] = []
        self._stack: ASGIApp | None = None  # the ASGI app for HTTP scopes
        self._others: ASGIApp | None = None  # non-HTTP scopes through step middleware as ASGI
        self._miss_flow: Flow | None = None  # the steps of requests no route matched
        self._hooks: Flow | None = None  # the hooks, when function middleware wraps them
        self._table: RouteTable | None = None
        self._pipeline: Endpoint | None = None
        self._entry: FastHandler = self._http  # the short lane once built, when there is one
        self._asgi_entry: ASGIApp = self._asgi  # NOTE: one bound method, compared by identity
        self._mounted_at = ""  # set by a parent App that mounts this one, for url_for
        #: The App that mounts this one (set when the parent compiles its routes), or None.
        self._parent: App | None = None
        self._extended = False  # start-up extensions have run

    # --- routes: thin delegates to the app's router ------------------------------------------

    def route(
        self, path: str, methods: Sequence[str] | None = None, **options: Unpack[RouteOptions]
    ) -> Callable[[F], F]:
        """Register the decorated function for ``path`` and ``methods`` (GET by default)."""
        self._changed("add a route")
        return self.router.route(path, methods, **options)

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Sequence[str] = ("GET",),
        **options: Unpack[RouteOptions],
    ) -> Route:
        """Register ``endpoint`` for ``path`` and ``methods``."""
        self._changed("add a route")
        return self.router.add_route(path, endpoint, methods, **options)

    def add_resource(
        self,
        path: str,
        resource: object,
        *,
        name: str | None = None,
        steps: Sequence[Step] | None = None,
        csrf_exempt: bool = False,
    ) -> list[Route]:
        """Register a Falcon-style resource (``on_get``, ``on_post``...)."""
        self._changed("add a resource")
        return self.router.add_resource(
            path, resource, name=name, steps=steps, csrf_exempt=csrf_exempt
        )

    def include_router(self, router: Router, **options: Unpack[RouterOptions]) -> None:
        """Include ``router``'s routes under ``prefix``."""
        self._changed("include a router")
        self.router.include_router(router, **options)

    def mount(self, path: str, app: Any, *, name: str | None = None) -> None:
        """Serve an ASGI app, a WSGI app (detected) or another App under ``path``."""
        self._changed("mount an application")
        self.router.mount(path, app, name=name)

    @property
    def routes(self) -> list[Route]:
        """Return the compiled, flattened routes (each with its ``plan``)."""
        return list(self._compiled().routes)

    @property
    def mounts(self) -> list[Mount]:
        """Return the mounted applications."""
        return list(self._compiled().mounts)

    def url_for(self, name: str, /, **params: Any) -> str:
        """Build the path of the route called ``name``; raises NoMatchFound."""
        return (self.root_path or self._mounted_at) + self._compiled().url_for(name, **params)

    # --- middleware, hooks, errors, lifespan -------------------------------------------------

    def add_middleware(self, cls: Callable[..., ASGIApp], **options: Any) -> None:
        """Add a standard ASGI middleware; the last added runs first.

        A class with ``as_step(**options)`` (celeris's own) runs as a pipeline step instead,
        unless an ASGI-only middleware added before it has to run inside it.
        """
        self._check_not_started("add middleware")
        self.user_middleware.insert(0, Middleware(cls, **options))

    def add_step(self, step: Step) -> None:
        """Add a pipeline step to every route; ``before`` runs in the order added."""
        self._check_not_started("add a step")
        if not isinstance(step, Step):
            raise TypeError(f"add_step() takes a celeris.Step, got {step!r}")
        self._steps.append(step)

    def middleware(self, func: FunctionMiddleware) -> FunctionMiddleware:
        """Register ``async def mw(request, call_next) -> Response``; the last added runs first."""
        self._check_not_started("add middleware")
        check_function_middleware(func)
        self._functions.append(func)
        return func

    def before_request(self, func: F) -> F:
        """Run ``func(request)`` before each handler; returning a Response answers at once."""
        self._check_not_started("add a hook")
        self._before.append(func)
        return func

    def after_request(self, func: F) -> F:
        """Run ``func(response)`` after each handler; returning a Response replaces it."""
        self._check_not_started("add a hook")
        self._after.append(func)
        return func

    def exception_handler(self, key: type[Exception] | int) -> Callable[[F], F]:
        """Register ``handler(request, exc) -> Response`` for an exception class or status code."""

        def decorator(func: F) -> F:
            self.add_exception_handler(key, func)
            return func

        return decorator

    def add_exception_handler(self, key: type[Exception] | int, handler: ExceptionHandler) -> None:
        """Register ``handler(request, exc)`` for an exception class or an HTTP status code."""
        valid_class = isinstance(key, type) and issubclass(key, Exception)
        valid_status = isinstance(key, int) and not isinstance(key, bool) and 400 <= key <= 599
        if not (valid_class or valid_status):
            raise TypeError(
                f"exception handlers are keyed by an Exception class or a 4xx/5xx code, not {key!r}"
            )
        self.exception_handlers[key] = handler

    def on_websocket_error(self, func: F) -> F:
        """Run ``func(websocket, exc)`` for an unhandled error in a WebSocket handler.

        It runs once the core has closed the connection (1011); it cannot change the close.
        """
        self.websocket_error_handlers.append(func)
        return func

    def on_startup(self, func: F) -> F:
        """Run ``func`` at startup (sync or async)."""
        self.lifespan.startup_handlers.append(func)
        return func

    def on_shutdown(self, func: F) -> F:
        """Run ``func`` at shutdown (sync or async)."""
        self.lifespan.shutdown_handlers.append(func)
        return func

    def _mounted_lifespans(self) -> list[Lifespan]:
        return [m.app.lifespan for m in self._compiled().mounts if isinstance(m.app, App)]

    def _changed(self, what: str) -> None:
        """Refuse route changes once serving; before that, drop a table compiled early."""
        self._check_not_started(what)
        self._table = None

    def _check_not_started(self, what: str) -> None:
        if self._stack is not None:
            raise RuntimeError(f"cannot {what} after the application has started serving")

    # --- the stack ---------------------------------------------------------------------------

    def _compiled(self) -> RouteTable:
        if self._table is None:
            if not self._extended:
                self._extended = True
                for extension in type(self).extensions:
                    extension(self)
            self._table = RouteTable(self.router.iter_routes())
            for mount in self._table.mounts:
                if isinstance(mount.app, App):
                    mount.app._mounted_at = (self.root_path or self._mounted_at) + mount.path
                    mount.app._parent = self
        return self._table

    def build_middleware_stack(self) -> ASGIApp:
        """Compile routes, handlers and their pipelines, then wrap ASGI middleware (once).

        What a request meets, outermost first: ASGI-only middleware; the steps of celeris's
        own middleware (``add_middleware``, last added first); the app's steps
        (``add_step``); the route's steps (``steps=``, its routers' first); function
        middleware; ``before_request`` hooks; dependencies and the handler. ``after`` runs
        in the reverse order. Returns the ASGI app for HTTP scopes.
        """
        if self._stack is not None:
            return self._stack
        if threadpool_size() != self.thread_pool_size:
            configure_threadpool(self.thread_pool_size)
        table = self._compiled()
        asgi_only, as_steps = _split_middleware(self.user_middleware)
        app_steps = [*as_steps, *self._steps]
        hooks = hook_steps(self._before, self._after)
        if self._functions:
            self._pipeline = build_pipeline(self._endpoint, self._functions)
            self._hooks = Flow(hooks) if hooks else None
            hooks = []
        sees_request = bool(self._functions or hooks or self._hooks)
        for route in table.routes:
            plan = route.plan
            if plan is None or WEBSOCKET in route.methods:
                continue
            if sees_request:
                plan.needs_request = True
            route.flow = compile_flow([*app_steps, *route.steps, *hooks], route)
        self._miss_flow = compile_flow([*app_steps, *hooks], None)
        if not self._functions:
            self._entry = Lane(self, table)
        if as_steps:
            # NOTE: WebSockets and lifespan meet these middleware in their ASGI form.
            others: ASGIApp = self._asgi_other
            for spec in reversed(self.user_middleware[len(asgi_only) :]):
                others = spec.wrap(others)
            self._others = others
        app: ASGIApp = self._asgi_entry
        for spec in reversed(asgi_only):
            app = spec.wrap(app)
        self._stack = app
        return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection (http, websocket or lifespan)."""
        stack = self._stack or self.build_middleware_stack()
        if stack is self._asgi_entry and scope["type"] == "http":
            # PERF: no ASGI middleware: skip one coroutine frame per request.
            await self._entry(ASGIConnection(scope, receive, send))
            return
        await stack(scope, receive, send)

    def fast_lane(self) -> FastHandler | None:
        """Return the handler the celeris server calls instead of ASGI for HTTP requests."""
        stack = self.build_middleware_stack()
        if stack is self._asgi_entry:
            # NOTE: _entry answers an unhandled error with a 500, then re-raises it for the
            # server to log (the server keeps the connection: the response was complete).
            return self._entry
        logger.debug("ASGI middleware present: the fast lane runs the ASGI stack")

        async def through_asgi(conn: FastRequest) -> None:
            try:
                await stack(scope_of(conn), conn.receive, conn.send)
            except Exception:
                logger.exception("unhandled exception in %s %s", conn.method, conn.path)

        return through_asgi

    async def _asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._entry(ASGIConnection(scope, receive, send))
        elif self._others is not None:
            await self._others(scope, receive, send)
        else:
            await self._asgi_other(scope, receive, send)

    async def _asgi_other(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            await self._websocket(scope, receive, send)
        elif kind == "lifespan":
            await self.lifespan(scope, receive, send)
        else:
            raise ValueError(f"unsupported ASGI scope type {kind!r}")

    # --- HTTP --------------------------------------------------------------------------------

    def _route_path(self, path: str, root_path: str) -> str:
        root = root_path or self.root_path
        if root and path.startswith(root):
            return path[len(root) :] or "/"
        return path

    async def _http(self, conn: FastRequest) -> None:
        """Answer one HTTP request through function middleware and hooks (see ``_entry``)."""
        table = self._table
        assert table is not None
        path = conn.path
        if len(path) != len(conn.raw_path):  # NOTE: an escape: a %2F is no separator
            path = routing_path(path, conn.raw_path)
        if conn.root_path or self.root_path:
            path = self._route_path(path, conn.root_path)
        route, params = table.match(conn.method, path)
        await self._routed(conn, route, params, path)

    async def _routed(
        self, conn: FastRequest, route: Route | None, params: dict[str, Any], path: str
    ) -> None:
        """Answer a matched (or unmatched) request; unhandled errors get 500, then re-raise."""
        table = self._table
        assert table is not None
        outcome: Outcome = None
        if route is None:
            flow = self._miss_flow
            mount = table.mount_for(path)
            if mount is None:
                outcome = self._miss(table, conn, path)
            elif flow is None and self._pipeline is None:
                try:
                    await self._call_mount(mount, scope_of(conn), conn.receive, conn.send)
                except HTTPError as exc:  # NOTE: raised before it answered (see RAISE_HTTP_ERRORS)
                    await self._fail(conn, Request(conn, self, params), exc)
                return
            else:
                outcome = _MountCall(mount)  # NOTE: steps and function middleware wrap it too
        else:
            flow = route.flow
        request = Request(conn, self, params)
        ctx = Context(request, params) if route is not None else None
        try:
            if flow is None:
                try:
                    response = await self._inner(route, ctx, outcome, request)
                except Exception as exc:
                    if ctx is not None:
                        ctx.error = exc
                    await self._fail(conn, request, exc)
                    return
            else:
                response, error = await flow.answer(self, request, route, ctx, outcome)
                if error is not None:
                    if ctx is not None:
                        ctx.error = error
                    await response.send_to(conn)
                    raise error
            await response.send_to(conn)
            if response.background is not None:
                await response.background()
        finally:
            if isinstance(outcome, _MountCall) and outcome.response is not None:
                await outcome.response.aclose()
            if ctx is not None:
                await self._finish(ctx)
            await request.close()

    async def _finish(self, ctx: Context) -> None:
        """Run injected background tasks (unless the handler failed), then dependency clean-up."""
        if ctx.background is not None and ctx.error is None:
            await ctx.background()
        await ctx.close()

    def _inner(
        self, route: Route | None, ctx: Context | None, outcome: Outcome, request: Request
    ) -> Awaitable[Response]:
        """Return what runs inside the steps: function middleware, else the handler."""
        pipeline = self._pipeline
        if pipeline is None:
            return self._dispatch(route, ctx, outcome, request)
        return self._through_functions(pipeline, route, ctx, outcome, request)

    async def _through_functions(
        self,
        pipeline: Endpoint,
        route: Route | None,
        ctx: Context | None,
        outcome: Outcome,
        request: Request,
    ) -> Response:
        token = _current.set((route, ctx, outcome))
        try:
            return await pipeline(request)
        finally:
            _current.reset(token)

    async def _endpoint(self, request: Request) -> Response:
        """The innermost function-middleware endpoint: hooks, then the handler."""
        route, ctx, outcome = _current.get()
        hooks = self._hooks
        if hooks is None:
            return await self._dispatch(route, ctx, outcome, request)
        return await hooks.wrap(_Dispatching(self), request, route, ctx, outcome)

    async def _dispatch(
        self,
        route: Route | None,
        ctx: Context | None,
        outcome: Outcome,
        request: Request,
    ) -> Response:
        """Run the handler (or the routing outcome); handled exceptions become responses."""
        try:
            if route is None or ctx is None:
                if isinstance(outcome, Response):
                    return outcome
                if isinstance(outcome, _MountCall):
                    scope = self._mount_scope(outcome.mount, scope_of(request.conn))
                    outcome.response = await start_mounted(outcome.mount.app, scope, request)
                    return outcome.response
                raise outcome or NotFound()
            plan = route.plan
            assert plan is not None
            kwargs = await solve(plan, ctx)
            # PERF: inlined run(): only routes with Depends(scope="function") take the detour.
            if ctx.early is None:
                return plan.render(await call(plan, kwargs))
            return plan.render(await call_early(plan, ctx, kwargs))
        except Exception as exc:
            if ctx is not None:
                ctx.error = exc
            handled = await self._handled(request, exc)
            if handled is None:
                raise
            if route is not None and route.deprecated:
                handled.headers.setdefault("deprecation", "true")
            return handled

    def _miss(self, table: RouteTable, conn: FastRequest, path: str) -> HTTPError | Response:
        """Decide the answer for a path no route matched: 405, OPTIONS, redirect or 404."""
        allowed = table.allowed(path)
        if allowed:
            allow = ", ".join(sorted(allowed | {"OPTIONS"}))
            if conn.method == "OPTIONS":
                return Response(None, status_code=204, headers={"allow": allow})
            return HTTPError(405, f"{conn.method} is not allowed here", headers={"Allow": allow})
        if self.redirect_slashes and path != "/":
            other = path[:-1] if path.endswith("/") else path + "/"
            if (
                table.match("GET", other)[0] is not None
                or table.allowed(other)
                or other in table.static
            ):
                url = (conn.root_path or self.root_path) + other.replace(ESCAPED_SLASH, "%2F")
                if conn.query_string:
                    url += "?" + conn.query_string.decode("latin-1")
                return RedirectResponse(url, status_code=308)
        return NotFound(f"No route for {path.replace(ESCAPED_SLASH, '%2F')}")

    def _mount_scope(self, mount: Mount, scope: Scope) -> Scope:
        child = dict(scope)
        child["root_path"] = (scope.get("root_path") or self.root_path) + mount.path
        child[RAISE_HTTP_ERRORS] = True
        return child

    async def _call_mount(self, mount: Mount, scope: Scope, receive: Receive, send: Send) -> None:
        await mount.app(self._mount_scope(mount, scope), receive, send)

    # --- errors ------------------------------------------------------------------------------

    def _handler_for(self, exc: Exception) -> ExceptionHandler | None:
        handlers = self.exception_handlers
        if not handlers:
            return None
        for cls in type(exc).__mro__:
            if cls is Exception:
                # NOTE: a handler for Exception (or 500) only answers unhandled errors; HTTP
                # errors keep their own responses (as in Starlette).
                break
            handler = handlers.get(cls)
            if handler is not None:
                return handler
        if isinstance(exc, HTTPError):
            return handlers.get(exc.status_code)
        return None

    async def _call_handler(
        self, handler: ExceptionHandler, request: Request, exc: Exception
    ) -> Response:
        if inspect.iscoroutinefunction(handler):
            result = await handler(request, exc)
        else:
            result = await run_in_threadpool(handler, request, exc)
            if inspect.isawaitable(result):
                result = await result
        if not isinstance(result, Response):
            name = getattr(handler, "__qualname__", repr(handler))
            raise TypeError(
                f"exception handler {name} returned {type(result).__name__}, not a Response"
            )
        return result

    async def _handled(self, request: Request, exc: Exception) -> Response | None:
        """Return the response for a handled exception (HTTPError or a registered class)."""
        handler = self._handler_for(exc)
        if handler is not None:
            return await self._call_handler(handler, request, exc)
        if isinstance(exc, HTTPError):
            return exc.to_response(request.headers.get("accept"))  # NOTE: HTML for browsers
        return None

    async def _fail(self, conn: FastRequest, request: Request, exc: Exception) -> None:
        """Answer an exception: handled ones normally, others with 500 (then re-raise)."""
        response, unhandled = await self._error_response(request, exc)
        await response.send_to(conn)
        if unhandled is not None:
            raise unhandled

    async def _error_response(
        self, request: Request, exc: Exception
    ) -> tuple[Response, Exception | None]:
        """Return the answer to ``exc`` and, for a 500, the error to re-raise once sent."""
        try:
            response = await self._handled(request, exc)
        except Exception as handler_exc:
            exc, response = handler_exc, None
        if response is not None:
            return response, None
        return await self._server_error(request, exc), exc

    def _unhandled_handler(self) -> ExceptionHandler | None:
        """Return the 500 handler: this app's, else (a mounted App) the nearest parent's."""
        app: App | None = self
        while app is not None:
            handlers = app.exception_handlers
            handler = handlers.get(500) or handlers.get(Exception)
            if handler is not None:
                return handler
            app = app._parent
        return None

    async def _server_error(self, request: Request, exc: Exception) -> Response:
        handler = self._unhandled_handler()
        if handler is not None:
            try:
                return await self._call_handler(handler, request, exc)
            except Exception:
                logger.exception("the 500 exception handler failed")
        if self.debug:
            return _debug_response(request, exc)
        return HTTPError(500).to_response(request.headers.get("accept"))

    # --- WebSocket ---------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        table = self._table
        assert table is not None
        path = routing_path(scope["path"], scope.get("raw_path") or b"")
        path = self._route_path(path, scope.get("root_path", ""))
        route, params = table.match(WEBSOCKET, path)
        if route is None:
            mount = table.mount_for(path)
            if mount is not None:
                await self._call_mount(mount, scope, receive, send)
                return
            await send(
                {"type": "websocket.close", "code": 1008, "reason": "no WebSocket route here"}
            )
            return
        plan = route.plan
        assert plan is not None
        ws = WebSocket(scope, receive, send)
        ctx = Context(ws, params, websocket=True)
        error: Exception | None = None
        try:
            await run(plan, ctx)
        except WebSocketDisconnect:
            pass
        except HTTPError as exc:
            # NOTE: before accept this makes the server answer 403; after, a policy close.
            error = exc
            await _close_websocket(send, 1008, exc.detail or exc.title)
        except Exception as exc:
            error = exc
            await _close_websocket(send, 1011, "internal error")
            handlers = self._websocket_error_handlers()
            if handlers:
                await _websocket_error(handlers, ws, exc)
            raise
        finally:
            await ctx.close(error)

    def _websocket_error_handlers(self) -> list[WebSocketErrorHandler]:
        """Return this app's WebSocket error handlers, else (mounted) the nearest parent's."""
        app: App | None = self
        while app is not None:
            if app.websocket_error_handlers:
                return list(app.websocket_error_handlers)
            app = app._parent
        return []

    # --- running -----------------------------------------------------------------------------

    def run(
        self, host: str = "127.0.0.1", port: int = 8000, workers: int = 1, **options: Any
    ) -> None:
        """Serve this app with the celeris server (blocks until stopped)."""
        # NOTE: imported here, not at module level: the core never imports the server
        # (layering, and `import celeris` stays cheap); this is the one entry that needs it.
        import celeris.server

        run: Callable[..., Any] = celeris.server.run
        run(self, host=host, port=port, workers=workers, **options)


class _Dispatching:
    """The app as the hooks' flow sees it inside function middleware: the handler next."""

    __slots__ = ("app",)

    def __init__(self, app: App) -> None:
        self.app = app

    def _inner(
        self, route: Route | None, ctx: Context | None, outcome: Outcome, request: Request
    ) -> Awaitable[Response]:
        return self.app._dispatch(route, ctx, outcome, request)

    def _error_response(
        self, request: Request, exc: Exception
    ) -> Awaitable[tuple[Response, Exception | None]]:
        return self.app._error_response(request, exc)

    def _handled(self, request: Request, exc: Exception) -> Awaitable[Response | None]:
        return self.app._handled(request, exc)


def _split_middleware(specs: Sequence[Middleware]) -> tuple[list[Middleware], list[Step]]:
    """Split ``specs`` (outermost first) into ASGI-only ones and the steps of the innermost.

    A middleware class offering ``as_step(**options)`` becomes a step when every middleware
    inside it does too: steps run inside all ASGI middleware, so the order stays the same.
    """
    inner = len(specs)
    while inner > 0 and callable(getattr(specs[inner - 1].cls, "as_step", None)):
        inner -= 1
    steps: list[Step] = []
    for spec in specs[inner:]:
        step = spec.cls.as_step(**spec.options)  # type: ignore[attr-defined]
        if not isinstance(step, Step):
            raise TypeError(f"{spec!r}: as_step() returned {step!r}, not a celeris.Step")
        steps.append(step)
    return list(specs[:inner]), steps


async def _close_websocket(send: Send, code: int, reason: str) -> None:
    """Close a WebSocket, ignoring a connection that is already gone."""
    # NOTE: a close reason is at most 123 bytes of UTF-8.
    text = reason.encode("utf-8")[:123].decode("utf-8", "ignore")
    try:
        await send({"type": "websocket.close", "code": code, "reason": text})
    except Exception:
        logger.debug("could not close the WebSocket", exc_info=True)


async def _websocket_error(
    handlers: list[WebSocketErrorHandler], ws: WebSocket, exc: Exception
) -> None:
    """Call the ``on_websocket_error`` handlers; one that fails is logged, never raised."""
    for handler in handlers:
        try:
            if inspect.iscoroutinefunction(handler):
                await handler(ws, exc)
            else:
                result = await run_in_threadpool(handler, ws, exc)
                if inspect.isawaitable(result):
                    await result
        except Exception:
            logger.exception("the WebSocket error handler %r failed", handler)


def _debug_response(request: Request, exc: Exception) -> Response:
    """Render a readable traceback: HTML for browsers, problem+json otherwise."""
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    accept = request.headers.get("accept", "")
    if "text/html" in accept:
        body = (
            "<!doctype html><html><head><meta charset='utf-8'><title>500 Internal Server Error</title>"
            "<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:1em;"
            "overflow:auto}</style></head><body>"
            f"<h1>{html.escape(type(exc).__name__)}: {html.escape(str(exc))}</h1>"
            f"<p>{html.escape(request.method)} {html.escape(request.url.path)}</p>"
            f"<pre>{html.escape(''.join(lines))}</pre></body></html>"
        )
        return Response(body, status_code=500, media_type="text/html")
    payload = {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": f"{type(exc).__name__}: {exc}",
        "traceback": "".join(lines).splitlines(),
    }
    return Response(json_encode(payload), status_code=500, media_type="application/problem+json")
