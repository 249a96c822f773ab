"""Reject requests whose Host header is not one of the allowed hosts."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from celeris.types import ASGIApp, Receive, Scope, Send

_PROBLEM_HEADERS = [(b"content-type", b"application/problem+json")]
# SECURITY: only a well-formed host (name or IP literal, numeric port) is matched or reused
# in a redirect, so a crafted Host such as ``example.com:@evil.com`` cannot pass or redirect.
_HOST = re.compile(r"(?P<host>[a-z0-9_.-]+|\[[0-9a-f:.]+\])(?P<port>:[0-9]{1,5})?")


def _split_host(scope: Scope) -> tuple[str, str]:
    """Return the lower-cased host and the ``:port`` suffix of the Host header.

    A missing or malformed header (bad characters, a port that is not a number) gives
    ``("", "")``.
    """
    for name, value in scope.get("headers", ()):
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
        if self.www_redirect and host and f"www.{host}" in self.exact:
            await send(
                {
                    "type": "http.response.start",
                    "status": 301,
                    "headers": [
                        (b"location", self._www_url(scope, host + port).encode("latin-1")),
                        (b"content-length", b"0"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        body = _problem(
            "The request has no valid Host header."
            if not host
            else f"The host {host[:100]!r} is not served here."
        )
        headers = [*_PROBLEM_HEADERS, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 400, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _www_url(scope: Scope, host: str) -> str:
        """Return the request's URL on ``www.`` + ``host`` (which keeps its port)."""
        # NOTE: ASGI's raw_path/path already include root_path.
        path = scope.get("raw_path") or scope.get("path", "/").encode()
        query = scope.get("query_string", b"")
        url = f"{scope.get('scheme', 'http')}://www.{host}{path.decode('latin-1')}"
        return f"{url}?{query.decode('latin-1')}" if query else url
