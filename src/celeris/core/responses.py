"""Responses: ``Response`` and its family, each sendable on the fast lane or as an ASGI app."""

from __future__ import annotations

import asyncio
import http.cookies
import logging
import mimetypes
import os
import secrets
import stat
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterable, Mapping
from datetime import datetime, timedelta
from email.utils import format_datetime, formatdate, parsedate_to_datetime
from pathlib import PurePath
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import msgspec

from celeris.core.asgi import ASGIConnection
from celeris.core.background import BackgroundTasks
from celeris.core.concurrency import iterate_in_threadpool, run_in_threadpool
from celeris.core.datastructures import Headers, MutableHeaders
from celeris.core.status import is_body_allowed
from celeris.core.validation import stable_datetimes
from celeris.types import FastRequest, RawHeaders, Receive, Scope, Send

__all__ = [
    "FileResponse",
    "HTMLResponse",
    "JSONResponse",
    "PlainTextResponse",
    "RedirectResponse",
    "Response",
    "ServerSentEvent",
    "ServerSentEvents",
    "StreamingResponse",
    "json_encode",
]

logger = logging.getLogger("celeris.responses")

HeadersInit = Mapping[str, str] | Iterable[tuple[str, str]] | Headers | None
Background = BackgroundTasks | Any | None


def _enc_hook(obj: Any) -> Any:
    """Turn what msgspec cannot encode natively into something it can."""
    # NOTE: msgspec already handles dataclasses, Structs, enums, sets, Decimal, UUID, datetimes.
    model_dump = getattr(obj, "model_dump", None)
    if model_dump is not None and callable(model_dump):
        return model_dump(mode="json")  # pydantic v2 models
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, Iterable) and not isinstance(obj, str | bytes):
        return list(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} object as JSON")


# PERF: one reusable encoder (msgspec keeps its buffers between calls).
_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
_encode = stable_datetimes(_encoder.encode, _enc_hook)


def json_encode(obj: Any) -> bytes:
    """Encode ``obj`` as JSON (msgspec, plus pydantic models, sets, Decimal, paths...).

    A datetime is written with microseconds and its offset (``Z`` for UTC):
    ``2024-05-01T12:00:00.000000Z``.
    """
    return _encode(obj)


# PERF: content-type header values computed once per media type.
_content_types: dict[str, bytes] = {}


def _content_type(media_type: str, charset: str) -> bytes:
    key = media_type + charset
    value = _content_types.get(key)
    if value is None:
        ct = media_type
        if "charset=" not in media_type.lower() and (
            media_type.startswith("text/") or media_type in ("application/javascript",)
        ):
            ct = f"{media_type}; charset={charset}"
        value = ct.encode("latin-1")
        if len(_content_types) < 256:
            _content_types[key] = value
    return value


def _init_raw(headers: HeadersInit) -> RawHeaders:
    if headers is None:
        return []
    return MutableHeaders(headers).raw  # a lower-cased copy


def _unsized_headers(headers: HeadersInit, media_type: str | None, charset: str) -> RawHeaders:
    """Return the raw headers of a body of unknown length: the user's plus a content type."""
    raw = _init_raw(headers)
    names = {k for k, _ in raw}
    if media_type is not None and b"content-type" not in names:
        raw.append((b"content-type", _content_type(media_type, charset)))
    return raw


