"""ASGI 3 types and the fast-lane protocol: the only module the core and the server share.

The server never imports ``celeris.core`` and the core never imports ``celeris.server``.
A celeris ``App`` is a plain ASGI 3 application; it *also* offers the fast lane below, which
the server discovers with ``fast_lane_of(app)`` and uses instead of ASGI for HTTP requests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any, Literal, NotRequired, Protocol, TypedDict, runtime_checkable

# --- ASGI 3 -----------------------------------------------------------------------------------

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

RawHeaders = list[tuple[bytes, bytes]]


class CheckedHeader(tuple[bytes, bytes]):
    """A raw response header pair known to hold no CR or LF: the server does not scan it.

    ``CheckedHeader((name, value))`` checks the pair once (``ValueError`` on a CR or LF).
    celeris makes them at start-up for the constant headers it validated (a step's
    ``headers``) and per request only for values it built from safe characters; the
    server's scan of the response head runs only when some header is not one.
    PERF: that scan (two counts over the whole head) is ~3,000 instructions per response.
    """

    __slots__ = ()

    def __new__(cls, pair: tuple[bytes, bytes]) -> CheckedHeader:
        name, value = pair
        if not isinstance(name, bytes) or not isinstance(value, bytes):
            raise TypeError("a header name and value are bytes")
        # SECURITY: a CR or LF would split the response head. NOTE: bytes.find, not
        # ``in``: on CPython 3.11 ``in`` on bytes first tries the needle as an int.
        for part in (name, value):
            if part.find(b"\r") >= 0 or part.find(b"\n") >= 0:
                raise ValueError(f"header {name!r}: a name or value holds CR or LF")
        return tuple.__new__(cls, (name, value))


class ASGIVersions(TypedDict):
    spec_version: str
    version: Literal["3.0"]


class HTTPScope(TypedDict):
    type: Literal["http"]
    asgi: ASGIVersions
    http_version: str
    method: str
    scheme: str
    path: str
    raw_path: bytes
    query_string: bytes
    root_path: str
    headers: Iterable[tuple[bytes, bytes]]
    client: tuple[str, int] | None
    server: tuple[str, int | None] | None
    state: NotRequired[dict[str, Any]]
    extensions: NotRequired[dict[str, dict[object, object]]]


class WebSocketScope(TypedDict):
    type: Literal["websocket"]
    asgi: ASGIVersions
    http_version: str
    scheme: str
    path: str
    raw_path: bytes
    query_string: bytes
    root_path: str
    headers: Iterable[tuple[bytes, bytes]]
    client: tuple[str, int] | None
    server: tuple[str, int | None] | None
    subprotocols: Iterable[str]
    state: NotRequired[dict[str, Any]]
    extensions: NotRequired[dict[str, dict[object, object]]]


class LifespanScope(TypedDict):
    type: Literal["lifespan"]
    asgi: ASGIVersions
    state: NotRequired[dict[str, Any]]


class HTTPRequestEvent(TypedDict):
    type: Literal["http.request"]
    body: bytes
    more_body: bool


class HTTPDisconnectEvent(TypedDict):
    type: Literal["http.disconnect"]


class HTTPResponseStartEvent(TypedDict):
    type: Literal["http.response.start"]
    status: int
    headers: NotRequired[Iterable[tuple[bytes, bytes]]]
    trailers: NotRequired[bool]


class HTTPResponseBodyEvent(TypedDict):
    type: Literal["http.response.body"]
    body: bytes
    more_body: NotRequired[bool]


class WebSocketConnectEvent(TypedDict):
    type: Literal["websocket.connect"]


class WebSocketAcceptEvent(TypedDict):
    type: Literal["websocket.accept"]
    subprotocol: NotRequired[str | None]
    headers: NotRequired[Iterable[tuple[bytes, bytes]]]


class WebSocketReceiveEvent(TypedDict):
    type: Literal["websocket.receive"]
    bytes: NotRequired[bytes | None]
    text: NotRequired[str | None]


class WebSocketSendEvent(TypedDict):
    type: Literal["websocket.send"]
    bytes: NotRequired[bytes | None]
    text: NotRequired[str | None]


class WebSocketDisconnectEvent(TypedDict):
    type: Literal["websocket.disconnect"]
    code: int
    reason: NotRequired[str | None]


class WebSocketCloseEvent(TypedDict):
    type: Literal["websocket.close"]
    code: NotRequired[int]
    reason: NotRequired[str | None]


# --- the fast lane ----------------------------------------------------------------------------
#
# PERF: for each HTTP request the server hands the app one object it already owns (its
# per-request cycle, with __slots__) instead of building a scope dict and exchanging
# receive/send message dicts. A one-shot response is one ``respond()`` call that the server
# turns into a single transport write. Streaming bodies still use ASGI-shaped ``send``.


@runtime_checkable
class FastRequest(Protocol):
    """One HTTP request as the server holds it; what the fast lane hands the app.

    Attribute meanings are exactly those of the ASGI HTTP scope keys of the same name.
    ``headers`` are the raw header pairs in order, names lower-cased.
    """

    scheme: str
    method: str
    http_version: str
    path: str
    raw_path: bytes
    root_path: str
    query_string: bytes
    headers: RawHeaders
    client: tuple[str, int] | None
    server: tuple[str, int | None] | None
    state: dict[str, Any]

    async def receive(self) -> Message:
        """Return the next ``http.request`` or ``http.disconnect`` message (ASGI semantics)."""
        ...

    async def send(self, message: Message) -> None:
        """Send one ``http.response.start`` / ``http.response.body`` message (ASGI semantics)."""
        ...

    async def respond(self, status: int, headers: RawHeaders, body: bytes) -> None:
        """Send a whole response at once: status, headers (without Date/Server), body.

        Equivalent to ``http.response.start`` then one final ``http.response.body``. The
        server adds ``Date``, ``Server`` and, when absent, ``Content-Length``; it omits the
        body for HEAD requests. Must not be mixed with ``send`` on the same request.
        """
        ...

    def is_disconnected(self) -> bool:
        """Tell whether the client has gone away."""
        ...


FastHandler = Callable[[FastRequest], Awaitable[None]]


@runtime_checkable
class FastLaneApp(Protocol):
    """An ASGI app that can also take HTTP requests on the fast lane."""

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]: ...

    def fast_lane(self) -> FastHandler | None:
        """Return the HTTP handler to call instead of ASGI, or None to use plain ASGI.

        Called once by the server after lifespan startup; the handler must behave exactly
        as the app does over ASGI for the same request.
        """
        ...


def fast_lane_of(app: object) -> FastHandler | None:
    """Return the fast-lane handler of ``app`` if it offers one."""
    if isinstance(app, FastLaneApp):
        return app.fast_lane()
    return None
