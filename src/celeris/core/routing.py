"""Routes, routers and the compiled route table.

``Router`` collects routes through decorators; ``RouteTable`` compiles the flattened
routes once at start-up into a dict for static paths and, per method, one combined
regular expression for paths with ``{parameters}``.
"""

from __future__ import annotations

import inspect
import re
import sys
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypedDict, TypeVar, Unpack, cast
from urllib.parse import quote, unquote

from a2wsgi import WSGIMiddleware

from celeris.core.params import Dependency
from celeris.core.pipeline import Flow, Step
from celeris.core.responses import Response
from celeris.core.signature import Plan, compile_plan
from celeris.types import ASGIApp

F = TypeVar("F", bound=Callable[..., Any])

HTTP_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
WEBSOCKET: Final = "WEBSOCKET"  # NOTE: WebSocket routes live in the same table under this method.
#: In the path the router matches, a slash that came percent-encoded (``%2F``): part of a
#: segment, not a separator (RFC 3986 2.2). Parameters get it back as ``/``.
ESCAPED_SLASH: Final = "\udc2f"
# NOTE: a lone surrogate: no decoded request path holds one (servers decode UTF-8 with
# errors="replace", and a surrogate cannot come out of valid UTF-8), and compile_path refuses
# templates that do. It never leaves the router: the 404 detail and redirects write %2F.


class RouteConflict(Exception):
    """Two routes match exactly the same paths and methods (raised at start-up)."""


class NoMatchFound(LookupError):
    """``url_for`` found no route of that name, or a path parameter is missing."""


class RouteOptions(TypedDict, total=False):
    """The options every route decorator takes (declared once, here)."""

    name: str | None
    status_code: int | None
    tags: list[str] | None
    summary: str | None
    description: str | None
    response_model: Any
    responses: dict[int, Any] | None
    operation_id: str | None
    deprecated: bool
    include_in_schema: bool
    # merged into the route's OpenAPI operation object (``requestBody``, ``responses``...), for
    # what the handler does that its signature does not show (a body it reads itself)
    openapi_extra: Mapping[str, Any] | None
    dependencies: Sequence[Any] | None
    steps: Sequence[Step] | None  # run after the app's steps, in order (core/pipeline.py)
    csrf_exempt: bool  # read by celeris.security.CSRF: the route skips the CSRF check
    # a decorator applied to the handler once, at registration (``cache=cache.response(ttl=30)``
    # from celeris.cache): the core only calls it; the handler keeps its name and signature
    cache: Callable[[Callable[..., Any]], Callable[..., Any]] | None


class RouterOptions(TypedDict, total=False):
    """Options of ``include_router`` (``App``'s and ``Router``'s)."""

    prefix: str
    tags: list[str] | None
    dependencies: Sequence[Any] | None
    include_in_schema: bool


# --- path compilation -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Converter:
    """A path converter: the regex of a segment and the functions to and from text."""

    regex: str
    convert: Callable[[str], Any]
    to_string: Callable[[Any], str]
    rank: int  # NOTE: lower ranks are tried first; a static segment has rank 0.


def _int_to_string(value: Any) -> str:
    number = int(value)
    if number < 0:
        raise ValueError("negative integers do not match {name:int}")
    return str(number)


CONVERTERS: Final[dict[str, Converter]] = {
    "str": Converter("[^/]+", str, str, 3),
    # NOTE: at most 4,300 digits, Python's default limit for int(str): a longer segment does
    # not match (404) instead of failing in int() (500).
    "int": Converter("[0-9]{1,4300}", int, _int_to_string, 1),
    "float": Converter(r"[0-9]+(?:\.[0-9]+)?", float, lambda v: repr(float(v)), 1),
    "uuid": Converter(
        "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}",
        uuid.UUID,
        str,
        2,
    ),
    "path": Converter(".*", str, str, 4),
}