class Response:
    """An HTTP response with a bytes body, sent as one ``respond`` call."""

    __slots__ = ("_headers", "background", "body", "media_type", "raw_headers", "status_code")

    media_type_default: ClassVar[str | None] = None
    charset: ClassVar[str] = "utf-8"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Accept the Starlette idiom ``class CSV(Response): media_type = "text/csv"``."""
        super().__init_subclass__(**kwargs)
        media_type = cls.__dict__.get("media_type")
        if isinstance(media_type, str):
            cls.media_type_default = media_type
            delattr(cls, "media_type")  # uncover the per-instance slot again

    def __init__(
        self,
        content: Any = None,
        status_code: int = 200,
        headers: HeadersInit = None,
        media_type: str | None = None,
        background: Background = None,
    ) -> None:
        self.status_code = status_code
        self.media_type = media_type if media_type is not None else self.media_type_default
        self.background = background
        self.body = self.render(content)
        self._headers: MutableHeaders | None = None
        self.raw_headers = self._build_headers(headers)

    @classmethod
    def of_parts(
        cls, status_code: int, raw_headers: RawHeaders, body: bytes, media_type: str | None
    ) -> Response:
        """Return a response of finished parts: nothing is rendered or checked."""
        # PERF: the short lane's answers for routes with steps; __init__ renders and scans.
        self = cls.__new__(cls)
        self.status_code = status_code
        self.media_type = media_type
        self.background = None
        self.body = body
        self._headers = None
        self.raw_headers = raw_headers
        return self

    def render(self, content: Any) -> bytes:
        """Turn ``content`` into the body bytes."""
        if content is None:
            return b""
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode(self.charset)
        if isinstance(content, bytearray | memoryview):
            return bytes(content)
        raise TypeError(
            f"{type(self).__name__} content must be str or bytes, not {type(content).__name__}"
            " (use JSONResponse for data)"
        )

    def _build_headers(self, headers: HeadersInit) -> RawHeaders:
        raw = _init_raw(headers)
        # PERF: the usual case (no user headers) appends without scanning.
        names = {k for k, _ in raw} if raw else ()
        body_allowed = is_body_allowed(self.status_code)
        if not body_allowed:
            self.body = b""
        elif b"content-length" not in names:
            raw.append((b"content-length", str(len(self.body)).encode("latin-1")))
        if self.media_type is not None and b"content-type" not in names and body_allowed:
            raw.append((b"content-type", _content_type(self.media_type, self.charset)))
        return raw

    @property
    def headers(self) -> MutableHeaders:
        """The response headers, mutable until the response is sent."""
        h = self._headers
        if h is None:
            h = self._headers = MutableHeaders.over(self.raw_headers)
        return h

    def set_cookie(
        self,
        key: str,
        value: str = "",
        max_age: int | None = None,
        expires: datetime | timedelta | str | int | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Add a Set-Cookie header."""
        cookie: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        cookie[key] = value
        morsel = cookie[key]
        if max_age is not None:
            morsel["max-age"] = str(int(max_age))
        if expires is not None:
            if isinstance(expires, datetime):
                morsel["expires"] = format_datetime(expires, usegmt=True)
            elif isinstance(expires, timedelta):
                morsel["expires"] = int(expires.total_seconds())  # seconds from now
            else:
                morsel["expires"] = expires
        if path is not None:
            morsel["path"] = path
        if domain is not None:
            morsel["domain"] = domain
        if secure:
            morsel["secure"] = True
        if httponly:
            morsel["httponly"] = True
        if samesite is not None:
            if samesite.lower() not in ("strict", "lax", "none"):
                raise ValueError("samesite must be 'strict', 'lax' or 'none'")
            morsel["samesite"] = samesite.capitalize()
        line = morsel.OutputString()
        if partitioned:
            line += "; Partitioned"
        self.headers.append("set-cookie", line)

    def delete_cookie(
        self,
        key: str,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None:
        """Add a Set-Cookie header that expires ``key`` in the browser."""
        self.set_cookie(
            key,
            "",
            max_age=0,
            expires="Thu, 01 Jan 1970 00:00:00 GMT",
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    async def send_to(self, conn: FastRequest) -> None:
        """Send the response on ``conn`` (background tasks are the caller's job)."""
        # PERF: one call; the server turns it into a single transport write.
        await conn.respond(self.status_code, self.raw_headers, self.body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the response as an ASGI app, then run its background tasks."""
        await self.send_to(ASGIConnection(scope, receive, send))
        if self.background is not None:
            await self.background()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status_code={self.status_code})"


class PlainTextResponse(Response):
    """A ``text/plain; charset=utf-8`` response."""

    __slots__ = ()
    media_type_default = "text/plain"


class HTMLResponse(Response):
    """A ``text/html; charset=utf-8`` response."""

    __slots__ = ()
    media_type_default = "text/html"


class JSONResponse(Response):
    """A JSON response encoded with msgspec."""

    __slots__ = ()
    media_type_default = "application/json"

    def render(self, content: Any) -> bytes:
        """Encode ``content`` as JSON."""
        return _encode(content)


class RedirectResponse(Response):
    """A redirect to ``url`` (307 by default; the URL is percent-quoted safely)."""

    __slots__ = ()

    def __init__(
        self,
        url: str | Any,
        status_code: int = 307,
        headers: HeadersInit = None,
        background: Background = None,
    ) -> None:
        super().__init__(None, status_code, headers, None, background)
        # SECURITY: quoting removes CR/LF and spaces, so the URL cannot split the header.
        self.headers["location"] = quote(str(url), safe=":/%#?=@[]!$&'()*+,;~")


# --- streaming --------------------------------------------------------------------------------

Content = AsyncIterable[str | bytes] | Iterable[str | bytes]


def _aiter_content(content: Any) -> AsyncIterator[Any]:
    if isinstance(content, AsyncIterable):
        return aiter(content)
    if isinstance(content, Iterable):
        return aiter(iterate_in_threadpool(content))
    raise TypeError(f"streaming content must be an iterator, not {type(content).__name__}")


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


class StreamingResponse(Response):
    """A response whose body comes from a sync or async iterator of bytes/str chunks."""

    __slots__ = ("body_iterator",)

    def __init__(
        self,
        content: Content,
        status_code: int = 200,
        headers: HeadersInit = None,
        media_type: str | None = None,
        background: Background = None,
    ) -> None:
        self.body_iterator = _aiter_content(content)
        super().__init__(None, status_code, headers, media_type, background)

    def _build_headers(self, headers: HeadersInit) -> RawHeaders:
        return _unsized_headers(headers, self.media_type, self.charset)

    async def _chunks(self) -> AsyncGenerator[bytes, None]:
        charset = self.charset
        async for chunk in self.body_iterator:
            yield chunk if isinstance(chunk, bytes) else str(chunk).encode(charset)

    async def _stream(self, conn: FastRequest) -> None:
        await conn.send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        if conn.method != "HEAD" and is_body_allowed(self.status_code):
            chunks = self._chunks()
            try:
                async for chunk in chunks:
                    if chunk:
                        await conn.send(
                            {"type": "http.response.body", "body": chunk, "more_body": True}
                        )
            finally:
                # Close now (even when cancelled), not whenever the generator is collected.
                await chunks.aclose()
        await conn.send({"type": "http.response.body", "body": b"", "more_body": False})

    async def send_to(self, conn: FastRequest) -> None:
        """Stream the body until it ends or the client disconnects."""
        stream = asyncio.ensure_future(self._stream(conn))
        watch = asyncio.ensure_future(_wait_disconnect(conn))
        try:
            await asyncio.wait((stream, watch), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (stream, watch):
                if not task.done():
                    task.cancel()
            await asyncio.gather(stream, watch, return_exceptions=True)
            try:
                await _aclose(self.body_iterator)
            except RuntimeError:  # still running in a worker thread; it stops on its own
                logger.debug("could not close the body iterator", exc_info=True)
        if not stream.cancelled() and stream.exception() is not None and not conn.is_disconnected():
            raise stream.exception()  # type: ignore[misc]


async def _wait_disconnect(conn: FastRequest) -> None:
    """Return once the client has gone (unread request body is drained on the way)."""
    body_done = False
    try:
        while not conn.is_disconnected():
            message = await conn.receive()
            kind = message.get("type")
            if kind == "http.disconnect":
                return
            if body_done:
                break  # a server that does not block here: polling would spin
            body_done = not message.get("more_body", False)
    except Exception:  # a receive that fails tells nothing about the client
        logger.debug("cannot watch for a disconnect", exc_info=True)
    await asyncio.Event().wait()  # only the stream's end (or a cancel) stops us now


# --- server-sent events -----------------------------------------------------------------------


class ServerSentEvent:
    """One SSE message; ``data`` str is sent as is, other data as JSON."""

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: Any = None,
        event: str | None = None,
        id: str | int | None = None,  # the SSE field name
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        for name, value in (("event", event), ("id", id)):
            # SECURITY: a newline would let the value inject other fields or events.
            if value is not None and any(c in str(value) for c in "\r\n\0"):
                raise ValueError(f"SSE {name} must not contain CR, LF or NUL")
        if retry is not None and (not isinstance(retry, int) or retry < 0):
            raise ValueError("SSE retry must be a non-negative integer (milliseconds)")
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def encode(self) -> bytes:
        """Return the wire form, ending with a blank line."""
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(f": {line}" for line in self.comment.splitlines() or [""])
        if self.event is not None:
            lines.append(f"event: {self.event}")
        if self.id is not None:
            lines.append(f"id: {self.id}")
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        if self.data is not None:
            data = self.data
            if isinstance(data, bytes):
                data = data.decode("utf-8")
            elif not isinstance(data, str):
                data = _encode(data).decode("utf-8")
            lines.extend(f"data: {line}" for line in data.replace("\r\n", "\n").split("\n"))
        return ("\n".join(lines) + "\n\n").encode("utf-8")

    def __repr__(self) -> str:
        return f"ServerSentEvent(data={self.data!r}, event={self.event!r}, id={self.id!r})"


_PING = b": ping\n\n"


class ServerSentEvents(StreamingResponse):
    """A ``text/event-stream`` response from an iterator of events, with pings when idle."""

    __slots__ = ("ping",)
    media_type_default = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterable[Any] | Iterable[Any],
        ping: float | None = 15.0,
        headers: HeadersInit = None,
        status_code: int = 200,
        background: Background = None,
    ) -> None:
        self.ping = ping
        super().__init__(content, status_code, headers, None, background)
        h = self.headers
        h.setdefault("cache-control", "no-cache")
        h.setdefault("x-accel-buffering", "no")

    async def _chunks(self) -> AsyncGenerator[bytes, None]:
        iterator = self.body_iterator
        ping = self.ping
        pending: asyncio.Future[Any] | None = None
        try:
            while True:
                if pending is None:
                    pending = asyncio.ensure_future(anext(iterator))
                # NOTE: wait without cancelling the producer, so a ping never loses an item.
                done, _ = await asyncio.wait((pending,), timeout=ping)
                if not done:
                    yield _PING
                    continue
                future, pending = pending, None
                try:
                    item = future.result()
                except StopAsyncIteration:
                    return
                yield _encode_event(item)
        finally:
            if pending is not None and not pending.done():
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)


def _encode_event(item: Any) -> bytes:
    if isinstance(item, ServerSentEvent):
        return item.encode()
    if isinstance(item, bytes):
        return item  # pre-encoded by the user
    return ServerSentEvent(data=item).encode()


# --- files ------------------------------------------------------------------------------------

CHUNK_SIZE = 64 * 1024
MAX_RANGES = 64


def _problem(status: int, title: str, detail: str) -> bytes:
    return _encoder.encode(
        {"type": "about:blank", "title": title, "status": status, "detail": detail}
    )


def _problem_headers(body: bytes) -> RawHeaders:
    return [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]


def _content_disposition(kind: str, filename: str) -> str:
    filename = filename.replace("\r", "").replace("\n", "")
    ascii_name = (
        filename.encode("ascii", "replace").decode("ascii").replace('"', "_").replace("\\", "_")
    )
    if ascii_name == filename:
        return f'{kind}; filename="{filename}"'
    # RFC 6266/5987: an ASCII fallback plus the exact UTF-8 name.
    return f"{kind}; filename=\"{ascii_name}\"; filename*=utf-8''{quote(filename, safe='')}"


def _parse_range(header: str, size: int) -> list[tuple[int, int]] | None:
    """Parse a Range header into inclusive (start, end) pairs; None means ignore the header."""
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    ranges: list[tuple[int, int]] = []
    parts = spec.split(",")
    if len(parts) > MAX_RANGES:
        return None
    for part in parts:
        part = part.strip()
        if not part:
            continue
        first, dash, last = part.partition("-")
        first, last = first.strip(), last.strip()
        if not dash or not (first.isdigit() or (not first and last.isdigit())):
            return None
        if last and not last.isdigit():
            return None
        if not first:
            suffix = int(last)
            if suffix == 0:
                continue
            ranges.append((max(size - suffix, 0), size - 1))
            continue
        start = int(first)
        if last and int(last) < start:
            return None  # syntactically invalid: the whole header is ignored
        if start >= size:
            continue
        end = int(last) if last else size - 1
        ranges.append((start, min(end, size - 1)))
    if not ranges:
        return []
    ranges.sort()
    merged = [ranges[0]]
    for start, end in ranges[1:]:
        last_start, last_end = merged[-1]
        if start <= last_end + 1:
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def _http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _etag_matches(header: str, etag: str) -> bool:
    if header.strip() == "*":
        return True
    weak = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == weak for tag in header.split(","))


class FileResponse(Response):
    """A file from disk with ETag, Last-Modified, conditional requests and byte ranges."""

    __slots__ = ("content_disposition_type", "filename", "path", "stat_result")

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: HeadersInit = None,
        media_type: str | None = None,
        filename: str | None = None,
        content_disposition_type: str = "attachment",
        background: Background = None,
        stat_result: os.stat_result | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.filename = filename
        self.stat_result = stat_result
        self.content_disposition_type = content_disposition_type
        if media_type is None:
            media_type = (
                mimetypes.guess_type(filename or self.path)[0] or "application/octet-stream"
            )
        super().__init__(None, status_code, headers, media_type, background)
        if filename is not None:
            self.headers.setdefault(
                "content-disposition", _content_disposition(content_disposition_type, filename)
            )

    def _build_headers(self, headers: HeadersInit) -> RawHeaders:
        return _unsized_headers(headers, self.media_type, self.charset)

    def _validators(self, st: os.stat_result) -> None:
        h = self.headers
        h.setdefault("etag", f'"{st.st_mtime_ns:x}-{st.st_size:x}"')
        h.setdefault("last-modified", formatdate(st.st_mtime, usegmt=True))
        h.setdefault("accept-ranges", "bytes")

    def _not_modified(self, req: Headers, st: os.stat_result) -> bool:
        inm = req.get("if-none-match")
        if inm is not None:
            return _etag_matches(inm, self.headers["etag"])
        ims = req.get("if-modified-since")
        if ims is not None:
            when = _http_date(ims)
            return when is not None and int(st.st_mtime) <= when
        return False

    def _range_applies(self, req: Headers) -> bool:
        if_range = req.get("if-range")
        if if_range is None:
            return True
        if_range = if_range.strip()
        if if_range.startswith(('"', 'W/"')):
            return if_range == self.headers["etag"]  # strong comparison only
        return if_range == self.headers["last-modified"]

    async def send_to(self, conn: FastRequest) -> None:
        """Send the file, a 304, a 206 part or a 416 as the request headers ask."""
        st = self.stat_result
        if st is None:
            try:
                st = await run_in_threadpool(os.stat, self.path)
            except OSError:
                st = None
            if st is None or not stat.S_ISREG(st.st_mode):
                body = _problem(404, "Not Found", "The file does not exist.")
                await conn.respond(404, _problem_headers(body), body)
                return
        size = st.st_size
        self._validators(st)
        req = Headers(conn.headers)
        method = conn.method
        if self.status_code == 200 and method in ("GET", "HEAD") and self._not_modified(req, st):
            keep = {
                b"etag",
                b"last-modified",
                b"cache-control",
                b"content-location",
                b"vary",
                b"expires",
            }
            raw = [(k, v) for k, v in self.raw_headers if k in keep]
            await conn.respond(304, raw, b"")
            return
        ranges: list[tuple[int, int]] | None = None
        range_header = req.get("range")
        if (
            range_header is not None
            and self.status_code == 200
            and method in ("GET", "HEAD")
            and self._range_applies(req)
        ):
            ranges = _parse_range(range_header, size)
        if ranges == []:
            body = _problem(416, "Range Not Satisfiable", f"The file is {size} bytes long.")
            raw = _problem_headers(body)
            raw.append((b"content-range", f"bytes */{size}".encode()))
            await conn.respond(416, raw, body)
            return
        if ranges is None:
            await self._send_full(conn, size)
        elif len(ranges) == 1:
            await self._send_single(conn, ranges[0], size)
        else:
            await self._send_multi(conn, ranges, size)

    async def _send_full(self, conn: FastRequest, size: int) -> None:
        self.headers["content-length"] = str(size)
        head = conn.method == "HEAD"
        if head or size <= CHUNK_SIZE:
            # PERF: small files go out as one respond() call.
            body = b"" if head else await run_in_threadpool(_read_file, self.path, 0, size)
            await conn.respond(self.status_code, self.raw_headers, body)
            return
        await self._send_ranges(conn, self.status_code, [(0, size - 1)], None)

    async def _send_single(self, conn: FastRequest, rng: tuple[int, int], size: int) -> None:
        start, end = rng
        self.headers["content-range"] = f"bytes {start}-{end}/{size}"
        self.headers["content-length"] = str(end - start + 1)
        if conn.method == "HEAD":
            await conn.respond(206, self.raw_headers, b"")
            return
        await self._send_ranges(conn, 206, [rng], None)

    async def _send_multi(
        self, conn: FastRequest, ranges: list[tuple[int, int]], size: int
    ) -> None:
        boundary = secrets.token_hex(16)
        content_type = self.headers.get("content-type") or "application/octet-stream"
        parts = []
        for start, end in ranges:
            head = (
                f"--{boundary}\r\nContent-Type: {content_type}\r\n"
                f"Content-Range: bytes {start}-{end}/{size}\r\n\r\n"
            ).encode("latin-1")
            parts.append(head)
        tail = f"--{boundary}--\r\n".encode("latin-1")
        length = sum(len(p) for p in parts) + sum(e - s + 1 + 2 for s, e in ranges) + len(tail)
        self.headers["content-type"] = f"multipart/byteranges; boundary={boundary}"
        self.headers["content-length"] = str(length)
        if conn.method == "HEAD":
            await conn.respond(206, self.raw_headers, b"")
            return
        await self._send_ranges(conn, 206, ranges, (parts, tail))

    async def _send_ranges(
        self,
        conn: FastRequest,
        status: int,
        ranges: list[tuple[int, int]],
        multipart: tuple[list[bytes], bytes] | None,
    ) -> None:
        await conn.send(
            {"type": "http.response.start", "status": status, "headers": self.raw_headers}
        )
        f = await run_in_threadpool(open, self.path, "rb")
        try:
            for i, (start, end) in enumerate(ranges):
                if multipart is not None:
                    await conn.send(
                        {"type": "http.response.body", "body": multipart[0][i], "more_body": True}
                    )
                await run_in_threadpool(f.seek, start)
                remaining = end - start + 1
                while remaining > 0:
                    if conn.is_disconnected():
                        return
                    chunk = await run_in_threadpool(f.read, min(CHUNK_SIZE, remaining))
                    if not chunk:  # the file shrank under us
                        raise OSError(f"{self.path} changed while being sent")
                    remaining -= len(chunk)
                    await conn.send(
                        {"type": "http.response.body", "body": chunk, "more_body": True}
                    )
                if multipart is not None:
                    await conn.send(
                        {"type": "http.response.body", "body": b"\r\n", "more_body": True}
                    )
            last = multipart[1] if multipart is not None else b""
            await conn.send({"type": "http.response.body", "body": last, "more_body": False})
        finally:
            await run_in_threadpool(f.close)


def _read_file(path: str, start: int, length: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(start)
        return f.read(length)
