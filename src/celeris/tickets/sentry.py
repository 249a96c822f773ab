"""A Sentry-compatible endpoint: Sentry SDKs send their events here, and they become tickets.

``POST {sentry_path}/api/<project_id>/envelope/`` takes the envelope format (a JSON header line,
then items: a JSON item header line and its payload); ``.../store/`` takes the legacy single
JSON event. Both authenticate with the DSN's public key (``X-Sentry-Auth: Sentry sentry_key=``
or ``?sentry_key=``). Moving to a real Sentry later is a DSN change.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import re
import urllib.parse
import zlib
from typing import TYPE_CHECKING, Any

import msgspec

from celeris.core.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UnsupportedMediaType,
)
from celeris.core.requests import Request
from celeris.core.responses import JSONResponse, Response
from celeris.tickets.base import Ticket
from celeris.tickets.capture import fingerprint, new_id
from celeris.tickets.redact import Redactor

if TYPE_CHECKING:
    from celeris.tickets.tickets import Tickets

__all__ = ["BadEnvelope", "SentryEndpoint", "event_ticket", "parse_envelope"]

_MAX_ITEMS = 100
_MAX_FRAMES = 100
_MAX_EXPANDED = 20 * 1_048_576  # a decompressed body past this is refused (no zip bombs)
_EVENT_ID = re.compile(r"^[0-9a-f]{32}$")
_DIGITS = re.compile(r"\d+")
_EVENT_ITEMS = frozenset({"event", "error"})


class BadEnvelope(ValueError):
    """The body is not a Sentry envelope or event; the message says what is wrong."""


def _json(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError as error:
        raise BadEnvelope(f"{what} is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise BadEnvelope(f"{what} is not a JSON object")
    return value


def parse_envelope(body: bytes) -> tuple[dict[str, Any], list[tuple[dict[str, Any], bytes]]]:
    """Split an envelope into its header and its ``(item header, payload)`` pairs."""
    end = body.find(b"\n")
    end = len(body) if end < 0 else end
    header = _json(body[:end], "the envelope header")
    items: list[tuple[dict[str, Any], bytes]] = []
    position = end + 1
    while position < len(body):
        end = body.find(b"\n", position)
        end = len(body) if end < 0 else end
        line = body[position:end]
        position = end + 1
        if not line.strip():
            continue
        item_header = _json(line, f"item header {len(items) + 1}")
        length = item_header.get("length")
        if length is None:
            end = body.find(b"\n", position)
            end = len(body) if end < 0 else end
            payload, position = body[position:end], end + 1
        else:
            if isinstance(length, bool) or not isinstance(length, int) or length < 0:
                raise BadEnvelope(f"item {len(items) + 1}: length must be a non-negative integer")
            payload = body[position : position + length]
            if len(payload) < length:
                raise BadEnvelope(f"item {len(items) + 1}: the body ends before its length")
            position += length
            if body[position : position + 1] == b"\n":
                position += 1
        items.append((item_header, payload))
        if len(items) > _MAX_ITEMS:
            raise BadEnvelope(f"an envelope holds at most {_MAX_ITEMS} items")
    return header, items


def _text(value: Any, limit: int = 2000) -> str:
    if value is None:
        return ""
    return (value if isinstance(value, str) else str(value))[:limit]


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _moment(value: Any, received: datetime.datetime) -> datetime.datetime:
    moment: datetime.datetime | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            moment = datetime.datetime.fromtimestamp(value, datetime.UTC)
        except (OverflowError, OSError, ValueError):
            moment = None
    elif isinstance(value, str):
        try:
            moment = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is None:
            moment = moment.replace(tzinfo=datetime.UTC)
    # NOTE: a client's clock is not trusted into the future (it would pin a group on top).
    if moment is None or moment > received:
        return received
    return moment


def _frames(stacktrace: Any, redactor: Redactor) -> list[dict[str, Any]]:
    raw = _mapping(stacktrace).get("frames")
    if not isinstance(raw, list):
        return []
    frames = []
    for item in raw[-_MAX_FRAMES:]:
        frame = _mapping(item)
        lineno = frame.get("lineno")
        lineno = lineno if isinstance(lineno, int) and not isinstance(lineno, bool) else 0
        before = [line for line in frame.get("pre_context") or () if isinstance(line, str)]
        after = [line for line in frame.get("post_context") or () if isinstance(line, str)]
        lines = [*before, _text(frame.get("context_line"), 240), *after] if lineno else []
        first = lineno - len(before)
        variables = _mapping(frame.get("vars"))
        frames.append(
            {
                "filename": _text(frame.get("abs_path") or frame.get("filename"), 500),
                "module": _text(frame.get("module"), 300) or None,
                "lineno": lineno,
                "function": _text(frame.get("function"), 300),
                "context_lines": [
                    {"lineno": first + index, "line": redactor.text(_text(line, 240))}
                    for index, line in enumerate(lines)
                ],
                "locals": {
                    str(name)[:100]: redactor.text(_text(redactor.value(name, value), 512))
                    for name, value in list(variables.items())[:40]
                },
                "in_app": bool(frame.get("in_app")),
            }
        )
    return frames


def _request(raw: Any, redactor: Redactor) -> dict[str, Any] | None:
    request = _mapping(raw)
    if not request:
        return None
    url = urllib.parse.urlsplit(_text(request.get("url"), 2000))
    query_string = request.get("query_string")
    if isinstance(query_string, str):
        pairs = urllib.parse.parse_qsl(query_string, keep_blank_values=True)
    elif isinstance(query_string, list):
        pairs = [
            (_text(p[0]), _text(p[1])) for p in query_string if isinstance(p, list) and len(p) == 2
        ]
    else:
        pairs = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
    headers_raw = request.get("headers")
    pairs_h: list[tuple[Any, Any]] = (
        list(headers_raw.items())
        if isinstance(headers_raw, dict)
        else [tuple(p) for p in headers_raw or () if isinstance(p, list) and len(p) == 2]
    )
    headers = {_text(k, 200): redactor.header(_text(k, 200), _text(v)) for k, v in pairs_h[:100]}
    env = _mapping(request.get("env"))
    path = redactor.text(url.path or "/")
    query = [[key, redactor.value(key, value)] for key, value in pairs[:100]]
    encoded = urllib.parse.urlencode([(key, str(value)) for key, value in query])
    shown: dict[str, Any] = {
        "method": _text(request.get("method"), 20).upper() or None,
        "path": path,
        "url": f"{path}?{encoded}" if encoded else path,
        "query": query,
        "headers": headers,
        "client": _text(env.get("REMOTE_ADDR"), 100) or None,
        "route": None,
    }
    if "data" in request:
        shown["data"] = redactor.value(None, request["data"])
    return shown


def event_ticket(event: dict[str, Any], redactor: Redactor, received: datetime.datetime) -> Ticket:
    """Return the ticket of one Sentry event (an error, or a captured message)."""
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    values = values if isinstance(values, list) else []
    primary = _mapping(values[-1]) if values else {}  # NOTE: Sentry lists the raised one last
    if primary:
        name = _text(primary.get("type"), 200) or "Error"
        module = _text(primary.get("module"), 200)
        exc_type = f"{module}.{name}" if module and module != "builtins" else name
        message = _text(primary.get("value"))
        frames = _frames(primary.get("stacktrace"), redactor)
    else:
        logentry = event.get("logentry") or event.get("message")
        if isinstance(logentry, dict):
            logentry = logentry.get("formatted") or logentry.get("message")
        exc_type = "Message"
        message = _text(logentry) or "(no message)"
        frames = _frames(event.get("stacktrace"), redactor)
    message = redactor.text(message)
    custom = event.get("fingerprint")
    if (
        isinstance(custom, list)
        and custom
        and all(isinstance(part, str) for part in custom)
        and custom != ["{{ default }}"]
    ):
        key = hashlib.sha256("\n".join(["sentry", *custom]).encode()).hexdigest()
    elif frames:
        key = fingerprint(exc_type, frames)
    else:
        key = hashlib.sha256(f"{exc_type}\n{_DIGITS.sub('0', message)}".encode()).hexdigest()
    event_id = _text(event.get("event_id"), 64).replace("-", "").lower()
    user = redactor.value(None, event["user"]) if isinstance(event.get("user"), dict) else None
    route = _text(event.get("transaction"), 500) or None
    request = _request(event.get("request"), redactor)
    if request is not None:
        request["route"] = route
    return Ticket(
        id=event_id if _EVENT_ID.match(event_id) else new_id(),
        group_id=key[:32],
        created=_moment(event.get("timestamp"), received),
        exc_type=exc_type,
        message=message,
        frames=frames,
        request=request,
        user=user if isinstance(user, dict) else None,
        release=_text(event.get("release"), 200) or None,
        route=route,
        fingerprint=key,
        source="sentry",
    )


def _sentry_auth(header: str) -> dict[str, str]:
    """Read ``Sentry sentry_key=..., sentry_version=7`` into a dict."""
    value = header.strip()
    if value[:7].lower() == "sentry ":
        value = value[7:]
    found = {}
    for part in value.split(","):
        name, _, item = part.strip().partition("=")
        if name:
            found[name.strip().lower()] = item.strip()
    return found


def _expand(body: bytes, encoding: str) -> bytes:
    """Undo ``Content-Encoding`` (gzip, deflate, br), refusing what expands past the limit."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding in ("gzip", "x-gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
        try:
            inflater = zlib.decompressobj(wbits)
            expanded = inflater.decompress(body, _MAX_EXPANDED + 1)
        except zlib.error as error:
            raise BadEnvelope(f"the {encoding} body cannot be decompressed: {error}") from None
        if len(expanded) > _MAX_EXPANDED or inflater.unconsumed_tail:
            raise PayloadTooLarge(f"the body expands past {_MAX_EXPANDED} bytes")
        return expanded
    if encoding == "br":
        try:
            import brotli
        except ImportError:
            raise UnsupportedMediaType(
                "a br-encoded body needs brotli: pip install 'celeris[brotli]'"
            ) from None
        decompressor = brotli.Decompressor()
        try:
            expanded = decompressor.process(body, output_buffer_limit=_MAX_EXPANDED + 1)
        except brotli.error as error:
            raise BadEnvelope(f"the br body cannot be decompressed: {error}") from None
        if len(expanded) > _MAX_EXPANDED or not decompressor.is_finished():
            raise PayloadTooLarge(f"the body expands past {_MAX_EXPANDED} bytes (or is cut)")
        return bytes(expanded)
    raise UnsupportedMediaType(
        f"Content-Encoding {encoding!r} is not supported (gzip, deflate, br)"
    )


