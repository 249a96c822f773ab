"""HTTP/1.1 on httptools: strict framing, keep-alive, pipelining, limits and timeouts.

httptools (llhttp) does the byte-level parsing; this module adds what llhttp lets through
(RFC 9112: a missing or repeated Host, transfer codings other than ``chunked``, versions other
than 1.0/1.1, odd request targets), the limits of ``Config`` and the request life cycle.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Final, cast
from urllib.parse import unquote

import httptools

from celeris.server.cycle import RequestCycle, problem_body
from celeris.server.driver import Drivers
from celeris.server.flow import HIGH_WATER_MARK, FlowControl
from celeris.server.head import status_line
from celeris.server.state import ServerState
from celeris.server.websocket import WebSocketProtocol

logger = logging.getLogger("celeris.error")

_VERSIONS: Final = frozenset({"1.1", "1.0"})
_LINE_VERSIONS: Final = {b"HTTP/1.1": "1.1", b"HTTP/1.0": "1.0"}
_FRAMING: Final = frozenset(
    {b"host", b"content-length", b"transfer-encoding", b"expect", b"upgrade"}
)
# RFC 9110 §7.2: Host = uri-host [ ":" port ], with RFC 3986's uri-host: an IP-literal in
# brackets, or a reg-name (an IPv4 address is one) of unreserved, pct-encoded and sub-delims;
# empty when the target has no authority (RFC 9112 §3.2).
_HOST: Final = re.compile(
    rb"(?:\[[0-9A-Za-z:._~!$&'()*+,;=%-]+\]|(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)"
    rb"(?::[0-9]*)?[ \t]*"  # llhttp leaves trailing OWS on a value (RFC 9110 §5.5 drops it)
)
_VALID_HOSTS: Final[set[bytes]] = set()
_VALID_HOSTS_KEPT: Final = 256
_NO_HEADERS: Final[list[tuple[bytes, bytes]]] = []  # shared by idle connections; never appended to
# PERF: the common methods as ready-made str objects.
_METHODS: Final = {
    m.encode(): m for m in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
}


def _ignore(error: BaseException | None) -> None:
    """Nothing to close out: the coroutine closed out its request itself."""


class _Reject(Exception):
    """Raised from a parser callback to answer with ``status`` and close."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class HttpProtocol(asyncio.Protocol):
    """One HTTP/1.1 connection."""

    __slots__ = (
        "active",
        "client",
        "closing",
        "cycle",
        "driving",
        "flow",
        "framing",
        "header_bytes",
        "header_deadline",
        "header_size",
        "headers",
        "host_count",
        "idle_since",
        "in_headers",
        "line_probe",
        "linger_deadline",
        "loop",
        "parser",
        "pending_error",
        "pipeline",
        "probe_at",
        "probe_length",
        "probe_line_end",
        "scheme",
        "server",
        "state",
        "transport",
        "upgrade_cycle",
        "url",
    )

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.loop = asyncio.get_running_loop()
        # PERF: the parser (~1 KiB with its bound callbacks) exists only while a request is
        # being read; idle keep-alive connections drop it (see check_timeouts).
        self.parser: httptools.HttpRequestParser | None = None
        self.transport: asyncio.Transport = None  # type: ignore[assignment]
        self.flow: FlowControl = None  # type: ignore[assignment]
        self.client: tuple[str, int] | None = None
        self.server: tuple[str, int | None] | None = None
        self.scheme = "http"
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.header_size = 0
        self.header_bytes = 0
        self.host_count = 0
        self.framing: dict[bytes, bytes] | None = None
        self.upgrade_cycle: RequestCycle | None = None
        self.in_headers = False
        # The read that holds the current request's line (see on_headers_complete), where in
        # it that line starts, and, once its head is parsed, where that line ends and how long
        # its body is (-1: not known), to find the start of a request pipelined after it.
        self.line_probe: bytes | None = None
        self.probe_at = 0
        self.probe_line_end = -1
        self.probe_length = -1
        self.cycle: RequestCycle | None = None
        self.active: RequestCycle | None = None
        # PERF: a list, not a deque: an empty deque costs ~600 bytes per idle connection.
        self.pipeline: list[RequestCycle] = []
        self.driving = False
        self.closing = False
        self.pending_error: tuple[int, str, tuple[str, str, str]] | None = None
        self.linger_deadline: float | None = None
        self.idle_since: float | None = None
        self.header_deadline: float | None = None

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Set up per-connection state."""
        transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport = transport
        self.flow = FlowControl(transport)
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.client = (str(peer[0]), int(peer[1]))
        sock = transport.get_extra_info("sockname")
        if isinstance(sock, tuple) and len(sock) >= 2:
            # PERF: one shared tuple per listening address, not one per connection.
            self.server = self.state.server_names.setdefault(sock[:2], (str(sock[0]), int(sock[1])))
        elif isinstance(sock, str) and sock:
            self.server = (sock, None)
        if transport.get_extra_info("sslcontext") is not None:
            self.scheme = "https"
        self.state.connections.add(self)
        self.header_deadline = self.loop.time() + self.state.config.timeout_request_header
        # NOTE: even while shutting down, a connection accepted here is served (one request,
        # then closed): closing it unanswered would fail a request during a rolling restart.

    def connection_lost(self, exc: Exception | None) -> None:
        """Tell the app its client is gone."""
        self.closing = True
        self.state.connections.discard(self)
        for cycle in (self.active, *self.pipeline):
            if cycle is not None:
                cycle.disconnected = True
                cycle.wake()
        if self.cycle is not None:
            self.cycle.disconnected = True
            self.cycle.wake()
        self.flow.resume_writing()

    def eof_received(self) -> bool | None:
        """Treat the client's EOF as a disconnect (ASGI apps are told at once)."""
        return None

    def pause_writing(self) -> None:
        """The transport's write buffer is full: make the app wait."""
        self.flow.pause_writing()

    def resume_writing(self) -> None:
        """The transport's write buffer drained."""
        self.flow.resume_writing()

    def data_received(self, data: bytes) -> None:
        """Feed bytes to the parser; answer malformed input with a 4xx and close."""
        if self.closing or self.pending_error is not None:
            return
        try:
            parser = self.parser
            if parser is None:
                parser = self.parser = httptools.HttpRequestParser(self)
            if not self.in_headers and self.cycle is None:
                self.line_probe = data  # this read starts a request: see on_headers_complete
                self.probe_at = 0
                self.probe_line_end = -1
            elif self.line_probe is not None and self.in_headers:
                # A request line split across reads (rare: slow or hostile clients): keep its
                # start so that on_headers_complete checks the whole line all the same.
                probe = self.line_probe
                if len(probe) <= self.state.limit_request_line + 16:
                    self.line_probe = probe + data
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._upgrade(data[exc.args[0] :] if exc.args else b"")
            return
        except httptools.HttpParserCallbackError as exc:
            reason = exc.__context__
            if isinstance(reason, _Reject):
                self._reject(reason.status, reason.detail)
            else:
                logger.error("Error while handling a request", exc_info=reason)
                self._reject(500, "Internal Server Error")
            return
        except httptools.HttpParserError as exc:
            detail = exc.args[0] if exc.args else "malformed request"
            self._reject(400, f"Malformed HTTP request: {detail}")
            return
        if not self.in_headers:
            self.line_probe = None  # NOTE: a read that ends mid-head keeps it for the next
        if self.pipeline and self.active is None and not self.driving:
            # PERF/SAFETY: apps run only after a whole read was parsed without error, never
            # inside parser callbacks; a request whose body is malformed never reaches the app.
            self._run_pipeline()
        if self.in_headers:
            # A head still incomplete after this read: count it, and start its timer.
            self.header_bytes += len(data)
            state = self.state
            if self.header_bytes > state.limit_request_line + state.limit_request_headers + 4:
                self._reject(431, "Request header block too large")
            elif self.header_deadline is None:
                # PERF: not in on_message_begin: a head that arrives in one read (most do)
                # is complete before any timer could look at it.
                self.header_deadline = self.loop.time() + state.config.timeout_request_header

    # --- httptools callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        """Start a new request."""
        self.url = b""
        self.headers = []
        self.header_size = 0
        self.header_bytes = 0
        self.host_count = 0
        self.framing = None
        self.in_headers = True
        self.idle_since = None
        if self.probe_line_end >= 0 and self.line_probe is not None:
            # A request pipelined after another in the same read: it starts where the one
            # before it ends (llhttp wants CRLF line ends, so that head ends at the first empty
            # line after its request line; its body is exactly its Content-Length).
            head_end = self.line_probe.find(b"\r\n\r\n", self.probe_line_end)
            if head_end == -1 or self.probe_length < 0:
                self.line_probe = None  # e.g. after a chunked body: this line goes unchecked
            else:
                self.probe_at = head_end + 4 + self.probe_length
        self.probe_line_end = -1
        # NOTE: the header timer starts in data_received, and only for a head still
        # incomplete at the end of a read (the loop's clock reads the same within one read).

    def on_url(self, url: bytes) -> None:
        """Collect the request target."""
        self.url += url
        if len(self.url) > self.state.limit_request_line:
            raise _Reject(414, "Request line too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        """Collect one header field; trailer fields after the body are dropped."""
        if not self.in_headers:
            return  # NOTE: chunked trailers are ignored safely, never merged into headers.
        state = self.state
        self.header_size += len(name) + len(value) + 4
        if self.header_size > state.limit_request_headers:
            raise _Reject(431, "Request header fields too large")
        headers = self.headers
        if len(headers) >= state.limit_request_fields:
            raise _Reject(431, "Too many request header fields")
        name = name.lower()
        # PERF: one set lookup per header; only framing headers are looked at here (the app
        # parses the rest lazily), and they go to a dict made only when one is present.
        if name in _FRAMING:
            if name == b"host":
                self.host_count += 1
                # SECURITY: a Host that is not uri-host[:port] ("exa mple.org", "a/b", "a@b")
                # is refused here, for the fast lane and ASGI apps alike: apps build URLs and
                # pick virtual hosts from it. PERF: the regex match cost ~6,200 instructions a
                # request (callgrind, bench/hotpath.py), the set lookup ~500; a server sees a
                # handful of Host values, so the valid ones are remembered (a bounded set:
                # rotating Hosts cannot grow it without end).
                if value not in _VALID_HOSTS:
                    if _HOST.fullmatch(value) is None:
                        raise _Reject(400, "Invalid Host header")
                    if len(_VALID_HOSTS) < _VALID_HOSTS_KEPT:
                        _VALID_HOSTS.add(value)
            else:
                framing = self.framing
                if framing is None:
                    framing = self.framing = {}
                if name in framing:
                    framing[b"duplicate-" + name] = value
                framing[name] = value
        headers.append((name, value))

    def on_headers_complete(self) -> None:
        """Validate the framing and start (or queue) the request."""
        self.in_headers = False
        self.header_deadline = None
        if self.closing:
            return
        parser = self.parser
        assert parser is not None
        raw_method = parser.get_method()
        version: str | None = None
        probe = self.line_probe
        line_end = -1
        if probe is not None:
            # SECURITY: llhttp accepts extra spaces in the request line ("GET  / HTTP/1.1")
            # and protocols other than HTTP ("RTSP/1.0"); RFC 9112 allows exactly one SP
            # between the parts. Each request line is checked here: from the read it starts
            # (data_received keeps the start of one split across reads), or for a request
            # pipelined after another in one read, from where that one ended (after a chunked
            # body, which is not measured here, the line goes unchecked).
            # PERF: inline, once per request; llhttp parsed the method, the target and the
            # version out of this line: if it is exactly as long as those three with two
            # separators, and both separators are SP, it is well-formed, and its last 8 bytes
            # are the version llhttp read (the two usual ones map straight to their str).
            start = self.probe_at
            # PERF: lstrip copies the whole read and most reads need none; a tuple, not
            # ``in b"\r\n"`` (see the target check below).
            if probe[start : start + 1] in (b"\r", b"\n"):
                start = len(probe) - len(probe[start:].lstrip(b"\r\n"))
            cut = start + len(raw_method)
            # NOTE: a line not found where it should start (never seen) is left unchecked.
            if not start or probe[start:cut] == raw_method:
                line_end = cut + len(self.url) + 10  # "HTTP/1.x" is 8 bytes, plus two SP
                # PERF: where a well-formed line ends; find() (~1,000 Ir) only when it does not.
                if probe[line_end : line_end + 2] != b"\r\n":
                    line_end = probe.find(b"\r\n", start)
                    if line_end != -1:
                        raise self._bad_request_line()
            if line_end != -1:
                if probe[cut] != 32 or probe[line_end - 9] != 32:
                    raise self._bad_request_line()
                version = _LINE_VERSIONS.get(probe[line_end - 8 : line_end])
                if version is None:
                    # llhttp also takes RTSP/1.0 and ICE/1.0 (and any HTTP major/minor).
                    protocol = probe[line_end - 8 : line_end].decode("latin-1")
                    raise _Reject(400, f"Unsupported protocol version {protocol!r}")
        if version is None:
            # PERF: only when the request line was not in one read: httptools formats a new
            # str for the version on every call.
            version = parser.get_http_version()
            if version not in _VERSIONS:
                raise _Reject(400, f"Unsupported HTTP version {version!r}")
        method = _METHODS.get(raw_method) or raw_method.decode("ascii")
        if self.host_count != 1 and (version == "1.1" or self.host_count > 1):
            raise _Reject(
                400, "Missing Host header" if not self.host_count else "Duplicate Host header"
            )
        chunked = False
        length = 0
        expect_100 = False
        upgrade_value: bytes | None = None
        framing = self.framing
        if framing is not None:
            te = framing.get(b"transfer-encoding")
            if te is not None:
                if version == "1.0":
                    raise _Reject(400, "Transfer-Encoding is not allowed in HTTP/1.0")
                if b"duplicate-transfer-encoding" in framing:
                    raise _Reject(400, "Repeated Transfer-Encoding")
                if te.strip().lower() != b"chunked":
                    raise _Reject(501, "Unsupported Transfer-Encoding")
                chunked = True
            content_length = framing.get(b"content-length")
            if content_length is not None:
                length = int(content_length)  # llhttp rejected anything but digits
                limit = self.state.limit_request_body
                if limit and length > limit:
                    raise _Reject(413, "Request body too large")
            expect = framing.get(b"expect")
            if expect is not None:
                if expect.lower() != b"100-continue":
                    raise _Reject(417, "Unsupported expectation")
                expect_100 = version == "1.1" and (length > 0 or chunked)
            upgrade_value = framing.get(b"upgrade")
        if line_end != -1 and not chunked:
            self.probe_line_end = line_end  # see on_message_begin
            self.probe_length = length
        else:
            self.line_probe = None
        url = self.url
        if url[:1] == b"/":
            raw_path, _, query = url.partition(b"?")
        elif url == b"*" and method == "OPTIONS":
            raw_path, query = b"*", b""
        elif url[:7].lower() == b"http://" or url[:8].lower() == b"https://":
            try:
                parsed = httptools.parse_url(url)
            except httptools.HttpParserInvalidURLError:
                raise _Reject(400, "Invalid request target") from None
            raw_path = parsed.path or b"/"
            query = parsed.query or b""
        else:
            raise _Reject(400, "Invalid request target")
        # PERF: the checks run on the decoded str: on CPython 3.11 ``bytes in bytes`` first
        # tries the needle as an int and builds (then drops) a TypeError, ~1,800 Ir each.
        text = raw_path.decode("latin-1")
        if "#" in text:
            raise _Reject(400, "Invalid request target")
        # PERF: most paths hold no escapes; skip unquote for them.
        path = unquote(text) if "%" in text else text
        upgrade = upgrade_value is not None and parser.should_upgrade()
        websocket = upgrade and method == "GET" and (upgrade_value or b"").lower() == b"websocket"
        state = self.state
        cycle = RequestCycle(
            self,
            method,
            version,
            path,
            raw_path,
            query,
            parser.should_keep_alive() and not state.shutting_down and not upgrade,
            length > 0 or chunked,
            expect_100,
        )
        if state.proxy is not None:
            cycle.client, cycle.scheme = state.proxy.resolve(
                cycle.client, cycle.scheme, cycle.headers
            )
        if websocket:
            self.upgrade_cycle = cycle
            return  # data_received takes over on HttpParserUpgrade
        self.cycle = cycle if cycle.more_body else None
        self.pipeline.append(cycle)
        if self.active is not None:
            self.flow.pause_reading()  # PERF: do not buffer an unbounded pipeline

    def _bad_request_line(self) -> _Reject:
        version = self.parser.get_http_version() if self.parser is not None else ""
        if version not in _VERSIONS:  # the error the version check before it would give
            return _Reject(400, f"Unsupported HTTP version {version!r}")
        return _Reject(400, "Malformed request line")

    def on_body(self, body: bytes) -> None:
        """Hand body bytes to the request they belong to."""
        cycle = self.cycle
        if cycle is None:
            return
        cycle.body_size += len(body)
        limit = self.state.limit_request_body
        if limit and cycle.body_size > limit:
            raise _Reject(413, "Request body too large")
        if cycle.response_complete or cycle.disconnected:
            return  # NOTE: the app answered without reading; drain and drop the rest.
        cycle.body.append(body)
        if cycle.body_size > HIGH_WATER_MARK and sum(map(len, cycle.body)) > HIGH_WATER_MARK:
            self.flow.pause_reading()
        if cycle.waiter is not None:  # PERF: no call when the app is not waiting yet
            cycle.wake()

    def on_message_complete(self) -> None:
        """Mark the end of the current request's body."""
        cycle = self.cycle
        if cycle is not None:
            self.cycle = None
            cycle.more_body = False
            if cycle.waiter is not None:  # PERF: no call when the app is not waiting yet
                cycle.wake()

    # --- running requests ---------------------------------------------------------------

    def _run_pipeline(self) -> None:
        # NOTE: iterative on purpose: a pipelined burst of requests that all finish without
        # suspending must not recurse once per request.
        self.driving = True
        state = self.state
        try:
            while self.active is None and self.pipeline and not self.closing:
                cycle = self.pipeline.pop(0)
                if self.flow.read_paused and not self.pipeline and self.cycle is None:
                    self.flow.resume_reading()
                # PERF: starting the request, inlined (once per request).
                self.active = cycle
                state.inflight += 1
                state.total_requests += 1
                if state.max_requests is not None:
                    state.count_request()
                drivers = state.drivers
                if drivers is None:
                    drivers = state.drivers = Drivers(self.loop)
                # NOTE: every handler runs in a real Task, on the fast lane too
                # (asyncio.timeout(), TaskGroup and anyio cancel scopes need one from a
                # handler's first line), but not in a new Task per request: see
                # celeris.server.driver. Each request gets its own copy of the context.
                fast = state.fast
                context = state.base_context.copy()
                if state.limit_concurrency is not None and state.inflight > state.limit_concurrency:
                    busy = cycle.run_status(503, "Server is over its concurrency limit")
                    drivers.start(busy, context, _ignore)
                elif fast is None:
                    drivers.start(cycle.run_asgi(state.app), context, _ignore)
                else:
                    drivers.start(fast(cycle), context, cycle.finish_fast)
        finally:
            self.driving = False

    def on_response_complete(self, cycle: RequestCycle) -> None:
        """Log the response; close now if the connection will not be reused."""
        log = self.state.access_log
        if log is not None and log.enabled():
            target = cycle.raw_path.decode("latin-1")
            if cycle.query_string:
                target += "?" + cycle.query_string.decode("latin-1")
            log.log(
                cycle.client,
                cycle.method,
                target,
                cycle.http_version,
                cycle.status,
                cycle.sent_length,
            )
        if cycle.more_body and cycle.expect_100:
            cycle.keep_alive = False  # the client never got 100 Continue; its body may not come
        if not cycle.keep_alive and not self.closing:
            self.closing = True
            if cycle.more_body:
                self._linger()  # its body is still coming: a close now would reset it
            else:
                self.transport.close()

    def on_cycle_done(self, cycle: RequestCycle) -> None:
        """Move on to the next pipelined request, or start the keep-alive clock."""
        self.state.inflight -= 1
        self.active = None
        if self.closing:
            return
        if self.pending_error is not None and not self.pipeline:
            status, detail, request = self.pending_error
            self._send_error(status, detail, request)
            return
        if self.cycle is cycle:
            self.flow.resume_reading()  # its unread body still arrives: read it and drop it
        if self.pipeline:
            if not self.driving:
                self._run_pipeline()
        else:
            self.idle_since = self.loop.time()
            if self.cycle is None and not self.in_headers:
                # PERF: nothing of the last request stays with an idle connection (its header
                # list was the cycle's; the parser goes at the next tick, see check_timeouts).
                self.headers = _NO_HEADERS
                self.url = b""
                self.framing = None

    def _upgrade(self, rest: bytes) -> None:
        cycle = self.upgrade_cycle
        self.upgrade_cycle = None
        if cycle is None or self.active is not None or self.pipeline:
            self._reject(400, "Unsupported upgrade request")
            return
        self.state.connections.discard(self)
        self.closing = True  # this object is done; the WebSocket protocol owns the transport
        ws = WebSocketProtocol(self.state, cycle, self.transport)
        self.transport.set_protocol(ws)
        ws.start(rest)

    # --- errors and timeouts ------------------------------------------------------------

    def _reject(self, status: int, detail: str) -> None:
        if self.closing:
            return
        request = self._request_of(self.cycle)  # for the access log, before the state goes
        self.in_headers = False
        self.flow.pause_reading()
        bad = self.cycle
        self.cycle = None
        if bad is not None:
            bad.disconnected = True  # the app must not answer (or keep reading) a bad request
            bad.wake()
            if bad.response_complete:
                # Its answer went out already (the app did not read the body it is draining):
                # a second answer would be one the client never asked for. Just close.
                self.closing = True
                self._linger()
                return
            if bad in self.pipeline:
                self.pipeline.remove(bad)  # never started: it never reaches the app
            elif bad is self.active and bad.response_started:
                self.closing = True  # mid-response: all we can do is close
                self.transport.close()
                return
        if (self.active is not None and self.active is not bad) or self.pipeline:
            # Answer the good requests queued before the bad one first.
            self.pending_error = (status, detail, request)
            if self.active is None:
                self._run_pipeline()
            return
        self._send_error(status, detail, request)

    def _request_of(self, cycle: RequestCycle | None) -> tuple[str, str, str]:
        """Return the method, target and version of the request being read ("-" if unknown)."""
        if cycle is not None:
            target = cycle.raw_path.decode("latin-1")
            if cycle.query_string:
                target += "?" + cycle.query_string.decode("latin-1")
            return cycle.method, target, cycle.http_version
        parser = self.parser
        if parser is None or not self.url:  # NOTE: llhttp reports DELETE before any method
            return "-", "-", "-"
        version = parser.get_http_version()
        return (
            parser.get_method().decode("latin-1"),
            self.url.decode("latin-1"),
            "-" if version == "0.0" else version,
        )

    def _send_error(
        self, status: int, detail: str, request: tuple[str, str, str] | None = None
    ) -> None:
        body = problem_body(status, detail)
        head = b"".join(
            (
                status_line(status),
                self.state.headers.line,
                b"content-type: application/problem+json\r\n",
                b"content-length: %d\r\n" % len(body),
                b"connection: close\r\n\r\n",
            )
        )
        self.closing = True
        self.transport.write(head + body)
        self._linger()
        log = self.state.access_log
        if log is not None and log.enabled():
            method, target, version = request or self._request_of(None)
            log.log(self.client, method, target, version, status, len(body))

    def _linger(self) -> None:
        """Close after an answer while the client may still be sending (nginx's lingering close).

        Closing a socket with unread data makes the kernel send RST, and a client that gets it
        while still sending its body may never read the answer (ECONNRESET instead of a 413).
        So: send FIN after the answer, keep reading and dropping what arrives, and close at the
        client's EOF or after ``--timeout-linger``.
        """
        transport = self.transport
        if transport.is_closing():
            return
        if transport.can_write_eof():
            transport.write_eof()
        self.linger_deadline = self.loop.time() + self.state.config.timeout_linger
        self.flow.resume_reading()  # data_received drops everything once closing

    def check_timeouts(self, now: float) -> None:
        """Drop the connection if its header, keep-alive or lingering timer has run out."""
        if self.closing:
            linger = self.linger_deadline
            if linger is not None and now >= linger:
                self.linger_deadline = None
                self.transport.close()
            return
        deadline = self.header_deadline
        if deadline is not None and now >= deadline and self.active is None and not self.pipeline:
            if self.in_headers:
                self._send_error(408, "Request header timeout")
            else:
                self.closing = True
                self.transport.close()
            return
        idle = self.idle_since
        if idle is not None:
            if now - idle >= self.state.config.timeout_keep_alive:
                self.closing = True
                self.transport.close()
            elif self.parser is not None and not self.in_headers and self.cycle is None:
                # PERF: an idle keep-alive connection keeps no parser and no request data.
                self.parser = None
                self.headers = _NO_HEADERS
                self.url = b""

    def shutdown(self, force: bool = False) -> None:
        """Finish the requests already received, then close.

        A connection that has not finished sending its first request is left alone unless
        ``force``: its request may already be on the wire (rolling restarts lose nothing).
        An idle keep-alive connection is left to its keep-alive timer: closing it now could
        cross a request already on its way (a proxy cannot safely retry a POST it sent on a
        connection that was reset); a request that comes is answered with ``connection: close``.
        """
        if self.active is None and not self.pipeline:
            if self.idle_since is not None and not self.closing:
                return
            fresh = self.idle_since is None and (self.in_headers or self.parser is None)
            if fresh and not force:
                return
            if not self.closing or (force and self.linger_deadline is not None):
                self.closing = True
                self.linger_deadline = None
                self.transport.close()
            return
        for cycle in (self.active, *self.pipeline):
            if cycle is not None:
                cycle.keep_alive = False

    def is_idle(self) -> bool:
        """Tell whether no request is in flight on this connection."""
        return self.active is None and not self.pipeline
