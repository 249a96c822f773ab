"""Whole-response caching for routes: ``@cache.response(ttl=30, vary=["Accept-Language"])``.

The route option ``cache=cache.response(...)``, or the same object as a decorator under the
route decorator. It stores the rendered 200 response by method, path, query and the ``vary``
request headers; answers with a strong ``ETag`` and ``304`` to a matching ``If-None-Match``;
recomputes when the client sends ``Cache-Control: no-cache``; and never stores a response that
sets a cookie, says ``private`` or ``no-store``, or answers a request carrying ``Cookie`` or
``Authorization`` (unless ``vary`` names that header, or ``per_user=True``).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import typing
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from celeris.core.requests import Request
from celeris.core.responses import FileResponse, Response, StreamingResponse
from celeris.core.signature import make_renderer

if TYPE_CHECKING:
    from celeris.cache.cache import Cache

__all__ = ["ResponseCache"]

_REQUEST_PARAM = "celeris_cache_request"
_PRIVATE_HEADERS = ("authorization", "cookie")


class _Stored(msgspec.Struct, array_like=True):
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    etag: str


def _etag_matches(header: str, etag: str) -> bool:
    candidates = [c.strip() for c in header.split(",")]
    return "*" in candidates or etag in candidates or f"W/{etag}" in candidates


def _cacheable(response: Response) -> bool:
    if response.status_code != 200 or isinstance(response, StreamingResponse | FileResponse):
        return False  # NOTE: streaming and file responses have no body to keep
    headers = response.headers
    if "set-cookie" in headers:
        return False
    control = headers.get("cache-control", "").lower()
    return "private" not in control and "no-store" not in control


class ResponseCache:
    """The decorator ``Cache.response`` returns; see the module docstring."""

    def __init__(
        self,
        cache: Cache,
        ttl: float,
        *,
        vary: Sequence[str] = (),
        per_user: bool = False,
        no_cache: bool = True,
        status_code: int | None = None,
    ) -> None:
        self.cache = cache
        self.ttl = ttl
        self.vary = tuple(sorted(h.lower() for h in vary))
        self.per_user = per_user or any(h in self.vary for h in _PRIVATE_HEADERS)
        self.no_cache = no_cache
        self.status_code = status_code

    def _key(self, name: str, request: Request) -> str:
        url = request.url
        parts = [request.method, url.path, url.query or ""]
        headers = request.headers
        parts.extend(f"{h}={headers.get(h, '')}" for h in self.vary)
        digest = hashlib.blake2b("\n".join(parts).encode(), digest_size=16).hexdigest()
        return f"response:{name}:{digest}"

    def _answer(self, stored: _Stored, request: Request) -> Response:
        inm = request.headers.get("if-none-match")
        if inm is not None and _etag_matches(inm, stored.etag):
            return Response(None, 304, {"etag": stored.etag})
        return Response(stored.body, stored.status, stored.headers)

    def __call__(self, func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Response]]:
        if not inspect.iscoroutinefunction(func):
            raise TypeError(f"cache.response() decorates async handlers, not {func!r}")
        signature = inspect.signature(func)
        hints = typing.get_type_hints(func, include_extras=True)
        request_param = next((n for n, t in hints.items() if t is Request and n != "return"), None)
        params = list(signature.parameters.values())
        if request_param is None:
            request_param = _REQUEST_PARAM
            params.append(
                inspect.Parameter(
                    _REQUEST_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=Request
                )
            )
        passes_request = request_param != _REQUEST_PARAM
        render = make_renderer(hints.get("return", Any), self.status_code)
        name = f"{func.__module__}.{func.__qualname__}"
        vary_header = ", ".join(self.vary) if self.vary else None

        @functools.wraps(func)
        async def cached_endpoint(**kwargs: Any) -> Response:
            request: Request = (
                kwargs[request_param] if passes_request else kwargs.pop(request_param)
            )
            if request.method not in ("GET", "HEAD"):
                return render(await func(**kwargs))
            private = any(h in request.headers for h in _PRIVATE_HEADERS)
            if private and not self.per_user:
                return render(await func(**kwargs))  # SECURITY: never share a user's page
            key = self._key(name, request)
            fresh = self.no_cache and "no-cache" in request.headers.get("cache-control", "")
            if not fresh:
                stored = await self.cache.get(key, type=_Stored)
                if stored is not None:
                    return self._answer(stored, request)
            response = render(await func(**kwargs))
            if not _cacheable(response):
                return response
            headers = response.headers
            etag = f'"{hashlib.blake2b(response.body, digest_size=12).hexdigest()}"'
            headers.setdefault("etag", etag)
            if vary_header:
                headers.setdefault("vary", vary_header)
            stored = _Stored(
                response.status_code, list(headers.items()), response.body, headers["etag"]
            )
            await self.cache.set(key, stored, ttl=self.ttl)
            return self._answer(stored, request)

        # NOTE: the framework reads this signature: the handler's own parameters, plus the
        # Request the cache needs to build its key, which the handler never sees.
        cached_endpoint.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
        annotations = dict(hints)
        annotations[request_param] = Request
        cached_endpoint.__annotations__ = annotations
        return cached_endpoint
