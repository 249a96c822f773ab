"""Compile a handler's signature once into a ``Plan``: where each argument comes from.

A plan is plain, introspectable data (the OpenAPI generator reads it): for every
parameter its name, source, type, default, alias and whether it is required, the body
type and the response type; plus the precompiled extractors, converters and the
response renderer used per request.
"""

from __future__ import annotations

import inspect
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, get_args, get_origin, get_type_hints

from celeris.core._fast import HeaderExtractor, PathExtractor
from celeris.core.background import BackgroundTasks
from celeris.core.datastructures import UploadFile
from celeris.core.params import MISSING, Dependency, Param, Source
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.core.validation import (
    Converter,
    Decoder,
    ValidationFailure,
    constrained,
    identity,
    is_model,
    is_model_body,
    is_sequence,
    json_decoder,
    json_encoder,
    missing_error,
    repeated_error,
    strip_annotated,
    strip_optional,
    text_converter,
    value_converter,
)
from celeris.core.websocket import WebSocket


class Kind(StrEnum):
    """Where a parameter's value comes from."""

    PATH = "path"
    QUERY = "query"
    HEADER = "header"
    COOKIE = "cookie"
    BODY = "body"
    FORM = "form"
    FILE = "file"
    REQUEST = "request"
    WEBSOCKET = "websocket"
    BACKGROUND = "background"
    DEPENDENCY = "dependency"


TEXT_KINDS: Final = frozenset({Kind.PATH, Kind.QUERY, Kind.HEADER, Kind.COOKIE})

# (request-or-websocket, path_params) -> value, MISSING when absent; raises ValidationFailure
Extractor = Callable[[Any, dict[str, Any]], Any]


@dataclass(slots=True, eq=False)
class ParamInfo:
    """One handler parameter: its source, type and wire name, and how to get it."""

    name: str
    kind: Kind
    annotation: Any  # the type to convert to (Annotated constraints kept, markers removed)
    default: Any  # MISSING when required
    alias: str  # the name on the wire: query key, header name, cookie name, form field
    required: bool
    sequence: bool = False  # bound from repeated keys (list[int] from ?a=1&a=2)
    whole: bool = False  # a model gathered from the whole source (every query key / form field)
    marker: Param | Dependency | None = None
    dependency: Plan | None = None  # for Kind.DEPENDENCY
    use_cache: bool = True
    early: bool = False  # a Depends(scope="function"): cleaned up before the response is sent
    extract: Extractor | None = None
    convert: Converter | None = None

    @property
    def type(self) -> Any:
        """Return the declared type without ``Annotated`` metadata."""
        return strip_annotated(self.annotation)


@dataclass(slots=True, eq=False)
class Plan:
    """A compiled handler or dependency."""

    endpoint: Callable[..., Any]
    params: tuple[ParamInfo, ...]
    dependencies: tuple[ParamInfo, ...] = ()  # route/router/app-level Depends(); results unused
    is_async: bool = True
    is_generator: bool = False  # sync generator dependency
    is_async_generator: bool = False
    body_type: Any = None  # the single whole-body type, or None
    body_embed: bool = False  # several Body() params: each is a member of a JSON object
    body_decoder: Decoder | None = None
    body_params: tuple[ParamInfo, ...] = ()
    form_params: tuple[ParamInfo, ...] = ()
    response_type: Any = None
    status_code: int = 200
    render: Callable[[Any], Response] = field(default=lambda value: _not_compiled())
    encode: Callable[[Any], bytes] = field(default=json_encoder(Any))  # JSON, filtered by type
    simple: bool = False  # PERF: no parameters and no dependencies: call with no kwargs
    text_only: bool = False  # PERF: only path/query/header/cookie parameters, no dependencies
    direct: bool = True  # PERF: str/dict/list results may skip the Response object
    body_short: bool = False  # PERF: body and text parameters only, no dependencies or forms
    json_class: type | None = None  # PERF: results of exactly this class are encoded as JSON
    #: The handler or one of its dependencies takes the ``Request`` (steps read this: a route
    #: that cannot see the request needs no session loaded for it). The app also sets it on
    #: every route when it has hooks or function middleware, which see the request too.
    needs_request: bool = False
    #: PERF: the endpoint itself (not only what ``functools.wraps`` shows) takes exactly
    #: ``params``, in order, as positional-or-keyword parameters: the lane may pass them
    #: positionally, which costs about half a keyword call.
    positional: bool = False

    @property
    def has_body(self) -> bool:
        """Tell whether the handler reads a JSON/raw body."""
        return bool(self.body_params)

    def iter_all(self) -> typing.Iterator[ParamInfo]:
        """Yield every parameter, including those of nested dependencies (for OpenAPI)."""
        for info in (*self.dependencies, *self.params):
            if info.dependency is not None:
                yield from info.dependency.iter_all()
            else:
                yield info


