"""Build the OpenAPI 3.1 document from compiled routes: once, at the first request for it.

Everything comes from what the core already compiled: the route (path, methods, options)
and its ``Plan`` (parameters with sources, types, defaults and aliases; body, form and
response types; dependencies, where security schemes are found).
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Final

from celeris.core.errors import HTTPError
from celeris.core.params import MISSING, Param
from celeris.core.responses import Response as HTTPResponse
from celeris.core.routing import Route, WebSocketRoute
from celeris.core.signature import Kind, ParamInfo, Plan
from celeris.core.status import reason_phrase
from celeris.core.validation import is_model, strip_annotated, strip_optional
from celeris.openapi import spec
from celeris.openapi.problems import (
    PROBLEM,
    PROBLEM_MEDIA_TYPE,
    VALIDATION_PROBLEM,
    problem_components,
)
from celeris.openapi.schema import REF_PREFIX, SchemaRegistry
from celeris.openapi.security import SecurityScheme

__all__ = ["OpenAPIError", "api_version_of", "generate", "operation_id_of"]

_CONVERTER_SCHEMAS: Final[dict[str, dict[str, Any]]] = {
    # NOTE: a "/" in a {name} value is fine: clients send it as %2F, which routes as data.
    "str": {"type": "string", "minLength": 1},
    "int": {"type": "integer", "minimum": 0},
    "float": {"type": "number", "minimum": 0},
    "uuid": {"type": "string", "format": "uuid"},
    "path": {"type": "string"},
}
_PARAM_IN: Final = {
    Kind.PATH: "path",
    Kind.QUERY: "query",
    Kind.HEADER: "header",
    Kind.COOKIE: "cookie",
}
_JSON: Final = "application/json"
_FORM: Final = "application/x-www-form-urlencoded"
_MULTIPART: Final = "multipart/form-data"
_BINARY: Final[dict[str, Any]] = {"type": "string", "format": "binary"}
_PATH_PARAM: Final = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_]+))?}")
_NOT_ID: Final = re.compile(r"[^A-Za-z0-9_.-]+")
_REASONS: Final = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Malformed request body",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    422: "Validation failed",
}


class OpenAPIError(Exception):
    """The routes cannot be described (duplicate operation ids, undescribable types)."""


def _describe(status: int) -> str:
    return _REASONS.get(status) or reason_phrase(status) or f"Status {status}"


def api_version_of(route: Route) -> str | None:
    """Return the API version a route belongs to (``Router(version="v1")``), if any."""
    # NOTE: read defensively: the core's routes gain ``version`` with versioned routers.
    version = getattr(route, "version", None)
    return version if isinstance(version, str) and version else None


def operation_id_of(route: Route, method: str) -> str:
    """Return the default operation id: ``group.function`` (``items.read_item``).

    The group is the route's first tag (a router's tag) or else its handler's module; a
    versioned route's id starts with its version (``v1.items.read_item``).
    """
    endpoint = route.endpoint
    if route.tags:
        group = _NOT_ID.sub("_", route.tags[0]).strip("_")
    else:
        group = (getattr(endpoint, "__module__", None) or "").rsplit(".", 1)[-1].strip("_")
    qualname = getattr(endpoint, "__qualname__", None) or route.name
    qualname = qualname.replace(".<locals>", "").replace("<", "").replace(">", "")
    base = f"{group or 'app'}.{qualname}"
    version = api_version_of(route)
    if version is not None:
        base = f"{version}.{base}"
    documented = [m for m in route.methods if m != "HEAD" or route.methods == {"HEAD"}]
    return f"{base}_{method.lower()}" if len(documented) > 1 else base


def _split_doc(route: Route) -> tuple[str | None, str | None]:
    """Return (summary, description): a docstring's first line and the rest."""
    doc = inspect.getdoc(route.endpoint)
    first, _, rest = (doc or "").partition("\n")
    summary = route.summary or first.strip() or route.name.replace("_", " ").capitalize()
    if route.description and route.description != doc:  # given explicitly
        return summary, route.description
    return summary, rest.strip() or None