_PARAM: Final = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_]+))?}")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
# what url_for leaves unescaped in a value: RFC 3986 pchar (sub-delims, ":" and "@")
_SAFE: Final = "!$&'()*+,;=:@"
_PATH_SAFE: Final = _SAFE + "/"
_VERSION: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True, slots=True)
class CompiledPath:
    """A path template compiled: regex body, parameter converters, sort and identity keys."""

    path: str
    regex: str  # without anchors; parameters as unnamed groups in order
    params: tuple[tuple[str, Converter], ...]
    shape: str  # identity: two routes with equal shapes match exactly the same paths
    rank: tuple[int, ...]

    @property
    def is_static(self) -> bool:
        """Tell whether the path has no parameters."""
        return not self.params

    def format(self, values: dict[str, Any]) -> str:
        """Build a concrete path from parameter values; raises NoMatchFound."""
        texts: dict[str, str] = {}
        for name, conv in self.params:
            if name not in values:
                raise NoMatchFound(f"path {self.path!r} needs the parameter {name!r}")
            try:
                text = conv.to_string(values[name])
            except (TypeError, ValueError) as exc:
                raise NoMatchFound(f"bad value for {name!r} in {self.path!r}: {exc}") from None
            # NOTE: a ``{name}`` value may hold "/": it goes out as %2F and routes back whole.
            if not re.fullmatch(conv.regex, text.replace("/", ESCAPED_SLASH)):
                raise NoMatchFound(f"value {text!r} does not match {{{name}}} in {self.path!r}")
            texts[name] = quote(text, safe=_PATH_SAFE if conv is CONVERTERS["path"] else _SAFE)

        def fill(match: re.Match[str]) -> str:
            return texts[match.group(1)]

        return _PARAM.sub(fill, self.path)


def compile_path(path: str) -> CompiledPath:
    """Compile a path template like ``/items/{item_id:int}``; raises ValueError if malformed."""
    if not path.startswith("/"):
        raise ValueError(f"route path {path!r} must start with '/'")
    if _SURROGATE.search(path):
        raise ValueError(f"route path {path!r} holds a lone surrogate (no URL can match it)")
    regex: list[str] = []
    shape: list[str] = []
    params: list[tuple[str, Converter]] = []
    rank: list[int] = []
    pos = 0
    for match in _PARAM.finditer(path):
        name, conv_name = match.group(1), match.group(2) or "str"
        if conv_name not in CONVERTERS:
            raise ValueError(
                f"unknown converter {conv_name!r} in {path!r}; use one of {sorted(CONVERTERS)}"
            )
        if any(name == seen for seen, _ in params):
            raise ValueError(f"duplicate parameter {name!r} in {path!r}")
        static = path[pos : match.start()]
        regex.append(re.escape(static))
        shape.append(static)
        rank.extend(0 for _ in static.split("/")[1:-1])
        conv = CONVERTERS[conv_name]
        regex.append(f"({conv.regex})")
        shape.append(f"{{{conv_name}}}")
        rank.append(conv.rank)
        params.append((name, conv))
        pos = match.end()
    tail = path[pos:]
    if (
        "{" in tail
        or "}" in tail
        or any("{" in s or "}" in s for s in shape if not s.startswith("{"))
    ):
        raise ValueError(f"malformed parameter in route path {path!r}")
    regex.append(re.escape(tail))
    shape.append(tail)
    rank.extend(0 for _ in tail.split("/")[1:])
    return CompiledPath(path, "".join(regex), tuple(params), "".join(shape), tuple(rank))


# --- routes ---------------------------------------------------------------------------------


def _handler_name(endpoint: Any) -> str:
    module = getattr(endpoint, "__module__", None) or "?"
    qualname = getattr(endpoint, "__qualname__", None) or type(endpoint).__name__
    return f"{module}.{qualname}"