def _not_compiled() -> Response:
    raise RuntimeError("this Plan was built by hand; use compile_plan()")


_SPECIAL: Final[tuple[tuple[type, Kind], ...]] = (
    (Request, Kind.REQUEST),
    (WebSocket, Kind.WEBSOCKET),
    (BackgroundTasks, Kind.BACKGROUND),
)


def _special_kind(tp: Any) -> Kind | None:
    tp = strip_optional(strip_annotated(tp))
    if isinstance(tp, type):
        for cls, kind in _SPECIAL:
            if issubclass(tp, cls):
                return kind
    return None


def _is_upload(tp: Any) -> bool:
    tp = strip_optional(strip_annotated(tp))
    if get_origin(tp) in (list, tuple, Sequence):
        args = get_args(tp)
        tp = strip_annotated(args[0]) if args else None
    return isinstance(tp, type) and issubclass(tp, UploadFile)


def _split_annotated(annotation: Any) -> tuple[Any, Param | Dependency | None]:
    """Return the annotation without celeris markers, and the marker found in it."""
    if get_origin(annotation) is not typing.Annotated:
        return annotation, None
    base, *meta = get_args(annotation)
    markers = [m for m in meta if isinstance(m, Param | Dependency)]
    rest = [m for m in meta if not isinstance(m, Param | Dependency)]
    if len(markers) > 1:
        raise TypeError(f"more than one source marker in {annotation!r}")
    clean = typing.Annotated[(base, *rest)] if rest else base
    return clean, markers[0] if markers else None


def _callable_name(func: Any) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def _hints(func: Callable[..., Any], localns: Mapping[str, Any] | None) -> dict[str, Any]:
    target = func
    if not (inspect.isfunction(func) or inspect.ismethod(func)):
        call = getattr(func, "__call__", None)  # noqa: B004 - callable objects
        target = call if call is not None and not isinstance(func, type) else func
    try:
        try:
            return get_type_hints(target, include_extras=True)
        except NameError:
            if not localns:
                raise
            # NOTE: string annotations (``from __future__ import annotations``) naming types
            # local to the function that declared the route resolve in that function's scope.
            return get_type_hints(target, localns=dict(localns), include_extras=True)
    except Exception as exc:  # NameError for unresolved forward references, mostly
        raise TypeError(
            f"cannot resolve the annotations of {_callable_name(func)}: {exc} (types named in "
            "annotations must be importable from the handler's module: define them at module "
            "level, or drop `from __future__ import annotations` there)"
        ) from exc


# --- extractors -----------------------------------------------------------------------------


def _path_extractor(alias: str, convert: Converter) -> Extractor:
    # PERF: a compiled object (celeris.core._fast), not a closure: no frame per value.
    return PathExtractor(alias, convert, convert is identity)


def _multi_extractor(kind: Kind, alias: str, convert: Converter, sequence: bool) -> Extractor:
    # NOTE: Request, WebSocket share .query_params/.headers (multi-maps) and .cookies (dict).
    if kind is Kind.COOKIE:

        def extract_cookie(conn: Any, path_params: dict[str, Any]) -> Any:
            value = conn.cookies.get(alias, MISSING)
            return value if value is MISSING else convert(value)

        return extract_cookie
    attr = "query_params" if kind is Kind.QUERY else "headers"
    if sequence:

        def extract_list(conn: Any, path_params: dict[str, Any]) -> Any:
            values = getattr(conn, attr).getlist(alias)
            return convert(values) if values else MISSING

        return extract_list

    if kind is Kind.QUERY:

        def extract_query(conn: Any, path_params: dict[str, Any]) -> Any:
            value, count = conn.query_params.get_single(alias, MISSING)
            if count == 1:
                return convert(value)
            if count == 0:
                return MISSING
            raise ValidationFailure([repeated_error(["query", alias], count)])

        return extract_query

    if kind is Kind.HEADER:
        try:
            name = alias.encode("latin-1")
        except UnicodeEncodeError:
            name = b""  # NOTE: no header can have this name: never found

        # PERF: the first value of the pre-encoded name, from the raw pairs, by a compiled
        # object (celeris.core._fast): no frame per value, none for a str parameter.
        return HeaderExtractor(name, convert, convert is identity)

    def extract_one(conn: Any, path_params: dict[str, Any]) -> Any:
        value = getattr(conn, attr).get(alias, MISSING)
        return value if value is MISSING else convert(value)

    return extract_one


