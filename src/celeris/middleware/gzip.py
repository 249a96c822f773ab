"""Compress response bodies with brotli or gzip, as the client's Accept-Encoding prefers.

``GZipMiddleware`` is pure ASGI; on a celeris ``App`` (``add_middleware``) it runs as the
pipeline step ``GZipStep``: a finished body is compressed in place, a streamed one chunk by
chunk as it is sent, with the same bytes and headers as the ASGI form.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from functools import lru_cache
from typing import Any, Protocol, cast

from celeris.core.pipeline import Step, filtered, is_plain
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.middleware._steps import Compression
from celeris.types import ASGIApp, Message, RawHeaders, Receive, Scope, Send

try:  # NOTE: brotli is the optional ``celeris[brotli]`` extra.
    import brotli
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
    if exc.name != "brotli":
        raise
    brotli = None

HAS_BROTLI = brotli is not None

#: Media types whose bodies are compressed already; compressing them again wastes CPU.
_COMPRESSED_TYPES = (
    b"image/png",
    b"image/jpeg",
    b"image/gif",
    b"image/webp",
    b"image/avif",
    b"video/",
    b"audio/",
    b"font/woff",
    b"application/zip",
    b"application/gzip",
    b"application/x-gzip",
    b"application/zstd",
    b"application/x-7z-compressed",
)


class _Compressor(Protocol):
    def compress(self, data: bytes) -> bytes: ...
    def flush(self, final: bool) -> bytes: ...


class _Gzip:
    __slots__ = ("_z",)

    def __init__(self, level: int) -> None:
        self._z = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)

    def compress(self, data: bytes) -> bytes:
        return self._z.compress(data)

    def flush(self, final: bool) -> bytes:
        # NOTE: a sync flush per streamed chunk lets the client decode it at once.
        return self._z.flush(zlib.Z_FINISH if final else zlib.Z_SYNC_FLUSH)


class _Brotli:
    __slots__ = ("_b",)

    def __init__(self, level: int) -> None:
        # brotli quality runs 0..11; map the gzip-style 1..9 level onto it.
        quality = min(11, max(0, round(level * 11 / 9)))
        self._b: Any = brotli.Compressor(quality=quality)

    def compress(self, data: bytes) -> bytes:
        return bytes(self._b.process(data))

    def flush(self, final: bool) -> bytes:
        return bytes(self._b.finish() if final else self._b.flush())


def parse_accept_encoding(value: str) -> dict[str, float]:
    """Return the q-value of each coding named in an Accept-Encoding header value."""
    result: dict[str, float] = {}
    for item in value.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        if not coding:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, raw = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(raw.strip())
                except ValueError:
                    q = 0.0
                if not 0.0 <= q <= 1.0:  # also rejects nan
                    q = 0.0
        result[coding] = q
    return result


# PERF: clients send few distinct Accept-Encoding values, so each is parsed once.
@lru_cache(maxsize=256)
def choose_encoding(accept_encoding: str, brotli_enabled: bool) -> str | None:
    """Return ``"br"``, ``"gzip"`` or None for the given Accept-Encoding value."""
    q = parse_accept_encoding(accept_encoding)
    star = q.get("*", 0.0)
    candidates = [("gzip", q.get("gzip", star))]
    if brotli_enabled:
        candidates.insert(0, ("br", q.get("br", star)))  # br wins ties
    best, best_q = None, 0.0
    for coding, value in candidates:
        if value > best_q:
            best, best_q = coding, value
    return best


def _header(headers: RawHeaders, name: bytes) -> bytes | None:
    for n, v in headers:
        if n.lower() == name:
            return v
    return None


def _new_compressor(encoding: str, level: int) -> _Compressor:
    if encoding == "br":
        return _Brotli(level)
    return _Gzip(level)


def _keeps_encoding(status: int, headers: RawHeaders) -> bool:
    """Tell whether a response must go out as it is (already encoded, a stream, media...)."""
    content_type = (_header(headers, b"content-type") or b"").lower()
    cache_control = (_header(headers, b"cache-control") or b"").lower()
    return (
        _header(headers, b"content-encoding") is not None
        or content_type.startswith(b"text/event-stream")
        or content_type.startswith(_COMPRESSED_TYPES)
        or b"no-transform" in cache_control
        or status < 200
        or status in (204, 304)
    )


def compressed_headers(
    headers: Iterable[tuple[bytes, bytes]], encoding: str, length: int | None
) -> RawHeaders:
    """Return ``headers`` for the body encoded with ``encoding`` (``length`` bytes if known)."""
    out: RawHeaders = []
    vary_seen = False
    for name, value in headers:
        low = name.lower()
        if low == b"content-length":
            continue
        if low == b"etag" and not value.startswith(b"W/"):
            value = b"W/" + value  # the bytes differ, so a strong ETag must weaken
        elif low == b"vary":
            vary_seen = True
            tokens = {t.strip().lower() for t in value.split(b",")}
            if b"accept-encoding" not in tokens and b"*" not in tokens:
                value += b", Accept-Encoding"
        out.append((name, value))
    if not vary_seen:
        out.append((b"vary", b"Accept-Encoding"))
    out.append((b"content-encoding", encoding.encode()))
    if length is not None:
        out.append((b"content-length", str(length).encode()))
    return out


class GZipMiddleware:
    """Compress responses of at least ``minimum_size`` bytes with br or gzip.

    Skipped: HEAD requests, responses that already have a Content-Encoding, event
    streams, compressed media (images, video, archives), ``Cache-Control: no-transform``
    and bodies smaller than ``minimum_size``.
    Streamed bodies are compressed chunk by chunk, each chunk flushed.
    """

    __slots__ = ("app", "brotli", "compresslevel", "minimum_size")

    def __init__(
        self,
        app: ASGIApp,
        minimum_size: int = 500,
        compresslevel: int = 6,
        brotli: bool = True,
    ) -> None:
        if minimum_size < 0:
            raise ValueError("GZipMiddleware: minimum_size must be >= 0")
        if not 1 <= compresslevel <= 9:
            raise ValueError("GZipMiddleware: compresslevel must be between 1 and 9")
        self.app = app
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        self.brotli = brotli and HAS_BROTLI

    @classmethod
    def as_step(cls, **options: Any) -> GZipStep:
        """Return these options as a celeris pipeline step (what ``App.add_middleware`` runs)."""
        # NOTE: the instance only holds the options; as a step it wraps no app.
        return GZipStep(cls(cast("ASGIApp", None), **options))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") == "HEAD":
            await self.app(scope, receive, send)
            return
        accept = ""
        for name, value in scope.get("headers", ()):
            if name == b"accept-encoding":
                accept = value.decode("latin-1")
                break
        encoding = choose_encoding(accept, self.brotli) if accept else None
        if encoding is None:
            await self.app(scope, receive, send)
            return
        responder = _Responder(self, encoding, send)
        await self.app(scope, receive, responder.send)


class _Responder:
    """Per-request state: holds the response start until the first body shows its size."""

    __slots__ = ("compressor", "encoding", "mw", "passthrough", "send_", "start")

    def __init__(self, mw: GZipMiddleware, encoding: str, send: Send) -> None:
        self.mw = mw
        self.encoding = encoding
        self.send_ = send
        self.start: Message | None = None
        self.passthrough = False
        self.compressor: _Compressor | None = None

    def _new_compressor(self) -> _Compressor:
        return _new_compressor(self.encoding, self.mw.compresslevel)

    def _compressed_headers(self, length: int | None) -> RawHeaders:
        assert self.start is not None
        return compressed_headers(self.start.get("headers", ()), self.encoding, length)

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            headers = list(message.get("headers", ()))
            if _keeps_encoding(message["status"], headers) or message.get("trailers"):
                self.passthrough = True
                await self.send_(message)
            else:
                self.start = message  # held until the first body chunk
            return
        if self.passthrough or kind != "http.response.body":
            if self.start is not None:  # another extension message: give up compressing
                await self.send_(self.start)
                self.start = None
                self.passthrough = True
            await self.send_(message)
            return

        body: bytes = message.get("body", b"")
        more = bool(message.get("more_body", False))
        if self.compressor is None:
            if self.start is None:  # body before start: let the server complain
                await self.send_(message)
                return
            if more and not body:
                return  # PERF: an empty leading chunk tells nothing yet; wait for data
            if not more and len(body) < self.mw.minimum_size:
                await self.send_(self.start)
                self.start = None
                self.passthrough = True
                await self.send_(message)
                return
            self.compressor = self._new_compressor()
            if not more:
                data = self.compressor.compress(body) + self.compressor.flush(True)
                if len(data) >= len(body):  # incompressible: the original is smaller
                    await self.send_(self.start)
                    await self.send_(message)
                    return
                start = {**self.start, "headers": self._compressed_headers(len(data))}
                await self.send_(start)
                await self.send_({"type": "http.response.body", "body": data})
                return
            await self.send_({**self.start, "headers": self._compressed_headers(None)})
            self.start = None
        data = self.compressor.compress(body) + self.compressor.flush(not more)
        await self.send_({"type": "http.response.body", "body": data, "more_body": more})


def _encoding_of(request: Request, brotli_enabled: bool) -> str | None:
    # PERF: one pass over the raw pairs; no Headers object.
    for name, value in request.conn.headers:
        if name == b"accept-encoding":
            return choose_encoding(value.decode("latin-1"), brotli_enabled)
    return None


class GZipStep(Step):
    """``GZipMiddleware``'s options as a pipeline step: compresses the finished response."""

    def __init__(self, options: GZipMiddleware) -> None:
        self.options = options
        # PERF: the tests that stop most responses are compiled in the compiled build
        # (middleware._steps); compressing is ``compress`` below.
        self._compression = Compression(options.minimum_size, self.compress)

    def _after_entry(self) -> tuple[Any, bool] | None:
        return (self._compression.after, False)  # PERF: a plain call, no coroutine

    async def after(self, request: Request, response: Response) -> Response | None:  # type: ignore[override]
        """Compress a plain body in place; send any other response through the ASGI filter."""
        return self.after_now(request, response)

    def after_now(self, request: Request, response: Response) -> Response | None:
        """``after``, as a plain function."""
        return self._compression.after(request, response)

    def compress(self, request: Request, response: Response) -> Response | None:
        """Compress the response of ``request`` (``after_now`` past its first tests)."""
        options = self.options
        if request.conn.method == "HEAD":
            return None
        if type(response) is not Response and not is_plain(response):
            chosen = _encoding_of(request, options.brotli)
            if chosen is None:
                return None
            return filtered(response, lambda send: _Responder(options, chosen, send).send)
        body = response.body
        if len(body) < options.minimum_size:
            return None
        encoding = _encoding_of(request, options.brotli)
        raw = response.raw_headers
        if encoding is None or _keeps_encoding(response.status_code, raw):
            return None
        compressor = _new_compressor(encoding, options.compresslevel)
        data = compressor.compress(body) + compressor.flush(True)
        if len(data) >= len(body):  # incompressible: the original is smaller
            return None
        response.body = data
        raw[:] = compressed_headers(raw, encoding, len(data))
        return None
