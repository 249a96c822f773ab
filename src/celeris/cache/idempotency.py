"""Idempotency keys: a retried POST answers the first response instead of acting twice.

``Idempotency(cache=cache)`` is a pipeline step (IETF draft "The Idempotency-Key HTTP Header
Field"): put it on a route (``steps=[idempotency]``) or on every route (``app=app``). On an
unsafe request (POST and PATCH by default) carrying ``Idempotency-Key``, the first request
takes the key in the cache's backend (``SET NX``, so one request wins across every worker and
machine on Redis) and its response is stored for ``ttl`` seconds; a retry with the same key
gets that stored response back, marked ``Idempotent-Replayed: true``, and the handler does
not run again.

- A retry while the first request still runs: **409** problem+json (request in progress).
- The same key with a different request (method, path, query, content type or body): **422**.
- No key on a route whose step says ``required=True``: **400**; a malformed key: 400 too.
- The cache's backend away: **503** with ``Retry-After`` (never a second run of the handler).

Keys are scoped by the caller: ``request.state.user`` when an earlier step or ``auth=`` set
it, else the ``Authorization`` header (hashed), else the client address; so one client can
never read another's stored response by guessing its key.

What is stored: the status, the body and the headers except hop-by-hop ones, ``Date``,
``Content-Length`` (recomputed) and ``Set-Cookie`` (a replay never hands out a session again).
5xx responses and 401, 403, 408, 425 and 429 are not stored: the key is released, so the
client's retry (with fixed credentials, or later) runs the request again. Streamed and file responses have
no body to keep: their key is released as well (and a warning logged).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Final

import msgspec

from celeris.core.errors import BadRequest, Conflict, HTTPError, UnprocessableEntity
from celeris.core.pipeline import Step, is_plain
from celeris.core.requests import Request
from celeris.core.responses import Response

if TYPE_CHECKING:
    from celeris.cache.cache import Cache
    from celeris.core.routing import Route

__all__ = ["REPLAYED_HEADER", "Idempotency"]

logger = logging.getLogger("celeris.cache")

#: The header a replayed response carries (the name Stripe and others use; the draft has none).
REPLAYED_HEADER: Final = "idempotent-replayed"

_STATE: Final = "celeris.idempotency"
_PENDING: Final = 0
_DONE: Final = 1
# NOTE: the draft's key is a Structured Field string; a bare token is accepted as well.
_KEY: Final = re.compile(
    r'^"([\x20-\x21\x23-\x5b\x5d-\x7e]{1,255})"$|^([\x21\x23-\x5b\x5d-\x7e]{1,255})$'
)
_DROPPED: Final = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"content-length",
        b"date",
        b"set-cookie",
    }
)
#: Statuses a client is expected to retry (after fixing credentials, or later): not stored.
_RETRYABLE: Final = frozenset({401, 403, 408, 425, 429})

Identity = Callable[[Request], "str | Awaitable[str]"]


class _Record(msgspec.Struct, array_like=True):
    state: int  # _PENDING while the first request runs, then _DONE
    fingerprint: str
    status: int = 0
    headers: list[tuple[bytes, bytes]] = []
    body: bytes = b""


def _default_identity(request: Request) -> str:
    if request.conn.state:
        user = request.state.get("user")
        if user is not None:
            return "user:" + str(getattr(user, "id", user))
    authorization = request.headers.get("authorization")
    if authorization:
        return "auth:" + hashlib.blake2b(authorization.encode(), digest_size=16).hexdigest()
    client = request.conn.client
    return "ip:" + (client[0] if client is not None else "unknown")


class Idempotency(Step):
    """The ``Idempotency-Key`` step; see the module docstring.

    ``cache``: where keys and responses live (``Cache(url="redis://...")`` for many workers).
    ``required``: answer 400 to an unsafe request without a key. ``methods``: the methods
    it applies to. ``ttl``: seconds a finished response is kept (24 h). ``lock_ttl``: seconds
    a running request holds its key (a worker that died mid-request frees it after that;
    keep it above the route's longest run). ``identity``: ``callable(request) -> str`` (or
    awaitable) naming the caller. ``auth``: a ``celeris.auth.Auth`` to find the user with
    when no step did yet. ``app``: put the step on every route of ``app``.
    """

    def __init__(
        self,
        app: Any = None,
        *,
        cache: Cache,
        required: bool = False,
        methods: Iterable[str] = ("POST", "PATCH"),
        ttl: float = 24 * 3600,
        lock_ttl: float = 60.0,
        header: str = "Idempotency-Key",
        identity: Identity | None = None,
        auth: Any = None,
    ) -> None:
        if ttl <= 0 or lock_ttl <= 0:
            raise ValueError("ttl and lock_ttl are seconds > 0")
        self.cache = cache
        self.required = required
        self.methods = frozenset(m.upper() for m in methods)
        self.ttl = float(ttl)
        self.lock_ttl = float(lock_ttl)
        self.header = header.lower()
        self.identity: Identity = identity or _default_identity
        self.auth = auth
        if app is not None:
            app.add_step(self)

    def __repr__(self) -> str:
        return f"Idempotency(cache={self.cache!r}, required={self.required})"

    def for_route(self, route: Route) -> Step | None:
        """Skip routes that answer none of ``methods`` (they pay nothing)."""
        return self if route.methods & self.methods else None

    # --- the key -----------------------------------------------------------------------------

    async def _who(self, request: Request) -> str:
        if self.auth is not None and "user" not in request.state:
            await self.auth.authenticate(request)
        who = self.identity(request)
        if inspect.isawaitable(who):
            who = await who
        return str(who)

    def _problem(self, error: HTTPError) -> HTTPError:
        error.extra.setdefault("header", "Idempotency-Key")
        return error

    async def _fingerprint(self, request: Request) -> str:
        url = request.url
        digest = hashlib.blake2b(digest_size=20)
        for part in (
            request.method,
            url.path,
            url.query or "",
            request.headers.get("content-type", ""),
        ):
            digest.update(part.encode())
            digest.update(b"\n")
        digest.update(await request.body())
        return digest.hexdigest()

    # --- the store ---------------------------------------------------------------------------

    def _unavailable(self, error: BaseException | None = None) -> HTTPError:
        cache = self.cache
        if error is not None:
            cache._mark_down(error)
        failure = cache._unavailable(error)
        failure.detail = (
            "The idempotency store is unavailable; the request was not run. Retry later."
        )
        return failure

    async def _backend(self, operation: Awaitable[Any]) -> Any:
        """Run one backend call; an outage becomes a 503 (never a second run)."""
        cache = self.cache
        if not cache.available:
            close = getattr(operation, "close", None)
            if close is not None:
                close()
            raise self._unavailable()
        try:
            return await operation
        except cache.backend.errors as error:
            raise self._unavailable(error) from error

    async def before(self, request: Request) -> Response | None:
        """Take the key, or answer the stored response, a 409, a 422 or a 400."""
        if request.method not in self.methods:
            return None
        raw = request.headers.get(self.header)
        if raw is None:
            if self.required:
                raise self._problem(
                    BadRequest(f"This request needs an {self.header.title()} header.")
                )
            return None
        match = _KEY.match(raw.strip())
        if match is None:
            raise self._problem(
                BadRequest(
                    f"{self.header.title()} must be a quoted string of 1 to 255 printable "
                    'ASCII characters, e.g. "8e03978e-40d5-43e8-bc93-6894a57f9324".'
                )
            )
        key = match.group(1) or match.group(2)
        who = await self._who(request)
        name = hashlib.blake2b(
            "\n".join((who, request.method, request.url.path, key)).encode(), digest_size=20
        ).hexdigest()
        full = self.cache._key(f"idempotency:{name}")
        fingerprint = await self._fingerprint(request)
        backend = self.cache.backend
        pending = self.cache.encode(_Record(_PENDING, fingerprint))
        for _ in range(3):  # NOTE: a record that expired between add and get: try again
            if await self._backend(backend.add(full, pending, self.lock_ttl)):
                request.conn.state[_STATE] = (full, fingerprint)
                return None
            data = await self._backend(backend.get(full))
            if data is None:
                continue
            try:
                record = self.cache.decode(data, _Record)
            except (msgspec.DecodeError, msgspec.ValidationError):
                logger.warning("idempotency record %r does not decode; replaced", full)
                await self._backend(backend.delete([full]))
                continue
            if record.fingerprint != fingerprint:
                raise self._problem(
                    UnprocessableEntity(
                        f"This {self.header.title()} was already used for a different request."
                    )
                )
            if record.state == _PENDING:
                raise self._problem(
                    Conflict(
                        f"A request with this {self.header.title()} is still being processed; "
                        "retry later.",
                        headers={"retry-after": "1"},
                    )
                )
            headers = [
                *record.headers,
                (b"content-length", b"%d" % len(record.body)),
                (REPLAYED_HEADER.encode(), b"true"),
            ]
            return Response.of_parts(record.status, headers, record.body, None)
        raise self._unavailable()

    async def after(self, request: Request, response: Response) -> None:
        """Store the first response (or release the key if it is not to be kept)."""
        taken = request.conn.state.pop(_STATE, None)
        if taken is None:
            return
        full, fingerprint = taken
        backend = self.cache.backend
        status = response.status_code
        try:
            if status >= 500 or status in _RETRYABLE or not is_plain(response):
                if not is_plain(response):
                    logger.warning(
                        "%s %s: a streamed or file response is not stored for idempotency; "
                        "a retry runs the request again",
                        request.method,
                        request.url.path,
                    )
                await backend.delete([full])
                return
            headers = [(k, v) for k, v in response.raw_headers if k.lower() not in _DROPPED]
            record = _Record(_DONE, fingerprint, status, headers, response.body)
            await backend.set(full, self.cache.encode(record), self.ttl)
        except backend.errors as error:
            # NOTE: the request ran; its key stays pending until lock_ttl (409s, then a rerun).
            self.cache._mark_down(error)
            logger.warning(
                "idempotency record %r could not be stored (%s); retries get 409 until %ss",
                full,
                type(error).__name__,
                self.lock_ttl,
            )