def _model_extractor(convert: Converter) -> Extractor:
    def extract_model(conn: Any, path_params: dict[str, Any]) -> Any:
        data = gather(conn.query_params)
        return convert(data) if data else MISSING

    return extract_model


def gather(source: Any) -> dict[str, Any]:
    """Return a multi-map as a dict: one value per key, a list for repeated keys."""
    data: dict[str, Any] = {}
    for key, value in source.multi_items():
        if key in data:
            previous = data[key]
            data[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            data[key] = value
    return data


# --- compilation ----------------------------------------------------------------------------


def _param_info(
    name: str,
    parameter: inspect.Parameter,
    hint: Any,
    path_params: set[str],
    owner: str,
    localns: Mapping[str, Any] | None,
) -> ParamInfo:
    annotation, marker = _split_annotated(hint)
    default = parameter.default
    if isinstance(default, Param | Dependency):
        if marker is not None:
            raise TypeError(
                f"{owner}: parameter {name!r} has a marker both in Annotated and as default"
            )
        marker, default = default, MISSING
    if default is inspect.Parameter.empty:
        default = MISSING
    if isinstance(marker, Param) and marker.default is not MISSING:
        default = marker.default

    if isinstance(marker, Dependency):
        return _dependency_info(marker, name, annotation, path_params, owner, localns)

    if marker is None:
        special = _special_kind(annotation)
        if special is not None:
            return ParamInfo(name, special, annotation, MISSING, name, required=False)
        if name in path_params:
            kind = Kind.PATH
        elif _is_upload(annotation):
            kind = Kind.FILE
        elif (
            is_model_body(annotation)
            or strip_optional(annotation) is bytes
            or (get_origin(strip_optional(annotation)) or strip_optional(annotation)) is dict
        ):
            kind = Kind.BODY
        else:
            kind = Kind.QUERY
        marker = Param(Source(kind.value))
    else:
        kind = Kind(marker.source.value)
        if (
            kind is Kind.PATH
            and name not in path_params
            and (marker.alias or name) not in path_params
        ):
            raise TypeError(f"{owner}: Path() parameter {name!r} is not in the route path")

    alias = marker.alias or name
    if kind is Kind.HEADER and marker.alias is None and marker.convert_underscores:
        alias = name.replace("_", "-")
    if kind is Kind.HEADER:
        alias = alias.lower()
    if annotation is inspect.Parameter.empty:
        annotation = Any
    if marker.constraints:
        # NOTE: constraints become msgspec.Meta on the type, so validation and the OpenAPI
        # schema (which reads ``info.annotation``) both see them.
        try:
            annotation = constrained(annotation, marker.constraints)
        except TypeError as exc:
            raise TypeError(f"{owner}: parameter {name!r}: {exc}") from None
    sequence = kind in (Kind.QUERY, Kind.HEADER, Kind.FORM, Kind.FILE) and is_sequence(annotation)
    info = ParamInfo(
        name=name,
        kind=kind,
        annotation=annotation,
        default=default,
        alias=alias,
        required=default is MISSING,
        sequence=sequence,
        marker=marker,
    )
    loc: list[str | int] = [kind.value, alias]
    if kind in (Kind.QUERY, Kind.FORM) and is_model(strip_optional(annotation)):
        # NOTE: a model from the query string or a form takes every key as a field.
        info.whole = True
        info.sequence = False
        info.convert = text_converter(annotation, [kind.value])
        if kind is Kind.QUERY:
            info.extract = _model_extractor(info.convert)
        return info
    if kind in TEXT_KINDS:
        info.convert = text_converter(annotation, loc)
        info.extract = (
            _path_extractor(alias, info.convert)
            if kind is Kind.PATH
            else _multi_extractor(kind, alias, info.convert, sequence)
        )
    elif kind is Kind.FORM:
        info.convert = text_converter(annotation, loc)
    elif kind is Kind.FILE and marker.constraints:
        info.convert = value_converter(annotation, loc)  # NOTE: bytes read from the upload
    elif kind is Kind.BODY:
        info.convert = value_converter(annotation, loc)
    return info


def dependency_scope(marker: Dependency) -> str:
    """Return ``"request"`` or ``"function"``: the marker's scope, else the callable's default."""
    scope = marker.scope
    if scope is None:
        scope = getattr(marker.dependency, "celeris_dependency_scope", "request")
    if scope not in ("request", "function"):
        raise TypeError(
            f"{_callable_name(marker.dependency)}.celeris_dependency_scope must be 'request' "
            f"or 'function', not {scope!r}"
        )
    return str(scope)


def _early_inside(plan: Plan) -> str | None:
    """Return the name of a function-scoped dependency ``plan`` needs, directly or not."""
    for info in (*plan.dependencies, *plan.params):
        if info.dependency is not None:
            if info.early:
                return _callable_name(info.dependency.endpoint)
            found = _early_inside(info.dependency)
            if found:
                return found
    return None


def _dependency_info(
    marker: Dependency,
    name: str,
    annotation: Any,
    path_params: set[str],
    owner: str,
    localns: Mapping[str, Any] | None,
) -> ParamInfo:
    # NOTE: the route's path parameters reach its dependencies too (a dependency taking
    # ``room`` on ``/rooms/{room}`` reads the path, as FastAPI's do), at any depth.
    plan = compile_plan(marker.dependency, path_params=path_params, localns=localns)
    early = dependency_scope(marker) == "function"
    if not early and (plan.is_generator or plan.is_async_generator):
        # NOTE: its clean-up runs after the response, when a function-scoped one is gone.
        inner = _early_inside(plan)
        if inner is not None:
            raise TypeError(
                f"{owner}: the request-scoped dependency {_callable_name(marker.dependency)} "
                f"uses the function-scoped dependency {inner}; give it scope='function' too"
            )
    return ParamInfo(
        name=name,
        kind=Kind.DEPENDENCY,
        annotation=annotation,
        default=MISSING,
        alias=name,
        required=True,
        marker=marker,
        dependency=plan,
        use_cache=marker.use_cache,
        early=early,
    )


def compile_plan(
    endpoint: Callable[..., Any],
    *,
    path_params: set[str] | None = None,
    dependencies: Sequence[Dependency] = (),
    response_model: Any = None,
    status_code: int | None = None,
    websocket: bool = False,
    localns: Mapping[str, Any] | None = None,
) -> Plan:
    """Compile ``endpoint`` (a handler or a dependency) into a plan; raises TypeError if unusable.

    ``localns`` resolves string annotations naming types local to where the route was declared.
    """
    owner = _callable_name(endpoint)
    path_params = path_params or set()
    try:
        signature = inspect.signature(endpoint)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot read the signature of {owner}: {exc}") from exc
    hints = _hints(endpoint, localns)
    params: list[ParamInfo] = []
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise TypeError(f"{owner}: positional-only parameter {name!r} cannot be bound by name")
        hint = hints.get(name, parameter.annotation)
        params.append(_param_info(name, parameter, hint, path_params, owner, localns))

    func = endpoint if inspect.isroutine(endpoint) else getattr(endpoint, "__call__", endpoint)  # noqa: B004
    is_async_gen = inspect.isasyncgenfunction(func)
    is_gen = inspect.isgeneratorfunction(func)
    is_async = inspect.iscoroutinefunction(func) or is_async_gen

    deps = tuple(
        _dependency_info(dep, "", Any, path_params, owner, localns) for dep in dependencies
    )
    body_params = tuple(p for p in params if p.kind is Kind.BODY)
    embed = len(body_params) > 1 or any(
        isinstance(p.marker, Param) and p.marker.embed for p in body_params
    )
    body_type = None
    decoder = None
    if body_params and not embed:
        body_type = body_params[0].annotation
        decoder = json_decoder(body_type, ["body"])
    if websocket and (body_params or any(p.kind in (Kind.FORM, Kind.FILE) for p in params)):
        raise TypeError(f"{owner}: a WebSocket handler cannot take body, form or file parameters")

    response_type = response_model if response_model is not None else hints.get("return", Any)
    code = status_code if status_code is not None else 200
    plan = Plan(
        endpoint=endpoint,
        params=tuple(params),
        dependencies=deps,
        is_async=is_async,
        is_generator=is_gen,
        is_async_generator=is_async_gen,
        body_type=body_type,
        body_embed=embed,
        body_decoder=decoder,
        body_params=body_params,
        form_params=tuple(p for p in params if p.kind in (Kind.FORM, Kind.FILE)),
        response_type=response_type,
        status_code=code,
        simple=not params and not deps,
        text_only=bool(params) and not deps and all(p.kind in TEXT_KINDS for p in params),
        direct=200 <= code < 300 and code not in (204, 205),
        body_short=bool(body_params)
        and not deps
        and all(p.kind in TEXT_KINDS or p.kind is Kind.BODY for p in params),
        json_class=_json_class(response_type),
    )
    plan.render = make_renderer(response_type, status_code)
    plan.encode = json_encoder(_encodable(response_type))
    plan.needs_request = any(info.kind is Kind.REQUEST for info in plan.iter_all())
    plan.positional = _takes_positionally(endpoint, [info.name for info in params])
    return plan


def _takes_positionally(endpoint: Callable[..., Any], names: list[str]) -> bool:
    """Tell whether ``endpoint`` accepts exactly ``names``, in order, as positional values."""
    # NOTE: read from the code object, not the signature: a decorator's ``wrapper(**kwargs)``
    # shows the wrapped function's signature (functools.wraps, or a __signature__ it set),
    # but would refuse positional values.
    func: Any = endpoint
    skip = 0
    if inspect.ismethod(func):
        func, skip = func.__func__, 1
    if not isinstance(func, types.FunctionType):
        return False
    code = func.__code__
    return list(code.co_varnames[skip : code.co_argcount]) == names and not code.co_posonlyargcount


# --- rendering return values ----------------------------------------------------------------

TEXT_TYPE: Final = "text/plain; charset=utf-8"
JSON_TYPE: Final = "application/json"
OCTET_TYPE: Final = "application/octet-stream"


def make_renderer(response_type: Any, status_code: int | None) -> Callable[[Any], Response]:
    """Return the function turning a handler's return value into a Response."""
    encode = json_encoder(_encodable(response_type))
    code = status_code if status_code is not None else 200
    empty_code = status_code if status_code is not None else 204

    def render(value: Any) -> Response:
        # PERF: the common return types are checked by exact class first.
        cls = value.__class__
        if cls is str:
            return Response(value, status_code=code, media_type=TEXT_TYPE)
        if cls is dict or cls is list:
            return Response(encode(value), status_code=code, media_type=JSON_TYPE)
        if isinstance(value, Response):
            return value
        if value is None:
            return Response(b"", status_code=empty_code)
        if isinstance(value, bytes | bytearray | memoryview):
            return Response(bytes(value), status_code=code, media_type=OCTET_TYPE)
        if isinstance(value, str):
            return Response(str(value), status_code=code, media_type=TEXT_TYPE)
        return Response(encode(value), status_code=code, media_type=JSON_TYPE)

    return render


def _json_class(tp: Any) -> type | None:
    """Return the class whose instances ``render`` would always answer as JSON, if any."""
    base = strip_optional(strip_annotated(tp))
    if not isinstance(base, type) or base in (dict, list, type(None), Any):
        return None  # NOTE: dict and list have their own check; None renders as 204
    if issubclass(base, str | bytes | bytearray | memoryview | Response):
        return None
    return base


def _encodable(tp: Any) -> Any:
    """Return the type to encode JSON against: ``Any`` for non-JSON annotations."""
    base = strip_optional(strip_annotated(tp))
    if base in (None, type(None), str, bytes, inspect.Signature.empty):
        return Any
    if isinstance(base, type) and issubclass(base, Response):
        return Any
    if get_origin(base) in (typing.Union, types.UnionType):
        return Any
    return tp


# --- binding helpers used by di.py ----------------------------------------------------------


def bind_text(info: ParamInfo, conn: Any, path_params: dict[str, Any], errors: list[Any]) -> Any:
    """Return the value of a path/query/header/cookie parameter (its default when absent)."""
    assert info.extract is not None
    try:
        value = info.extract(conn, path_params)
    except ValidationFailure as exc:
        errors.extend(exc.errors)
        return MISSING
    if value is MISSING:
        if info.required:
            errors.append(missing_error([info.kind.value, info.alias]))
        return info.default
    return value


__all__ = ["Kind", "ParamInfo", "Plan", "compile_plan", "make_renderer"]
