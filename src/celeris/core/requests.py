"""``Request``: a lazy view of one HTTP request over any ``FastRequest``.

PERF: the compiled build compiles this module with mypyc: ``Request`` is then a native class,
made and read from the compiled lane and steps as a C struct (compiled, an interpreted
``Request`` cost ~2,800 instructions to make, and each of its attributes read from compiled
code ~100-200). A pure install runs the same code as plain Python.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from celeris.core.asgi import scope_of
from celeris.core.bodies import body_stream
from celeris.core.datastructures import URL, Address, FormData, Headers, QueryParams, State
from celeris.core.errors import BadRequest
from celeris.core.forms import (
    DEFAULT_MAX_FIELDS,
    DEFAULT_MAX_FILES,
    DEFAULT_MAX_PART_SIZE,
    parse_form,
)
from celeris.types import FastRequest, Message, Receive, Scope

__all__ = ["ClientDisconnect", "Request", "parse_cookies"]


class ClientDisconnect(Exception):
    """The client went away while its request body was being read."""


_COOKIE_ESCAPE = re.compile(r"\\(?:([0-3][0-7][0-7])|(.))")


def _unquote_cookie(value: str) -> str:
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        return value
    return _COOKIE_ESCAPE.sub(
        lambda m: chr(int(m.group(1), 8)) if m.group(1) else m.group(2), value[1:-1]
    )


def parse_cookies(header: str) -> dict[str, str]:
    """Parse a Cookie header leniently (bad pairs are skipped, never fatal); last one wins."""
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        key, sep, value = chunk.partition("=")
        if not sep:
            key, value = "", key
        key, value = key.strip(), value.strip()
        if key or value:
            cookies[key] = _unquote_cookie(value)
    return cookies


async def _next_chunk(receive: Receive) -> tuple[bytes, bool]:
    """Return the next body chunk and whether more follow; a disconnect raises."""
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "http.request":
            return message.get("body", b""), message.get("more_body", False)
        if kind == "http.disconnect":
            raise ClientDisconnect("The client disconnected while sending the body.")


class Request:
    """One HTTP request; every part is parsed on first access and cached."""

    __slots__ = (
        "_body",
        "_cookies",
        "_disconnect_task",
        "_form",
        "_headers",
        "_json",
        "_query_params",
        "_session",
        "_state",
        "_stream_consumed",
        "_url",
        "app",
        "conn",
        "path_params",
    )

    def __init__(
        self,
        conn: FastRequest,
        app: Any = None,
        path_params: dict[str, Any] | None = None,
    ) -> None:
        #: The underlying connection (``FastRequest``).
        # PERF: a plain attribute, not a property: steps read it on every request.
        self.conn = conn
        self.app = app
        self.path_params: dict[str, Any] = path_params if path_params is not None else {}
        self._headers: Headers | None = None
        self._query_params: QueryParams | None = None
        self._cookies: dict[str, str] | None = None
        self._url: URL | None = None
        self._state: State | None = None
        self._session: Any = _UNSET
        self._body: bytes | None = None
        self._json: Any = _UNSET
        self._form: FormData | None = None
        self._stream_consumed = False
        self._disconnect_task: asyncio.Task[Message] | None = None

    # --- the request line and headers ---------------------------------------------------------

    @property
    def scope(self) -> Scope:
        """The ASGI scope (built on demand on the fast lane)."""
        return scope_of(self.conn)

    @property
    def method(self) -> str:
        """The request method, upper-case."""
        return self.conn.method

    @property
    def path(self) -> str:
        """The decoded request path."""
        return self.conn.path

    @property
    def headers(self) -> Headers:
        """The request headers (case-insensitive)."""
        h = self._headers
        if h is None:
            h = self._headers = Headers(self.conn.headers)
        return h

    @property
    def query_params(self) -> QueryParams:
        """The query-string parameters (``get`` returns the last value)."""
        q = self._query_params
        if q is None:
            q = self._query_params = QueryParams(self.conn.query_string)
        return q

    @property
    def cookies(self) -> dict[str, str]:
        """The request cookies."""
        c = self._cookies
        if c is None:
            header = self.headers.get("cookie")
            c = self._cookies = parse_cookies(header) if header else {}
        return c

    @property
    def url(self) -> URL:
        """The full request URL."""
        u = self._url
        if u is None:
            conn = self.conn
            path = conn.raw_path.decode("latin-1") if conn.raw_path else conn.path
            u = self._url = URL.build(
                scheme=conn.scheme,
                host=self.headers.get("host"),
                server=conn.server,
                path=path,
                query_string=conn.query_string,
            )
        return u

    @property
    def base_url(self) -> URL:
        """The URL of the application root (scheme, host and root path)."""
        conn = self.conn
        root = conn.root_path.rstrip("/") + "/"
        return URL.build(
            scheme=conn.scheme, host=self.headers.get("host"), server=conn.server, path=root
        )

    @property
    def client(self) -> Address | None:
        """The peer's address, when known."""
        client = self.conn.client
        return Address(client[0], client[1]) if client is not None else None

    @property
    def state(self) -> State:
        """Per-request state (attribute access over the connection's state dict)."""
        s = self._state
        if s is None:
            s = self._state = State(self.conn.state)
        return s

    @property
    def session(self) -> Any:
        """The request's session (a mutable mapping), set by a sessions step."""
        session = self._session
        if session is _UNSET:
            raise RuntimeError("request.session needs celeris.sessions.Sessions(app=app)")
        return session

    @session.setter
    def session(self, value: Any) -> None:
        self._session = value

    def url_for(self, name: str, /, **params: Any) -> str:
        """Build the path of route ``name`` through the application."""
        if self.app is None or not hasattr(self.app, "url_for"):
            raise RuntimeError("url_for needs a Request bound to an application")
        return str(self.app.url_for(name, **params))

    # --- the body -----------------------------------------------------------------------------

    def stream(self) -> AsyncIterator[bytes]:
        """Yield the body in chunks as they arrive (once; ``body()`` caches instead)."""
        # NOTE: the async generator lives in core/bodies.py: the compiled build compiles
        # this module with mypyc, which does not compile async generators.
        return body_stream(self)

    def body_read(self) -> bytes | None:
        """Return the body if ``body()`` has already read it, else None."""
        return self._body

    async def body(self) -> bytes:
        """Return the whole body (read once, then cached)."""
        body = self._body
        if body is None:
            if self._stream_consumed:
                raise RuntimeError(
                    "The request body has already been consumed by stream(); "
                    "call body() before stream() to read it twice."
                )
            # PERF: what stream() does, without an async generator (one fewer object and
            # frame per message; most bodies arrive in one message).
            self._stream_consumed = True
            receive = self.conn.receive
            chunks: list[bytes] = []
            more = True
            while more:
                chunk, more = await _next_chunk(receive)
                if chunk:
                    chunks.append(chunk)
            # PERF: a single-chunk body (the usual case) is not copied.
            body = self._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return body

    async def json(self) -> Any:
        """Return the body decoded as JSON; a malformed body raises ``BadRequest`` (400)."""
        if self._json is _UNSET:
            body = await self.body()
            if not body:
                raise BadRequest("The request body is empty; expected JSON.")
            try:
                self._json = msgspec.json.decode(body)
            except msgspec.DecodeError as exc:
                raise BadRequest(f"Malformed JSON body: {exc}") from None
        return self._json

    async def form(
        self,
        *,
        max_files: int = DEFAULT_MAX_FILES,
        max_fields: int = DEFAULT_MAX_FIELDS,
        max_part_size: int = DEFAULT_MAX_PART_SIZE,
        max_file_size: int | None = None,
    ) -> FormData:
        """Parse the body as a form (urlencoded or multipart); cached after the first call.

        ``max_part_size`` limits each non-file field, ``max_file_size`` each file (413 past).
        """
        form = self._form
        if form is None:
            form = self._form = await parse_form(
                self.headers,
                self.stream(),
                max_files=max_files,
                max_fields=max_fields,
                max_part_size=max_part_size,
                max_file_size=max_file_size,
            )
        return form

    async def is_disconnected(self) -> bool:
        """Tell whether the client has gone away (never blocks)."""
        conn = self.conn
        if conn.is_disconnected():
            return True
        if self._body is None and not self._stream_consumed:
            # NOTE: polling would swallow body messages; only the connection's flag counts.
            return False
        task = self._disconnect_task
        if task is None:
            task = self._disconnect_task = asyncio.ensure_future(conn.receive())
        await asyncio.sleep(0)
        if task.done() and not task.cancelled():
            if task.exception() is None and task.result().get("type") == "http.disconnect":
                return True
            self._disconnect_task = None
        return conn.is_disconnected()

    def holds_resources(self) -> bool:
        """Tell whether ``close()`` has anything to release."""
        return self._form is not None or self._disconnect_task is not None

    async def close(self) -> None:
        """Release what the request holds: uploaded files and pending watchers."""
        task = self._disconnect_task
        if task is not None:
            self._disconnect_task = None
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._form is not None:
            await self._form.close()

    def __repr__(self) -> str:
        return f"Request({self.method} {self.path})"


_UNSET: Any = object()