def _walk_dependencies(plan: Plan) -> Iterator[Any]:
    """Yield every dependency callable of a plan, nested ones included."""
    for info in (*plan.dependencies, *plan.params):
        if info.kind is Kind.DEPENDENCY and info.dependency is not None:
            marker = info.marker
            yield getattr(marker, "dependency", None)
            yield from _walk_dependencies(info.dependency)


def _is_none(tp: Any) -> bool:
    return tp is None or tp is type(None)


def _response_media(tp: Any) -> tuple[str | None, Any]:
    """Return (media type, type to describe) of a handler's return annotation."""
    base = strip_optional(strip_annotated(tp))
    if base in (Any, inspect.Signature.empty):
        return None, None
    if base is str:
        return "text/plain", str
    if base is bytes:
        return "application/octet-stream", None
    if isinstance(base, type) and issubclass(base, HTTPResponse):
        media = getattr(base, "media_type_default", None)
        return (media.split(";")[0] if isinstance(media, str) else None), None
    if typing.get_origin(base) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(base) if not _is_none(a)]
        if any(isinstance(a, type) and issubclass(a, HTTPResponse | str | bytes) for a in args):
            return None, None
    return _JSON, tp


class _Builder:
    """One generation run: register every type, render once, then assemble."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = routes
        self.registry = SchemaRegistry()
        self.schemes: dict[str, SecurityScheme] = {}

    # --- pass 1: collect types ---

    def _param_type(self, info: ParamInfo) -> Any:
        return info.annotation if info.required else _optional_removed(info.annotation)

    def collect(self) -> None:
        add = self.registry.add
        for route in self.routes:
            plan = _plan_of(route)
            for info in plan.iter_all():
                if info.kind in _PARAM_IN or info.kind in (Kind.BODY, Kind.FORM):
                    add(self._param_type(info))
            if plan.body_type is not None:
                add(plan.body_type)
            _media, tp = _response_media(plan.response_type)
            if tp is not None:
                add(tp, "serialization")
            for model in route.responses.values():
                if not _is_error(model) and not isinstance(model, str | Mapping):
                    add(model, "serialization")
            for dependency in _walk_dependencies(plan):
                if isinstance(dependency, SecurityScheme):
                    known = self.schemes.setdefault(dependency.scheme_name, dependency)
                    if known.openapi() != dependency.openapi():
                        raise OpenAPIError(
                            f"celeris.openapi.E004: two different security schemes are named "
                            f"{dependency.scheme_name!r}; pass scheme_name= to tell them apart"
                        )
        self.registry.render()

    # --- pass 2: assemble ---

    def parameters(self, route: Route, plan: Plan) -> list[spec.Parameter]:
        out: dict[tuple[str, str], spec.Parameter] = {}
        for info in plan.iter_all():
            location = _PARAM_IN.get(info.kind)
            if location is None:
                continue
            marker = info.marker if isinstance(info.marker, Param) else None
            if marker is not None and not marker.include_in_schema:
                continue
            schema = dict(self.registry.schema(self._param_type(info)))
            if (
                not info.required
                and info.default not in (MISSING, None)
                and _json_safe(info.default)
            ):
                schema.setdefault("default", info.default)
            parameter = spec.Parameter(
                name=info.alias,
                location=location,
                schema=schema,
                required=info.required or location == "path",
                description=marker.description if marker else None,
                deprecated=bool(marker and marker.deprecated),
            )
            if marker is not None and marker.examples:
                parameter.example = marker.examples[0]
            if info.sequence and location == "query":
                parameter.style, parameter.explode = "form", True
            out.setdefault((location, info.alias), parameter)
        # A path converter without a handler parameter is still a required path parameter.
        for name, converter in _converters(route.path):
            schema = _CONVERTER_SCHEMAS[converter]
            known = out.get(("path", name))
            if known is None:
                out[("path", name)] = spec.Parameter(
                    name=name, location="path", schema=dict(schema), required=True
                )
            elif converter == "str":
                if known.schema.get("type") == "string":
                    known.schema = {**known.schema, "minLength": 1}
            else:
                known.schema = {**known.schema, **schema}
        return list(out.values())

    def request_body(self, plan: Plan) -> spec.RequestBody | None:
        if plan.body_type is not None:
            info = plan.body_params[0]
            marker = info.marker if isinstance(info.marker, Param) else None
            if strip_optional(strip_annotated(plan.body_type)) is bytes:
                media, schema = "application/octet-stream", {}
            else:
                media = (marker.media_type if marker else None) or _JSON
                schema = self.registry.schema(plan.body_type)
            media_type = spec.MediaType(schema=schema)
            if marker is not None and marker.examples:
                media_type.example = marker.examples[0]
            return spec.RequestBody(
                content={media: media_type},
                required=info.required,
                description=marker.description if marker else None,
            )
        if plan.body_params:  # several Body() parameters: members of one JSON object
            return spec.RequestBody(
                content={_JSON: spec.MediaType(schema=self._object(plan.body_params))},
                required=any(p.required for p in plan.body_params),
            )
        if plan.form_params:
            has_files = any(p.kind is Kind.FILE for p in plan.form_params)
            only = plan.form_params[0]
            if len(plan.form_params) == 1 and only.kind is Kind.FORM and is_model(only.type):
                schema = self.registry.schema(self._param_type(only))
            else:
                schema = self._object(plan.form_params)
            media_types = [_MULTIPART] if has_files else [_FORM, _MULTIPART]
            return spec.RequestBody(
                content={m: spec.MediaType(schema=schema) for m in media_types},
                required=any(p.required for p in plan.form_params),
            )
        return None

    def _object(self, params: Iterable[ParamInfo]) -> dict[str, Any]:
        properties: dict[str, Any] = {}
        required: list[str] = []
        for info in params:
            if info.kind is Kind.FILE:
                properties[info.alias] = (
                    {"type": "array", "items": _BINARY} if info.sequence else dict(_BINARY)
                )
            else:
                properties[info.alias] = self.registry.schema(self._param_type(info))
            if info.required:
                required.append(info.alias)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema

    def responses(self, route: Route, plan: Plan, secured: bool) -> dict[str, spec.Response]:
        out: dict[str, spec.Response] = {}
        media, tp = _response_media(plan.response_type)
        returns_none = _is_none(strip_annotated(plan.response_type))
        status = route.status_code or (204 if returns_none else 200)
        content = None
        if media is not None and status != 204:
            schema = self.registry.schema(tp, "serialization") if tp is not None else None
            if media == "text/plain":
                schema = {"type": "string"}
            content = {media: spec.MediaType(schema=schema if schema is not None else {})}
        out[str(status)] = spec.Response(description=_describe(status), content=content)
        if plan.body_params or plan.form_params:
            out["400"] = _problem(400, "Malformed request body")
            out["413"] = _problem(413, "Request body too large")
        if plan.form_params:
            out["415"] = _problem(415, "Not a form body")
        elif plan.body_params and plan.body_type is not bytes:
            out["415"] = _problem(415, "Not a JSON body")
        if route.compiled.params:  # a value its converter refuses matches no route
            out["404"] = _problem(404, "Not Found")
            if any(conv not in ("str", "path") for _, conv in _converters(route.path)):
                # NOTE: ...or matches another route's path with other methods.
                out["405"] = _problem(405, "Method Not Allowed")
        if secured:
            out["401"] = _problem(401, "Not authenticated")
            out["401"].headers = {
                "WWW-Authenticate": spec.Header(schema={"type": "string"}, required=True)
            }
        if any(
            _PARAM_IN.get(i.kind) or i.kind in (Kind.BODY, Kind.FORM, Kind.FILE)
            for i in plan.iter_all()
        ):
            out["422"] = spec.Response(
                description="Validation failed",
                content={
                    PROBLEM_MEDIA_TYPE: spec.MediaType(
                        schema={"$ref": REF_PREFIX + VALIDATION_PROBLEM}
                    )
                },
            )
        for code, declared in sorted(route.responses.items()):
            out[str(code)] = self._declared(int(code), declared)
        if route.deprecated:
            for response in out.values():
                response.headers = {**(response.headers or {}), "Deprecation": _DEPRECATION}
        return out

    def _declared(self, code: int, declared: Any) -> spec.Response:
        if _is_error(declared):
            # NOTE: the core's own classes say only "404 Not Found."; a user's subclass says more.
            doc = inspect.getdoc(declared) if declared.__module__ != HTTPError.__module__ else None
            return _problem(code, doc.split("\n", 1)[0] if doc else _describe(code))
        if isinstance(declared, str):
            return spec.Response(description=declared)
        if isinstance(declared, Mapping):
            return spec.Response(description=str(declared.get("description") or _describe(code)))
        schema = self.registry.schema(declared, "serialization")
        return spec.Response(
            description=_describe(code), content={_JSON: spec.MediaType(schema=schema)}
        )

    def operation(self, route: Route, method: str, operation_id: str) -> spec.Operation:
        plan = _plan_of(route)
        required: dict[str, list[str]] = {}
        optional: dict[str, list[str]] = {}
        for dependency in _walk_dependencies(plan):
            if isinstance(dependency, SecurityScheme):
                chosen = required if dependency.auto_error else optional
                chosen.setdefault(dependency.scheme_name, list(dependency.scopes))
        for name in required:
            optional.pop(name, None)
        summary, description = _split_doc(route)
        return spec.Operation(
            operation_id=operation_id,
            tags=list(route.tags) or None,
            summary=summary,
            description=description,
            parameters=self.parameters(route, plan) or None,
            request_body=self.request_body(plan),
            responses=self.responses(route, plan, bool(required)),
            deprecated=route.deprecated,
            security=_security(required, optional),
        )


def _security(
    required: dict[str, list[str]], optional: dict[str, list[str]]
) -> list[dict[str, list[str]]] | None:
    """Return an operation's security requirements (alternatives, each a set of schemes).

    Required schemes (``auto_error=True``) must all pass: one requirement object. Each
    optional scheme (``auto_error=False``) is an alternative on top of them, and so is their
    set alone, which is ``{}`` (anonymous) when every scheme is optional.
    """
    if not required and not optional:
        return None
    return [dict(required), *({**required, name: scopes} for name, scopes in optional.items())]


def _optional_removed(tp: Any) -> Any:
    """Return ``T`` for an optional parameter typed ``T | None`` (absent, not null)."""
    if typing.get_origin(tp) is typing.Annotated:
        base, *meta = typing.get_args(tp)
        stripped = strip_optional(base)
        return tp if stripped is base else typing.Annotated[(stripped, *meta)]
    return strip_optional(tp)


def _json_safe(value: Any) -> bool:
    if value is None or isinstance(value, bool | int | float | str):
        return True
    if isinstance(value, list | tuple):
        return all(_json_safe(v) for v in value)
    return False


def _converters(path: str) -> Iterator[tuple[str, str]]:
    """Yield (parameter name, converter name) for each ``{name:converter}`` of a path."""
    for match in _PATH_PARAM.finditer(path):
        yield match.group(1), match.group(2) or "str"


def _is_error(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, HTTPError)


_DEPRECATION: Final = spec.Header(
    schema={"type": "string"}, description="RFC 9745: this operation is deprecated (`true`)."
)


def _problem(status: int, description: str) -> spec.Response:
    return spec.Response(
        description=description,
        content={PROBLEM_MEDIA_TYPE: spec.MediaType(schema={"$ref": REF_PREFIX + PROBLEM})},
    )


def _plan_of(route: Route) -> Plan:
    return route.plan if route.plan is not None else route.compile()


def _spec_path(path: str) -> str:
    """Return ``/items/{id}`` for ``/items/{id:int}``."""
    return _PATH_PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def generate(
    routes: Iterable[Route],
    *,
    title: str = "celeris",
    version: str = "0.1.0",
    description: str | None = None,
    servers: Sequence[str] = (),
    tags: Sequence[spec.Tag] = (),
    api_version: str | None = None,
) -> dict[str, Any]:
    """Return the OpenAPI 3.1 document describing ``routes`` as plain JSON data.

    With ``api_version``, only the routes of that version (``Router(version=...)``).
    """
    documented = [
        r
        for r in routes
        if r.include_in_schema
        and not isinstance(r, WebSocketRoute)
        and (api_version is None or api_version_of(r) == api_version)
    ]
    builder = _Builder(documented)
    try:
        builder.collect()
    except Exception as exc:  # SchemaError, or a model pydantic cannot describe
        raise OpenAPIError(f"celeris.openapi.E001: cannot generate the spec: {exc}") from exc
    paths: dict[str, spec.PathItem] = {}
    extras: list[tuple[str, str, dict[str, Any]]] = []  # (path, method, what to merge in)
    seen_ids: dict[str, str] = {}
    for route in documented:
        item = paths.setdefault(_spec_path(route.path), spec.PathItem())
        methods = sorted(m for m in route.methods if m != "HEAD" or route.methods == {"HEAD"})
        for method in methods:
            if route.operation_id is not None:
                op_id = (
                    route.operation_id
                    if len(methods) == 1
                    else f"{route.operation_id}_{method.lower()}"
                )
                if op_id in seen_ids:
                    raise OpenAPIError(
                        f"celeris.openapi.E003: operation_id {op_id!r} is used by {seen_ids[op_id]} "
                        f"and {method} {route.path}; give each route its own operation_id="
                    )
            else:
                base = op_id = operation_id_of(route, method)
                counter = 2
                while op_id in seen_ids:
                    op_id = f"{base}_{counter}"
                    counter += 1
            seen_ids[op_id] = f"{method} {route.path}"
            setattr(item, method.lower(), builder.operation(route, method, op_id))
            extra = _extra_of(route)
            if extra:
                extras.append((_spec_path(route.path), method.lower(), extra))
    schemas = {**problem_components(), **builder.registry.components}
    used_tags = sorted({t for r in documented for t in r.tags} - {t.name for t in tags})
    document = spec.OpenAPI(
        info=spec.Info(title=title, version=version, description=description),
        servers=[spec.Server(url=url) for url in servers] or None,
        paths=paths,
        components=spec.Components(
            schemas=schemas,
            security_schemes={n: s.openapi() for n, s in sorted(builder.schemes.items())} or None,
        ),
        tags=[*tags, *(spec.Tag(name=t) for t in used_tags)] or None,
    )
    out = document.to_dict()
    for path, method, extra in extras:
        _merge(out["paths"][path][method], extra)
    return out


def _extra_of(route: Route) -> dict[str, Any]:
    """Return what a route adds to its generated operation, as raw OpenAPI data.

    That is the full response objects given to ``responses=`` as mappings (their
    ``content`` and ``headers`` too), then ``openapi_extra=``.
    """
    extra: dict[str, Any] = {}
    given = {
        str(code): dict(value)
        for code, value in route.responses.items()
        if isinstance(value, Mapping)
    }
    if given:
        extra["responses"] = given
    if route.openapi_extra:
        _merge(extra, route.openapi_extra)
    return extra


def _merge(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Merge ``extra`` into ``target``: mappings key by key, lists added to the end (as
    FastAPI's ``openapi_extra`` does), any other value replaces."""
    for key, value in extra.items():
        known = target.get(key)
        if isinstance(value, Mapping) and isinstance(known, dict):
            _merge(known, value)
        elif isinstance(value, list | tuple) and isinstance(known, list):
            known.extend(_copied(value))
        else:
            target[key] = _copied(value)


def _copied(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _copied(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copied(v) for v in value]
    return value
