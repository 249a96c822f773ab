"""Reject requests whose Host header is not one of the allowed hosts.

``TrustedHostMiddleware`` is pure ASGI; on a celeris ``App`` (``add_middleware``) it runs as
the pipeline step ``TrustedHostStep``, with the same options and answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, cast

from celeris.core.pipeline import Step
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.core.routing import Route
from celeris.middleware._steps import HostCheck
from celeris.types import ASGIApp, RawHeaders, Receive, Scope, Send

_PROBLEM_HEADERS = [(b"content-type", b"application/problem+json")]
# SECURITY: only a well-formed host (name or IP literal, numeric port) is matched or reused
# in a redirect, so a crafted Host such as ``example.com:@evil.com`` cannot pass or redirect.
_HOST = re.compile(r"(?P<host>[a-z0-9_.-]+|\[[0-9a-f:.]+\])(?P<port>:[0-9]{1,5})?")


def _split_host(scope: Scope) -> tuple[str, str]:
    """Return the lower-cased host and the ``:port`` suffix of the Host header.

    A missing or malformed header (bad characters, a port that is not a number) gives
    ``("", "")``.
    """
    return _split_host_in(scope.get("headers", ()))


def _split_host_in(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str]:
    for name, value in headers:
        if name == b"host":
            match = _HOST.fullmatch(value.decode("latin-1").strip().lower())
            if match is None:
                return "", ""
            return match["host"], match["port"] or ""
    return "", ""


def _problem(detail: str) -> bytes:
    return json.dumps(
        {"type": "about:blank", "title": "Bad Request", "status": 400, "detail": detail}
    ).encode()


class TrustedHostMiddleware:
    """Answer 400 unless the request's Host matches ``allowed_hosts``.

    ``"*"`` allows any host; ``"*.example.com"`` allows every subdomain of example.com.
    With ``www_redirect`` a request for ``example.com`` is redirected to ``www.example.com``
    when only the latter is allowed.
    """

    __slots__ = ("allow_any", "app", "exact", "suffixes", "www_redirect")

    def __init__(
        self,
        app: ASGIApp,
        allowed_hosts: Iterable[str] = ("*",),
        www_redirect: bool = True,
    ) -> None:
        hosts = [allowed_hosts] if isinstance(allowed_hosts, str) else list(allowed_hosts)
        exact: set[str] = set()
        suffixes: list[str] = []
        for pattern in hosts:
            pattern = pattern.strip().lower()
            if pattern == "*":
                continue
            rest = pattern[2:] if pattern.startswith("*.") else pattern
            if not rest or "*" in rest or "/" in rest:
                raise ValueError(
                    f"TrustedHostMiddleware: bad allowed host {pattern!r}; use '*', "
                    "'example.com' or '*.example.com' (a wildcard only as the first label)"
                )
            if pattern.startswith("*."):
                suffixes.append(pattern[1:])  # keep the dot: ".example.com"
            else:
                exact.add(pattern)
        self.app = app
        self.allow_any = "*" in (h.strip() for h in hosts)
        # PERF: one set lookup for exact hosts, one str.endswith(tuple) for all wildcards.
        self.exact = frozenset(exact)
        self.suffixes = tuple(suffixes)
        self.www_redirect = www_redirect

    def is_allowed(self, host: str) -> bool:
        """Tell whether ``host`` (lower-case, no port) is allowed."""
        if self.allow_any or host in self.exact:
            return True
        return bool(host) and host.endswith(self.suffixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if self.allow_any or kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        host, port = _split_host(scope)
        if self.is_allowed(host):
            await self.app(scope, receive, send)
            return
        if kind == "websocket":
            # NOTE: closing before accept makes the server answer the handshake with 403.
            await send({"type": "websocket.close", "code": 1008})
            return
        status, headers, body = self.refusal(scope, host, port)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def refusal(self, scope: Scope, host: str, port: str) -> tuple[int, RawHeaders, bytes]:
        """Return the answer to a request for a host not served: a www redirect, else 400."""
        if self.www_redirect and host and f"www.{host}" in self.exact:
            headers = [
                (b"location", self._www_url(scope, host + port).encode("latin-1")),
                (b"content-length", b"0"),
            ]
            return 301, headers, b""
        body = _problem(
            "The request has no valid Host header."
            if not host
            else f"The host {host[:100]!r} is not served here."
        )
        return 400, [*_PROBLEM_HEADERS, (b"content-length", str(len(body)).encode())], body

    @classmethod
    def as_step(cls, **options: Any) -> TrustedHostStep:
        """Return this policy as a celeris pipeline step (what ``App.add_middleware`` runs)."""
        # NOTE: the instance only holds the policy; as a step it wraps no app.
        return TrustedHostStep(cls(cast("ASGIApp", None), **options))

    @staticmethod
    def _www_url(scope: Scope, host: str) -> str:
        """Return the request's URL on ``www.`` + ``host`` (which keeps its port)."""
        # NOTE: ASGI's raw_path/path already include root_path.
        path = scope.get("raw_path") or scope.get("path", "/").encode()
        query = scope.get("query_string", b"")
        url = f"{scope.get('scheme', 'http')}://www.{host}{path.decode('latin-1')}"
        return f"{url}?{query.decode('latin-1')}" if query else url


class TrustedHostStep(Step):
    """``TrustedHostMiddleware``'s policy as a pipeline step: refuses in ``before``."""

    def __init__(self, policy: TrustedHostMiddleware) -> None:
        self.policy = policy
        # PERF: the per-request test (a bounded cache of the Host values judged) is compiled
        # in the compiled build (celeris.middleware._steps).
        self._check = HostCheck(self.judge, self.refuse)
        self._allowed = self._check.allowed

    def for_route(self, route: Route) -> Step | None:
        """Skip every route when any host is allowed."""
        return None if self.policy.allow_any else self

    def _before_entry(self) -> tuple[Any, bool] | None:
        return (self._check.before, False)  # PERF: a plain call, no coroutine

    async def before(self, request: Request) -> Response | None:
        """Answer a request for a host not served (as the ASGI form does)."""
        return self.before_now(request)

    def before_now(self, request: Request) -> Response | None:
        """``before``, as a plain function."""
        if self.policy.allow_any:
            return None
        return self._check.before(request)

    def judge(self, headers: RawHeaders) -> bool:
        """Tell whether the Host among the raw request ``headers`` is served."""
        return self.policy.is_allowed(_split_host_in(headers)[0])

    def refuse(self, request: Request) -> Response:
        """Return the answer to a request for a host not served."""
        host, port = _split_host_in(request.conn.headers)
        status, raw_headers, body = self.policy.refusal(request.scope, host, port)
        response = Response(body, status_code=status)
        response.raw_headers = raw_headers
        return response
