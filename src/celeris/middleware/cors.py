"""Cross-Origin Resource Sharing: answer preflights, add CORS headers to responses.

``CORSMiddleware`` is pure ASGI; on a celeris ``App`` (``add_middleware``) it runs as the
pipeline step ``CORSStep`` instead, with the same options and the same bytes on the wire.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, cast

from celeris.core.pipeline import Step
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.core.routing import Route
from celeris.middleware._steps import CORSHeaders
from celeris.types import ASGIApp, Message, RawHeaders, Receive, Scope, Send

ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
#: Request headers a browser may always send without asking (the CORS-safelisted ones).
SAFELISTED_HEADERS = frozenset({"accept", "accept-language", "content-language", "content-type"})
_ORIGIN = re.compile(r"[a-z][a-z0-9+.-]*://[a-z0-9.\-_~%:\[\]]+", re.IGNORECASE)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _as_list(value: Iterable[str] | str) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _merge_vary(headers: RawHeaders, token: str) -> None:
    """Add ``token`` to the Vary header of ``headers`` (in place), once."""
    for i, (name, value) in enumerate(headers):
        if name.lower() == b"vary":
            present = {v.strip().lower() for v in value.decode("latin-1").split(",")}
            if token.lower() not in present and "*" not in present:
                headers[i] = (name, value + b", " + token.encode())
            return
    headers.append((b"vary", token.encode()))


class CORSMiddleware:
    """Apply a CORS policy to any ASGI app.

    Preflights (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) are
    answered here: 200 with the ``Access-Control-*`` headers, or 400 with a plain-text
    reason. Other requests from an allowed origin get the CORS headers added.
    """

    def __init__(
        self,
        app: ASGIApp,
        allow_origins: Sequence[str] = (),
        allow_origin_regex: str | None = None,
        allow_methods: Sequence[str] = ("GET",),
        allow_headers: Sequence[str] = (),
        allow_credentials: bool = False,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        origins = _as_list(allow_origins)
        for origin in origins:
            if origin != "*" and (origin != "null" and not _ORIGIN.fullmatch(origin)):
                raise ValueError(
                    f"CORSMiddleware: allow_origins entry {origin!r} is not an origin; "
                    "write scheme://host[:port] with no path or trailing slash, or '*'"
                )
        methods = [m.upper() for m in _as_list(allow_methods)]
        headers = [h.lower() for h in _as_list(allow_headers)]
        exposed = _as_list(expose_headers)
        for token in [
            *(m for m in methods if m != "*"),
            *(h for h in headers if h != "*"),
            *exposed,
        ]:
            if not _TOKEN.fullmatch(token):
                raise ValueError(f"CORSMiddleware: {token!r} is not a valid method or header name")
        if max_age < 0:
            raise ValueError("CORSMiddleware: max_age must be >= 0 seconds")

        self.app = app
        self.allow_all_origins = "*" in origins
        self.origins = frozenset(o for o in origins if o != "*")
        self.origin_regex = re.compile(allow_origin_regex) if allow_origin_regex else None
        self.allow_all_methods = "*" in methods
        self.methods = frozenset(ALL_METHODS if self.allow_all_methods else methods)
        self.allow_all_headers = "*" in headers
        self.headers = frozenset(headers) | SAFELISTED_HEADERS
        self.allow_credentials = allow_credentials
        # SECURITY: browsers ignore a literal "*" when credentials are allowed, and echoing
        # it would be wrong anyway: with credentials the caller's origin is echoed instead.
        self.echo_origin = not self.allow_all_origins or allow_credentials
        self.send_vary = self.echo_origin or self.origin_regex is not None

        # PERF: the parts of every CORS response that do not depend on the request are
        # encoded once here.
        simple: RawHeaders = []
        if allow_credentials:
            simple.append((b"access-control-allow-credentials", b"true"))
        if exposed:
            simple.append((b"access-control-expose-headers", ", ".join(exposed).encode()))
        self.simple_headers = simple
        preflight: RawHeaders = [(b"access-control-max-age", str(max_age).encode())]
        if allow_credentials:
            preflight.append((b"access-control-allow-credentials", b"true"))
        if not self.allow_all_methods:
            preflight.append(
                (b"access-control-allow-methods", ", ".join(sorted(self.methods)).encode())
            )
        self.preflight_headers = preflight

    def is_allowed_origin(self, origin: str) -> bool:
        """Tell whether requests from ``origin`` may read responses."""
        if origin in self.origins:
            return True
        # SECURITY: an origin allowed by pattern may be echoed back, so it must be one.
        if not _ORIGIN.fullmatch(origin):
            return self.allow_all_origins and not self.echo_origin and origin == "null"
        if self.allow_all_origins:
            return True
        return self.origin_regex is not None and self.origin_regex.fullmatch(origin) is not None

    def _allow_origin_value(self, origin: str) -> bytes:
        return origin.encode("latin-1") if self.echo_origin else b"*"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = None
        request_method = None
        request_headers = None
        for name, value in scope.get("headers", ()):
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"access-control-request-method":
                request_method = value.decode("latin-1")
            elif name == b"access-control-request-headers":
                request_headers = value.decode("latin-1")
        if origin is None:
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS" and request_method is not None:
            await self.preflight(origin, request_method, request_headers, send)
            return
        await self.simple(scope, receive, send, origin)

    @classmethod
    def as_step(cls, **options: Any) -> CORSStep:
        """Return this policy as a celeris pipeline step (what ``App.add_middleware`` runs)."""
        # NOTE: the instance only holds the policy; as a step it wraps no app.
        return CORSStep(cls(cast("ASGIApp", None), **options))

    async def preflight(self, origin: str, method: str, requested: str | None, send: Send) -> None:
        """Answer a preflight request directly."""
        status, headers, body = self.preflight_answer(origin, method, requested)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def preflight_answer(
        self, origin: str, method: str, requested: str | None
    ) -> tuple[int, RawHeaders, bytes]:
        """Return the status, headers and body answering a preflight request."""
        headers: RawHeaders = [(b"content-type", b"text/plain; charset=utf-8")]
        failures = []
        origin_ok = self.is_allowed_origin(origin)
        if origin_ok:
            headers.append((b"access-control-allow-origin", self._allow_origin_value(origin)))
        else:
            failures.append("origin")
        method = method.strip()
        if method.upper() not in self.methods and not (
            self.allow_all_methods and _TOKEN.fullmatch(method)
        ):
            failures.append("method")
        elif self.allow_all_methods:
            # NOTE: echoed rather than "*", which browsers ignore with credentials.
            headers.append((b"access-control-allow-methods", method.encode("latin-1")))
        names = [h.strip().lower() for h in (requested or "").split(",") if h.strip()]
        if self.allow_all_headers:
            if not all(_TOKEN.fullmatch(h) for h in names):
                failures.append("headers")
            elif names:
                headers.append(
                    (b"access-control-allow-headers", ", ".join(names).encode("latin-1"))
                )
        else:
            if any(h not in self.headers for h in names):
                failures.append("headers")
            headers.append(
                (b"access-control-allow-headers", ", ".join(sorted(self.headers)).encode())
            )
        if self.send_vary:
            headers.append((b"vary", b"Origin"))
        if failures:
            body = f"Disallowed CORS {', '.join(failures)}".encode()
            status = 400
        else:
            headers.extend(self.preflight_headers)
            body = b"OK"
            status = 200
        headers.append((b"content-length", str(len(body)).encode()))
        return status, headers, body

    def cors_headers(self, headers: Iterable[tuple[bytes, bytes]], origin: str) -> RawHeaders:
        """Return a response's headers with the CORS headers for ``origin`` applied."""
        allowed = self.is_allowed_origin(origin)
        out: RawHeaders = [
            (n, v) for n, v in headers if not n.lower().startswith(b"access-control-allow-origin")
        ]
        if allowed:
            out.append((b"access-control-allow-origin", self._allow_origin_value(origin)))
            out.extend(self.simple_headers)
        if self.send_vary:
            _merge_vary(out, "Origin")
        return out

    def applies(self, origin: str) -> bool:
        """Tell whether a response to ``origin`` gets CORS headers (or a Vary) at all."""
        return self.send_vary or self.is_allowed_origin(origin)

    def send_filter(self, send: Send, origin: str) -> Send:
        """Return ``send`` adding the CORS headers for ``origin`` to the response start."""

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = self.cors_headers(message.get("headers", ()), origin)
                message = {**message, "headers": headers}
            await send(message)

        return send_with_cors

    async def simple(self, scope: Scope, receive: Receive, send: Send, origin: str) -> None:
        """Run the app and add the CORS headers to its response."""
        if not self.applies(origin):
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, self.send_filter(send, origin))


