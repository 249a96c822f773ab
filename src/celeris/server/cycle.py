"""One HTTP request/response exchange: the fast-lane ``FastRequest`` and the ASGI receive/send."""

from __future__ import annotations

import asyncio
import json
import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final

from celeris.server.head import (
    CLEAN_HEADERS,
    CONTENT_LENGTH_LINES,
    STATUS_LINES,
    content_length_line,
    status_line,
)
from celeris.types import ASGIApp, CheckedHeader, HTTPScope, Message, RawHeaders

if TYPE_CHECKING:
    from celeris.server.protocol import HttpProtocol

logger = logging.getLogger("celeris.error")

_ASGI_VERSIONS = {"version": "3.0", "spec_version": "2.4"}
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_CHUNKED_END: Final = b"0\r\n\r\n"
_NO_BODY_STATUSES: Final = frozenset({204, 304})
_CHECKED: Final = CheckedHeader  # PERF: a C static in the compiled build
_INTERNAL_ERROR = (
    b"HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 21\r\nconnection: close\r\n"
)
_DISCONNECT: Final[Message] = {"type": "http.disconnect"}


class RequestCycle:
    """The server's per-request object: implements ``celeris.types.FastRequest``."""

    __slots__ = (
        "body",
        "body_size",
        "chunked",
        "client",
        "conn",
        "disconnected",
        "expect_100",
        "expected_length",
        "head_sent",
        "headers",
        "http_version",
        "keep_alive",
        "method",
        "more_body",
        "path",
        "query_string",
        "raw_path",
        "response_complete",
        "response_started",
        "root_path",
        "scheme",
        "sent_length",
        "server",
        "start_headers",
        "state",
        "status",
        "waiter",
    )

    def __init__(
        self,
        conn: HttpProtocol,
        method: str,
        http_version: str,
        path: str,
        raw_path: bytes,
        query_string: bytes,
        keep_alive: bool,
        more_body: bool,
        expect_100: bool,
    ) -> None:
        # PERF: what the connection already holds is read from it here rather than passed:
        # a class call packs its arguments into a tuple, and 15 of them cost more than
        # these attribute reads. The protocol overrides client and scheme behind a proxy.
        self.conn = conn
        self.method = method
        self.http_version = http_version
        self.scheme = conn.scheme
        self.path = path
        self.raw_path = raw_path
        self.query_string = query_string
        self.headers: RawHeaders = conn.headers
        self.client = conn.client
        self.server = conn.server
        state = conn.state
        self.root_path = state.root_path
        # SECURITY: a copy per request, as ASGI's scope["state"]: what one request stores in
        # request.state (a CSRF token, a CSP nonce, its id) must not show in another.
        shared = state.lifespan_state
        self.state = shared.copy() if shared else {}  # PERF: usually empty: a literal
        self.keep_alive = keep_alive
        self.more_body = more_body
        self.expect_100 = expect_100
        self.body: list[bytes] = []
        self.body_size = 0
        self.disconnected = False
        self.response_started = False
        self.response_complete = False
        self.chunked = False
        self.expected_length = -1
        self.sent_length = 0
        self.status = 0
        self.head_sent = False
        self.start_headers: RawHeaders = []
        self.waiter: asyncio.Future[None] | None = None

    # --- events from the protocol -------------------------------------------------------

    def wake(self) -> None:
        """Wake a ``receive()`` waiting for body data or a disconnect."""
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # --- the request side ---------------------------------------------------------------

    async def receive(self) -> Message:
        """Return the next ``http.request`` or ``http.disconnect`` message (ASGI semantics)."""
        if self.expect_100:
            self.expect_100 = False
            if not self.disconnected and not self.response_started:
                self.conn.transport.write(_CONTINUE)
        while not self.disconnected and not self.response_complete:
            if self.body or not self.more_body:
                if not self.body and self.body_size < 0:
                    # The whole body was handed out already: wait for the end of the exchange.
                    await self._wait()
                    continue
                body = b"".join(self.body) if len(self.body) != 1 else self.body[0]
                self.body.clear()
                if not self.more_body:
                    self.body_size = -1
                flow = self.conn.flow
                if flow.read_paused:  # PERF: the test first; reading is rarely paused
                    flow.resume_reading()
                return {"type": "http.request", "body": body, "more_body": self.more_body}
            self.conn.flow.resume_reading()
            await self._wait()
        return _DISCONNECT

    async def _wait(self) -> None:
        waiter = self.waiter
        if waiter is None:
            waiter = self.waiter = asyncio.get_running_loop().create_future()
        await waiter

    def is_disconnected(self) -> bool:
        """Tell whether the client has gone away."""
        return self.disconnected

    # --- the response side --------------------------------------------------------------

    async def respond(self, status: int, headers: RawHeaders, body: bytes) -> None:
        """Send a whole response at once (status, headers without Date/Server, body)."""
        if self.response_started:
            raise RuntimeError("respond() called after the response was started")
        self.response_started = True
        self.status = status
        if self.disconnected:
            self.response_complete = True
            return
        conn = self.conn
        defaults = conn.state.headers
        # PERF: one join for the whole head (and small bodies), one transport write.
        parts = [STATUS_LINES.get(status) or status_line(status), defaults.line]
        has_length = False
        unknown = False  # a header not known to be free of CR/LF: the head gets scanned
        # NOTE: the pairs as objects: compiled, a pair typed as a tuple is unboxed, and a
        # CheckedHeader would lose its type.
        pairs: list[Any] = headers
        for pair in pairs:
            name: bytes = pair[0]
            value: bytes = pair[1]
            parts += (name, b": ", value, b"\r\n")
            n = len(name)
            if n == 14 or n == 10:  # PERF: only content-length and connection matter here
                lname = name.lower()
                if lname == b"content-length":
                    has_length = True
                    if value.isdigit():
                        continue  # digits under a known name: nothing to scan
                elif lname == b"connection" and value.lower() == b"close":
                    self.keep_alive = False
            # PERF: a CheckedHeader was checked when it was made (a step's constant header).
            if type(pair) is not _CHECKED and pair not in CLEAN_HEADERS:
                unknown = True
        no_body = status in _NO_BODY_STATUSES or status < 200
        if self.expect_100 and self.more_body:
            self.keep_alive = False  # no 100 Continue went out: the body may never come
        if not has_length and not no_body:
            n = len(body)
            parts.append(CONTENT_LENGTH_LINES.get(n) or content_length_line(n))
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        head = b"".join(parts)
        if unknown:
            _check_head(head, len(parts), len(headers), defaults.nlines)
        self.head_sent = True
        if no_body or not body or self.method == "HEAD":
            conn.transport.write(head)
        else:
            conn.transport.write(head + body)
        self.sent_length = len(body)
        self.response_complete = True
        if self.waiter is not None:
            self.wake()
        # PERF: on_response_complete has nothing to do for a kept-alive, unlogged exchange.
        if not self.keep_alive or self.more_body or conn.state.access_log is not None:
            conn.on_response_complete(self)
        if conn.flow.write_paused:
            await conn.flow.drain()

    async def send(self, message: Message) -> None:
        """Send one ``http.response.start`` / ``http.response.body`` message (ASGI semantics)."""
        kind = message["type"]
        if kind == "http.response.start":
            if self.response_started:
                raise RuntimeError("http.response.start sent twice")
            self.response_started = True
            self.status = message["status"]
            self.start_headers = list(message.get("headers", ()))
            return
        if kind == "http.response.body":
            if not self.response_started:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self.response_complete:
                raise RuntimeError("http.response.body sent after the response completed")
            body: bytes = message.get("body", b"")
            more = bool(message.get("more_body", False))
            await self._write_body(body, more)
            return
        if kind == "http.response.trailers":
            return  # NOTE: trailers are accepted and dropped; we never announce them.
        raise RuntimeError(f"unexpected ASGI message type {kind!r} for http")

    async def _write_body(self, body: bytes, more: bool) -> None:
        conn = self.conn
        if self.disconnected:
            if not more:
                self.response_complete = True
            return
        out: list[bytes] = [] if self.head_sent else self._head(body, more)
        no_body = self.method == "HEAD" or self.status in _NO_BODY_STATUSES or self.status < 200
        if body and not no_body:
            if self.expected_length >= 0 and self.sent_length + len(body) > self.expected_length:
                raise RuntimeError("response body longer than its Content-Length")
            self.sent_length += len(body)
            if self.chunked:
                out += (b"%x\r\n" % len(body), body, b"\r\n")
            else:
                out.append(body)
        if not more:
            if self.chunked and not no_body:
                out.append(_CHUNKED_END)
            elif (
                self.expected_length >= 0
                and self.sent_length < self.expected_length
                and not no_body
            ):
                self.keep_alive = False  # the client would wait for bytes that never come
        if out:
            conn.transport.write(b"".join(out))
        if not more:
            self._complete()
        if conn.flow.write_paused:
            await conn.flow.drain()

    def _head(self, body: bytes, more: bool) -> list[bytes]:
        status = self.status
        parts = [status_line(status), self.conn.state.headers.line]
        length = -1
        kept = 0
        unknown = False
        pairs: list[Any] = self.start_headers  # NOTE: as objects, as in respond()
        for pair in pairs:
            name: bytes = pair[0]
            value: bytes = pair[1]
            lname = name.lower()
            if lname == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    raise RuntimeError(f"invalid Content-Length {value!r} in response") from None
            elif lname == b"connection" and value.lower() == b"close":
                self.keep_alive = False
            elif lname == b"transfer-encoding":
                continue  # NOTE: the server owns the framing.
            parts += (name, b": ", value, b"\r\n")
            kept += 1
            if type(pair) is not _CHECKED:
                unknown = True
        no_body = status in _NO_BODY_STATUSES or status < 200
        if self.expect_100 and self.more_body:
            self.keep_alive = False  # no 100 Continue went out: the body may never come
        if length >= 0:
            self.expected_length = length
        elif no_body:
            self.expected_length = 0
        elif not more:
            self.expected_length = len(body)
            parts.append(content_length_line(len(body)))
        elif self.http_version == "1.1":
            self.chunked = self.method != "HEAD"
            if self.chunked:
                parts.append(b"transfer-encoding: chunked\r\n")
        else:
            self.keep_alive = False  # HTTP/1.0 streaming: the close ends the body
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        head = b"".join(parts)
        if unknown:
            _check_head(head, len(parts), kept, self.conn.state.headers.nlines)
        self.head_sent = True
        return [head]

    def _complete(self) -> None:
        self.response_complete = True
        self.wake()
        self.conn.on_response_complete(self)

    # --- running the app ----------------------------------------------------------------

    def scope(self) -> HTTPScope:
        """Build the ASGI HTTP scope for this request."""
        return {
            "type": "http",
            "asgi": _ASGI_VERSIONS,  # type: ignore[typeddict-item]
            "http_version": self.http_version,
            "method": self.method,
            "scheme": self.scheme,
            "path": self.path,
            "raw_path": self.raw_path,
            "query_string": self.query_string,
            "root_path": self.root_path,
            "headers": self.headers,
            "client": self.client,
            "server": self.server,
            "state": self.state.copy(),
        }

    async def run_asgi(self, app: ASGIApp) -> None:
        """Run an ASGI app for this request, turning failures into a 500 or a close."""
        try:
            await app(self.scope(), self.receive, self.send)  # type: ignore[arg-type]
        except Exception:
            logger.exception("Exception in ASGI application")
            self._fail()
        else:
            if not self.response_complete:
                if not self.response_started:
                    logger.error("ASGI application returned without starting a response")
                self._fail()
        finally:
            self.conn.on_cycle_done(self)

    def finish_fast(self, error: BaseException | None) -> None:
        """Close out a fast-lane handler that ended (with ``error`` if it raised)."""
        if error is None and self.response_complete:
            self.conn.on_cycle_done(self)  # PERF: the usual case first
            return
        if error is not None:
            logger.error("Exception in application (%s %s)", self.method, self.path, exc_info=error)
            if not self.response_complete:
                self._fail()
            # else: the app answered (a 500 of its own) before re-raising: keep the connection.
        elif not self.response_complete:
            if not self.response_started:
                logger.error("application returned without sending a response")
            self._fail()
        self.conn.on_cycle_done(self)

    async def run_status(self, status: int, detail: str) -> None:
        """Answer with a server-made problem response (e.g. 503 over the concurrency limit)."""
        try:
            body = problem_body(status, detail)
            await self.respond(
                status,
                [(b"content-type", b"application/problem+json")],
                body,
            )
        finally:
            self.conn.on_cycle_done(self)

    def _fail(self) -> None:
        self.keep_alive = False
        if not self.head_sent and not self.disconnected:
            self.response_started = True
            self.head_sent = True
            self.status = 500
            transport = self.conn.transport
            transport.write(
                _INTERNAL_ERROR + self.conn.state.headers.line + b"\r\nInternal Server Error"
            )
            self.response_complete = True
            self.conn.on_response_complete(self)
        elif not self.response_complete:
            self.response_complete = True
            self.conn.on_response_complete(self)


def problem_body(status: int, detail: str) -> bytes:
    """Return an RFC 9457 problem+json body for a server-made error."""
    try:
        title = HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    document = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def _check_head(head: bytes, nparts: int, nheaders: int, ndefault: int) -> None:
    # SECURITY: an app-supplied name or value holding CR or LF would split the response.
    # PERF: two C-level counts over the joined head instead of a check per header. The head
    # is [status, defaults, 4 parts per header..., one part per extra line, final CRLF].
    nlines = nparts - 3 * nheaders + ndefault - 1
    if head.count(b"\n") != nlines or head.count(b"\r") != nlines:
        raise RuntimeError("response header name or value contains CR or LF")