class Route:
    """One HTTP endpoint: path, methods, handler, options and (once compiled) its plan."""

    __slots__ = (
        "compiled",
        "csrf_exempt",
        "dependencies",
        "deprecated",
        "description",
        "endpoint",
        "flow",
        "include_in_schema",
        "localns",
        "methods",
        "name",
        "openapi_extra",
        "operation_id",
        "path",
        "plan",
        "response_model",
        "responses",
        "status_code",
        "steps",
        "summary",
        "tags",
        "version",
    )

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Iterable[str] = ("GET",),
        **options: Unpack[RouteOptions],
    ) -> None:
        self.path = path
        self.compiled = compile_path(path)
        self.endpoint = endpoint
        self.methods = frozenset(m.upper() for m in methods)
        if not self.methods:
            raise ValueError(f"route {path!r} needs at least one method")
        self.name: str = str(
            options.get("name") or getattr(endpoint, "__name__", type(endpoint).__name__)
        )
        self.status_code = options.get("status_code")
        self.tags: list[str] = list(options.get("tags") or ())
        self.summary = options.get("summary")
        doc = inspect.getdoc(endpoint) if callable(endpoint) else None
        self.description = options.get("description") or doc
        self.response_model = options.get("response_model")
        self.responses: dict[int, Any] = dict(options.get("responses") or {})
        self.operation_id = options.get("operation_id")
        self.deprecated = bool(options.get("deprecated", False))
        self.include_in_schema = bool(options.get("include_in_schema", True))
        extra = options.get("openapi_extra")
        if extra is not None and not isinstance(extra, Mapping):
            raise TypeError(f"openapi_extra= on {path!r} takes a mapping, got {extra!r}")
        self.openapi_extra: Mapping[str, Any] | None = extra
        self.dependencies: list[Dependency] = _check_dependencies(options.get("dependencies"))
        self.steps: list[Step] = _check_steps(options.get("steps"))
        self.csrf_exempt = bool(options.get("csrf_exempt", False))
        self.flow: Flow | None = None  # what runs around the handler, set when the app starts
        self.version: str | None = None  # set by a versioned Router (``Router(version="v1")``)
        self.plan: Plan | None = None
        self.localns: Mapping[str, Any] | None = None  # the declaring scope, for string annotations

    @property
    def handler_name(self) -> str:
        """Return ``module.qualname`` of the handler, for messages."""
        return _handler_name(self.endpoint)

    def options(self) -> RouteOptions:
        """Return the options this route was declared with."""
        return RouteOptions(
            name=self.name,
            status_code=self.status_code,
            tags=list(self.tags),
            summary=self.summary,
            description=self.description,
            response_model=self.response_model,
            responses=dict(self.responses),
            operation_id=self.operation_id,
            deprecated=self.deprecated,
            include_in_schema=self.include_in_schema,
            openapi_extra=self.openapi_extra,
            dependencies=list(self.dependencies),
            steps=list(self.steps),
            csrf_exempt=self.csrf_exempt,
        )

    def copy_with(
        self,
        prefix: str,
        tags: Sequence[str],
        dependencies: Sequence[Dependency],
        version: str | None = None,
        steps: Sequence[Step] = (),
        csrf_exempt: bool = False,
    ) -> Route:
        """Return a copy under ``prefix`` with extra tags, dependencies and steps in front.

        The copy keeps this route's API version unless it has none and ``version`` is given.
        """
        opts = self.options()
        opts["tags"] = [*tags, *(t for t in self.tags if t not in tags)]
        opts["dependencies"] = [*dependencies, *self.dependencies]
        opts["steps"] = [*steps, *self.steps]
        opts["csrf_exempt"] = csrf_exempt or self.csrf_exempt
        route = type(self)(_join(prefix, self.path), self.endpoint, methods=self.methods, **opts)
        route.localns = self.localns
        route.version = self.version or version
        return route

    def compile(self, app_dependencies: Sequence[Dependency] = ()) -> Plan:
        """Compile the handler's plan once (start-up)."""
        if self.plan is None:
            self.plan = compile_plan(
                self.endpoint,
                path_params={name for name, _ in self.compiled.params},
                dependencies=[*app_dependencies, *self.dependencies],
                response_model=self.response_model,
                status_code=self.status_code,
                websocket=WEBSOCKET in self.methods,
                localns=self.localns,
            )
            if self.deprecated:
                _mark_deprecated(self.plan)
        return self.plan

    def url_path(self, **params: Any) -> str:
        """Build this route's path from parameter values."""
        return self.compiled.format(params)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, {self.handler_name}, methods={sorted(self.methods)})"


def _mark_deprecated(plan: Plan) -> None:
    """Make every response the plan renders carry ``Deprecation: true`` (RFC 9745)."""
    render = plan.render
    # NOTE: the short lane (celeris.core.lane) would skip the header on error responses.
    plan.simple = plan.text_only = plan.body_short = False

    def render_deprecated(value: Any) -> Response:
        response = render(value)
        response.headers.setdefault("deprecation", "true")
        return response

    plan.render = render_deprecated
    # NOTE: the fast paths build responses without render(); a deprecated route leaves them.
    plan.simple = plan.direct = False


class WebSocketRoute(Route):
    """A WebSocket endpoint."""

    __slots__ = ()

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: Iterable[str] = (WEBSOCKET,),
        **options: Unpack[RouteOptions],
    ) -> None:
        super().__init__(path, endpoint, methods=(WEBSOCKET,), **options)