def _origin_of(request: Request) -> str | None:
    # PERF: one pass over the raw pairs; no Headers object.
    for name, value in request.conn.headers:
        if name == b"origin":
            return value.decode("latin-1")
    return None


class CORSStep(Step):
    """``CORSMiddleware``'s policy as a pipeline step: preflights in ``before``, headers after."""

    def __init__(self, policy: CORSMiddleware) -> None:
        self.policy = policy
        # PERF: the per-request code is compiled in the compiled build (middleware._steps).
        self._headers = CORSHeaders(policy)

    def for_route(self, route: Route) -> Step | None:
        """Skip the preflight check on routes that take no OPTIONS (preflights miss them)."""
        return self if "OPTIONS" in route.methods else _CORSHeaders(self.policy)

    def _before_entry(self) -> tuple[Any, bool] | None:
        return (self.before_now, False)  # PERF: a plain call, no coroutine

    def _after_entry(self) -> tuple[Any, bool] | None:
        return (self._headers.after, False)

    async def before(self, request: Request) -> Response | None:
        """Answer a preflight request (OPTIONS with Origin and Access-Control-Request-Method)."""
        return self.before_now(request)

    async def after(self, request: Request, response: Response) -> Response | None:  # type: ignore[override]
        """Add the CORS headers for the request's origin."""
        return self.after_now(request, response)

    def before_now(self, request: Request) -> Response | None:
        """``before``, as a plain function."""
        if request.method != "OPTIONS":
            return None
        origin = method = requested = None
        for name, value in request.conn.headers:
            if name == b"origin":
                origin = value.decode("latin-1")
            elif name == b"access-control-request-method":
                method = value.decode("latin-1")
            elif name == b"access-control-request-headers":
                requested = value.decode("latin-1")
        if origin is None or method is None:
            return None
        status, headers, body = self.policy.preflight_answer(origin, method, requested)
        response = Response(body, status_code=status)
        response.raw_headers = headers
        return response

    def after_now(self, request: Request, response: Response) -> Response | None:
        """``after``, as a plain function."""
        return self._headers.after(request, response)


class _CORSHeaders(CORSStep):
    """The step on a route without OPTIONS: headers only."""

    def for_route(self, route: Route) -> Step | None:
        return self

    def _before_entry(self) -> tuple[Any, bool] | None:
        return None  # NOTE: no preflight reaches a route without OPTIONS