class SentryEndpoint:
    """The envelope and store routes of one ``Tickets``."""

    def __init__(self, tickets: Tickets) -> None:
        self.tickets = tickets

    def install(self, app: Any) -> None:
        """Add the two routes (no OpenAPI entry, no CSRF: SDKs authenticate with the key)."""
        prefix = "/" + (self.tickets.sentry_path or "").strip("/")
        base = prefix.rstrip("/") + "/api/{project_id}"
        for suffix, endpoint in (("/envelope/", self.envelope), ("/store/", self.store)):
            app.add_route(
                base + suffix,
                endpoint,
                methods=["POST"],
                include_in_schema=False,
                csrf_exempt=True,
                name=f"tickets_sentry_{suffix.strip('/')}",
            )

    def _check(self, request: Request, header_dsn: Any = None) -> None:
        if str(request.path_params.get("project_id")) != str(self.tickets.project_id):
            raise NotFound(f"no Sentry project {request.path_params.get('project_id')!r} here")
        key = _sentry_auth(request.headers.get("x-sentry-auth", "")).get("sentry_key")
        key = key or request.query_params.get("sentry_key")
        if not key and isinstance(header_dsn, str):
            key = urllib.parse.urlsplit(header_dsn).username
        if not key:
            raise Unauthorized(
                "missing the DSN key: send X-Sentry-Auth: Sentry sentry_key=... or ?sentry_key=",
                headers={"www-authenticate": "Sentry"},
            )
        if not hmac.compare_digest(key.encode(), self.tickets.sentry_key.encode()):
            raise Forbidden("this DSN key is not accepted here")

    async def _body(self, request: Request) -> bytes:
        limit = self.tickets.max_envelope
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise PayloadTooLarge(f"a Sentry body is at most {limit} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"a Sentry body is at most {limit} bytes")
            chunks.append(chunk)
        return _expand(b"".join(chunks), request.headers.get("content-encoding", ""))

    async def envelope(self, request: Request) -> Response:
        """Take an envelope: each event item becomes a ticket; other items are accepted."""
        has_key = "x-sentry-auth" in request.headers or "sentry_key" in request.query_params
        if has_key:
            self._check(request)
        try:
            header, items = parse_envelope(await self._body(request))
            if not has_key:
                self._check(request, header.get("dsn"))
            received = datetime.datetime.now(datetime.UTC)
            tickets = [
                event_ticket(_json(payload, "an event item"), self._redactor(), received)
                for item_header, payload in items
                if item_header.get("type") in _EVENT_ITEMS
            ]
        except BadEnvelope as error:
            raise BadRequest(str(error), type="about:blank") from None
        for ticket in tickets:
            self.tickets.enqueue(ticket)
        event_id = header.get("event_id")
        return JSONResponse({"id": event_id if isinstance(event_id, str) else None})

    async def store(self, request: Request) -> Response:
        """Take one event as JSON (the SDKs' legacy endpoint)."""
        self._check(request)
        try:
            event = _json(await self._body(request), "the event")
            ticket = event_ticket(event, self._redactor(), datetime.datetime.now(datetime.UTC))
        except BadEnvelope as error:
            raise BadRequest(str(error)) from None
        self.tickets.enqueue(ticket)
        return JSONResponse({"id": ticket.id})

    def _redactor(self) -> Redactor:
        return self.tickets.capturer().redactor