def is_wsgi(app: Any) -> bool:
    """Tell whether ``app`` looks like a WSGI application (two positional parameters)."""
    if not callable(app):
        return False
    target = app if inspect.isroutine(app) else type(app).__call__
    if inspect.iscoroutinefunction(target) or inspect.iscoroutinefunction(app):
        return False
    try:
        params = [
            p
            for p in inspect.signature(app).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return False
    return len(params) == 2


class Mount:
    """An ASGI or WSGI application (or another App) served under a path prefix."""

    __slots__ = ("app", "name", "path")

    def __init__(self, path: str, app: Any, *, name: str | None = None) -> None:
        path = "/" + path.strip("/") if path.strip("/") else ""
        self.path = path
        self.app: ASGIApp = cast("ASGIApp", WSGIMiddleware(app)) if is_wsgi(app) else app
        self.name = name

    def matches(self, path: str) -> bool:
        """Tell whether ``path`` falls under this mount."""
        return not self.path or path == self.path or path.startswith(self.path + "/")

    def url_path(self, **params: Any) -> str:
        """Build a path under the mount (``path=`` gives the rest)."""
        rest = str(params.pop("path", ""))
        if params:
            raise NoMatchFound(f"mount {self.path!r} takes only path=, not {sorted(params)}")
        return self.path + "/" + rest.lstrip("/") if rest else self.path or "/"

    def __repr__(self) -> str:
        return f"Mount({self.path!r}, {self.app!r})"


def _caller_locals() -> Mapping[str, Any] | None:
    """Return the local names of the function that applied a route decorator, if any."""
    # NOTE: frame 0 is this function, 1 the decorator, 2 the code applying it. Module-level
    # declarations need nothing (their globals are the handler's); only function scopes do.
    frame = sys._getframe(2)
    return None if frame.f_locals is frame.f_globals else dict(frame.f_locals)


def _join(prefix: str, path: str) -> str:
    return prefix.rstrip("/") + path


def _check_steps(steps: Sequence[Any] | None) -> list[Step]:
    out: list[Step] = []
    for step in steps or ():
        if not isinstance(step, Step):
            raise TypeError(f"steps= takes celeris.Step instances, got {step!r}")
        out.append(step)
    return out


def _check_dependencies(deps: Sequence[Any] | None) -> list[Dependency]:
    out: list[Dependency] = []
    for dep in deps or ():
        if not isinstance(dep, Dependency):
            raise TypeError(f"dependencies= takes Depends(...) items, got {dep!r}")
        out.append(dep)
    return out


# --- routers --------------------------------------------------------------------------------


class RouteRegistrar(ABC):
    """The route decorators, written once: ``get``, ``post``... are aliases of ``route()``.

    ``Router`` and ``App`` are the two subclasses; each implements ``route()`` only.
    """

    __slots__ = ()

    @abstractmethod
    def route(
        self, path: str, methods: Sequence[str] | None = None, **options: Unpack[RouteOptions]
    ) -> Callable[[F], F]:
        """Register the decorated function for ``path`` and ``methods`` (GET by default)."""

    def get(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register a GET handler (HEAD is answered too)."""
        return self.route(path, ["GET"], **options)

    def post(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register a POST handler."""
        return self.route(path, ["POST"], **options)

    def put(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register a PUT handler."""
        return self.route(path, ["PUT"], **options)

    def patch(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register a PATCH handler."""
        return self.route(path, ["PATCH"], **options)

    def delete(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register a DELETE handler."""
        return self.route(path, ["DELETE"], **options)

    def head(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register a HEAD handler."""
        return self.route(path, ["HEAD"], **options)

    def options(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register an OPTIONS handler (replacing the automatic answer)."""
        return self.route(path, ["OPTIONS"], **options)

    def websocket(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register a WebSocket handler."""
        return self.route(path, [WEBSOCKET], **options)


class Router(RouteRegistrar):
    """A group of routes with a shared prefix, tags and dependencies; routers nest.

    ``version="v1"`` puts the routes under ``/v1`` (before ``prefix``) and marks them with
    that API version (``route.version``; ``/openapi.json?version=v1`` documents them alone).
    ``steps`` run on every route of the router (after the app's, before the route's own);
    ``csrf_exempt=True`` exempts them all from the CSRF check.
    """

    def __init__(
        self,
        prefix: str = "",
        tags: list[str] | None = None,
        dependencies: Sequence[Any] | None = None,
        include_in_schema: bool = True,
        version: str | None = None,
        steps: Sequence[Step] | None = None,
        csrf_exempt: bool = False,
    ) -> None:
        if prefix and not prefix.startswith("/"):
            raise ValueError(f"router prefix {prefix!r} must start with '/'")
        if version is not None and (
            not isinstance(version, str) or not _VERSION.fullmatch(version)
        ):
            raise ValueError(
                f"router version {version!r} must be a path segment such as 'v1' "
                "(letters, digits, '.', '_', '-')"
            )
        self.version = version
        self.prefix = (f"/{version}" if version else "") + prefix.rstrip("/")
        self.tags = list(tags or ())
        self.dependencies = _check_dependencies(dependencies)
        self.steps = _check_steps(steps)
        self.csrf_exempt = csrf_exempt
        self.include_in_schema = include_in_schema
        self._routes: list[Route | Mount] = []
        self._children: list[tuple[Router, str, list[str], list[Dependency], bool]] = []

    # decorators: every one is a thin alias of route()

    def route(
        self, path: str, methods: Sequence[str] | None = None, **options: Unpack[RouteOptions]
    ) -> Callable[[F], F]:
        """Register the decorated function for ``path`` and ``methods`` (GET by default)."""

        def decorator(endpoint: F) -> F:
            route = self.add_route(path, endpoint, methods=methods or ("GET",), **options)
            route.localns = _caller_locals()
            return endpoint

        return decorator

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Iterable[str] = ("GET",),
        **options: Unpack[RouteOptions],
    ) -> Route:
        """Register ``endpoint`` for ``path`` and ``methods``; return the route."""
        methods = [m.upper() for m in methods]
        unknown = [m for m in methods if m not in HTTP_METHODS and m != WEBSOCKET]
        if unknown:
            raise ValueError(f"unknown HTTP method(s) {unknown} for {path!r}")
        cls = WebSocketRoute if WEBSOCKET in methods else Route
        if cls is WebSocketRoute and len(methods) > 1:
            raise ValueError(f"a WebSocket route {path!r} cannot also take HTTP methods")
        wrap = options.pop("cache", None)
        if wrap is not None:
            if cls is WebSocketRoute or not callable(wrap):
                raise TypeError(
                    f"cache= on {path!r} takes a response cache such as cache.response(ttl=30) "
                    "on an HTTP route"
                )
            endpoint = wrap(endpoint)
        route = cls(path, endpoint, methods=methods, **options)
        self._routes.append(route)
        return route

    def add_resource(
        self,
        path: str,
        resource: object,
        *,
        name: str | None = None,
        steps: Sequence[Step] | None = None,
        csrf_exempt: bool = False,
    ) -> list[Route]:
        """Register a Falcon-style resource whose ``on_get``, ``on_post``... are handlers."""
        added: list[Route] = []
        base = name or type(resource).__name__
        for method in HTTP_METHODS:
            handler = getattr(resource, f"on_{method.lower()}", None)
            if callable(handler):
                added.append(
                    self.add_route(
                        path,
                        handler,
                        [method],
                        name=f"{base}.on_{method.lower()}",
                        steps=steps,
                        csrf_exempt=csrf_exempt,
                    )
                )
        if not added:
            raise ValueError(f"{type(resource).__name__} has no on_get/on_post/... method to route")
        return added

    def mount(self, path: str, app: Any, *, name: str | None = None) -> None:
        """Serve an ASGI app, a WSGI app (detected) or another App under ``path``."""
        self._routes.append(Mount(path, app, name=name))

    def include_router(self, router: Router, **options: Unpack[RouterOptions]) -> None:
        """Include ``router``'s routes (now and later) under ``prefix``."""
        if router is self:
            raise ValueError("a router cannot include itself")
        unknown = set(options) - set(RouterOptions.__annotations__)
        if unknown:
            raise TypeError(f"include_router() got unknown options {sorted(unknown)}")
        prefix = options.get("prefix", "")
        if prefix and not prefix.startswith("/"):
            raise ValueError(f"prefix {prefix!r} must start with '/'")
        deps = _check_dependencies(options.get("dependencies"))
        tags = list(options.get("tags") or ())
        visible = options.get("include_in_schema", True)
        self._children.append((router, prefix.rstrip("/"), tags, deps, visible))

    def iter_routes(
        self,
        prefix: str = "",
        tags: Sequence[str] = (),
        dependencies: Sequence[Dependency] = (),
        include_in_schema: bool = True,
        _seen: frozenset[int] = frozenset(),
        version: str | None = None,
        steps: Sequence[Step] = (),
        csrf_exempt: bool = False,
    ) -> Iterator[Route | Mount]:
        """Yield every route, flattened: prefixes joined, tags, dependencies and steps merged.

        A route's API version is that of the innermost versioned router holding it.
        """
        if id(self) in _seen:
            raise ValueError("routers include each other in a cycle")
        seen = _seen | {id(self)}
        full = prefix + self.prefix
        all_tags = [*tags, *(t for t in self.tags if t not in tags)]
        all_deps = [*dependencies, *self.dependencies]
        visible = include_in_schema and self.include_in_schema
        version = self.version or version
        all_steps = [*steps, *self.steps]
        exempt = csrf_exempt or self.csrf_exempt
        for item in self._routes:
            if isinstance(item, Mount):
                yield Mount(full + item.path, item.app, name=item.name) if full else item
            else:
                route = item.copy_with(full, all_tags, all_deps, version, all_steps, exempt)
                route.include_in_schema = route.include_in_schema and visible
                yield route
        for child, child_prefix, child_tags, child_deps, child_visible in self._children:
            yield from child.iter_routes(
                full + child_prefix,
                [*all_tags, *(t for t in child_tags if t not in all_tags)],
                [*all_deps, *child_deps],
                visible and child_visible,
                seen,
                version,
                all_steps,
                exempt,
            )


# --- the compiled table ---------------------------------------------------------------------


class _Matcher:
    """One combined regex over the dynamic routes of one method."""

    __slots__ = ("match", "targets")

    def __init__(self, routes: list[Route]) -> None:
        routes = sorted(routes, key=lambda r: r.compiled.rank)
        parts: list[str] = []
        self.targets: dict[
            int, tuple[Route, tuple[tuple[str, int, Callable[[str], Any]], ...]]
        ] = {}
        group = 1
        for route in routes:
            parts.append(f"({route.compiled.regex})")
            params = tuple(
                (name, group + i + 1, conv.convert)
                for i, (name, conv) in enumerate(route.compiled.params)
            )
            self.targets[group] = (route, params)
            group += 1 + len(params)
        self.match = re.compile("^(?:" + "|".join(parts) + ")$").match

    def find(self, path: str) -> tuple[Route, dict[str, Any]] | None:
        """Return the first route matching ``path`` with its converted parameters."""
        m = self.match(path)
        if m is None:
            return None
        route, params = self.targets[m.lastindex]  # type: ignore[index]
        group = m.group
        if ESCAPED_SLASH in path:
            return route, {
                name: conv(group(i).replace(ESCAPED_SLASH, "/")) for name, i, conv in params
            }
        return route, {name: conv(group(i)) for name, i, conv in params}


def routing_path(path: str, raw_path: bytes) -> str:
    """Return the path to route on: ``path`` with each ``%2F`` of ``raw_path`` as ESCAPED_SLASH.

    Only a request whose raw path held an escape needs this (``path`` is then shorter). The
    raw path is split on its real slashes and each segment decoded on its own, as the server
    decodes the whole; ``path`` is kept as it is when the raw path is not its (tail's) source
    (a middleware rewrote the path).
    """
    # SECURITY: scope["path"] stays decoded, so a middleware judging path prefixes sees
    # "/a/b" where the router sees one segment "a/b"; docs/guide.md says to guard routes instead.
    raw = raw_path.decode("latin-1")
    if "%2F" not in raw and "%2f" not in raw:
        return path
    segments = [unquote(segment) if "%" in segment else segment for segment in raw.split("/")]
    decoded = "/".join(segments)
    if ESCAPED_SLASH in decoded or not path.endswith(decoded):
        return path
    # NOTE: a root_path the server put in front of ``path`` but not of ``raw_path`` stays.
    prefix = path[: len(path) - len(decoded)]
    return prefix + "/".join(segment.replace("/", ESCAPED_SLASH) for segment in segments)


EMPTY_PARAMS: Final[dict[str, Any]] = {}


def _first_segment_key(path: str) -> str | None:
    """Return the route's first path segment if it is fully static, else None."""
    end = path.find("/", 1)
    first = path[1:end] if end > 0 else path[1:]
    return None if "{" in first else first


class RouteTable:
    """Routes compiled for matching: static paths by dict, the rest by per-method regex."""

    def __init__(
        self, items: Iterable[Route | Mount], app_dependencies: Sequence[Dependency] = ()
    ) -> None:
        self.routes: list[Route] = []
        self.mounts: list[Mount] = []
        self.static: dict[str, dict[str, Route]] = {}
        # method -> first path segment (None: the segment has a parameter) -> matcher
        self.dynamic: dict[str, dict[str | None, _Matcher]] = {}
        self.names: dict[str, Route | Mount] = {}
        seen: dict[tuple[str, str], Route] = {}
        by_method: dict[str, list[Route]] = {}
        for item in items:
            if isinstance(item, Mount):
                self.mounts.append(item)
                if item.name:
                    self.names.setdefault(item.name, item)
                continue
            item.compile(app_dependencies)
            self.routes.append(item)
            self.names.setdefault(item.name, item)
            for method in item.methods:
                key = (item.compiled.shape, method)
                other = seen.get(key)
                if other is not None:
                    raise RouteConflict(
                        f"{other.handler_name} ({other.path}) and {item.handler_name} ({item.path}) "
                        f"both match {method} {item.compiled.shape}; change a path or a method"
                    )
                seen[key] = item
                if item.compiled.is_static:
                    self.static.setdefault(item.path, {})[method] = item
                else:
                    by_method.setdefault(method, []).append(item)
        # NOTE: HEAD is answered wherever GET is, unless a HEAD handler was declared.
        for methods in self.static.values():
            if "GET" in methods and "HEAD" not in methods:
                methods["HEAD"] = methods["GET"]
        head = by_method.setdefault("HEAD", [])
        head_shapes = {r.compiled.shape for r in head}
        head.extend(r for r in by_method.get("GET", ()) if r.compiled.shape not in head_shapes)
        for method, routes in by_method.items():
            buckets: dict[str | None, list[Route]] = {}
            for route in routes:
                buckets.setdefault(_first_segment_key(route.path), []).append(route)
            if buckets:
                self.dynamic[method] = {key: _Matcher(rs) for key, rs in buckets.items()}

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, Any]]:
        """Return the route for ``method`` and ``path`` and its converted path parameters."""
        # PERF: a static path is one dict lookup and one small dict lookup; no regex.
        methods = self.static.get(path)
        if methods is not None:
            route = methods.get(method)
            if route is not None:
                return route, EMPTY_PARAMS
        buckets = self.dynamic.get(method)
        if buckets is not None:
            # PERF: dynamic routes are bucketed by their first segment, so one regex holds
            # only the routes that can match; a combined regex is linear in its routes.
            end = path.find("/", 1)
            matcher = buckets.get(path[1:end] if end > 0 else path[1:])
            if matcher is not None:
                found = matcher.find(path)
                if found is not None:
                    return found
            matcher = buckets.get(None)
            if matcher is not None:
                found = matcher.find(path)
                if found is not None:
                    return found
        return None, EMPTY_PARAMS

    def mount_for(self, path: str) -> Mount | None:
        """Return the first mount whose prefix covers ``path``."""
        for mount in self.mounts:
            if mount.matches(path):
                return mount
        return None

    def allowed(self, path: str) -> set[str]:
        """Return every HTTP method some route takes at ``path`` (for 405 and OPTIONS)."""
        allowed = set(self.static.get(path, ()))
        for method in self.dynamic:
            if method not in allowed and self.match(method, path)[0] is not None:
                allowed.add(method)
        allowed.discard(WEBSOCKET)
        return allowed

    def url_for(self, name: str, /, **params: Any) -> str:
        """Build the path of the route called ``name``; raises NoMatchFound."""
        target = self.names.get(name)
        if target is None:
            raise NoMatchFound(f"no route named {name!r}; known names: {sorted(self.names)}")
        if isinstance(target, Route):
            extra = set(params) - {n for n, _ in target.compiled.params}
            if extra:
                raise NoMatchFound(
                    f"route {name!r} ({target.path}) has no parameter(s) {sorted(extra)}"
                )
        return target.url_path(**params)
