"""``Sessions``: the step that gives routes ``request.session`` and writes its cookie."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any, Final, Literal

from celeris.core.errors import ServiceUnavailable
from celeris.core.pipeline import Step
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.sessions.base import SessionStore, StoreUnavailable
from celeris.sessions.cookie import MAX_COOKIE_SIZE, SessionTooLarge, SignedCookie
from celeris.sessions.session import Session, new_session_id
from celeris.settings import app_setting, secret_key_of

if TYPE_CHECKING:
    from celeris.core.routing import Route

__all__ = ["Sessions", "open_store", "resolve_url"]

logger = logging.getLogger("celeris.sessions")

DEFAULT_URL = "cookie://"
_VARY_COOKIE: Final = (b"vary", b"Cookie")
_COOKIE_SCHEMES: Final = ("cookie", "")
DAY = 86_400


def resolve_url(app: Any, url: str | None) -> str:
    """Pick the session backend URL: ``url``, SESSION_URL / REDIS_URL, else the signed cookie."""
    return url or app_setting(app, "SESSION_URL", "REDIS_URL") or DEFAULT_URL


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else url.lower()


def open_store(url: str, db: Any = None) -> SessionStore | None:
    """Return the store for ``url`` (None: the signed cookie holds the data)."""
    scheme = _scheme(url)
    if scheme in _COOKIE_SCHEMES:
        return None
    if scheme == "memory":
        from celeris.sessions.memory import MemoryStore  # NOTE: a backend loads when chosen

        return MemoryStore()
    if scheme in ("redis", "rediss", "unix"):
        try:
            from celeris.sessions.redis import RedisStore  # NOTE: a backend loads when chosen
        except ImportError as exc:
            raise RuntimeError(
                f"SESSION_URL {scheme}:// needs redis-py: pip install 'celeris[redis]'"
            ) from exc
        return RedisStore(url)
    if scheme in ("db", "database"):
        from celeris.sessions.database import DatabaseStore  # NOTE: a backend loads when chosen

        if db is None:
            raise RuntimeError(
                "Sessions(url='db') needs the Database: Sessions(app, url='db', db=db)"
            )
        return DatabaseStore(db)
    raise RuntimeError(
        f"unknown session backend {url!r} (sessions.E002): use cookie://, memory://, "
        "redis://host/0 or db"
    )


class Sessions(Step):
    """Sessions for every route that can see the Request; ``Sessions(app=app)`` attaches it.

    The default backend is the signed cookie; ``url="redis://..."``, ``"memory://"`` or
    ``"db"`` keep the data server side with only a signed id in the cookie.
    """

    def __init__(
        self,
        app: Any = None,
        *,
        url: str | None = None,
        secret_key: str | bytes | None = None,
        db: Any = None,
        cookie_name: str = "session",
        max_age: int = 14 * DAY,
        refresh_after: int = DAY,
        path: str = "/",
        domain: str | None = None,
        secure: bool | None = None,
        http_only: bool = True,
        same_site: Literal["lax", "strict", "none"] = "lax",
        retry_after: int = 5,
        templates: Any = None,
    ) -> None:
        self.app = app
        self.url = url
        self.db = db
        self.cookie_name = cookie_name
        self.max_age = max_age
        self.refresh_after = refresh_after
        self.path = path
        self.domain = domain
        self.secure = secure
        self.http_only = http_only
        self.same_site = same_site
        self.retry_after = retry_after
        self._secret_key = secret_key
        self._signer: SignedCookie | None = None
        self.store: SessionStore | None = None
        self._started = False
        self._cookie_attributes: dict[bool, bytes] = {}
        # NOTE: the step routes run; Sessions itself defines no before/after, so requests no
        # route matched (404s, mounted apps, static files) never load a session.
        self._step = _SessionStep(self)
        if db is not None:
            # NOTE: the db backend is chosen: its table joins Model.metadata now, so that
            # `celeris db revision --autogenerate` sees it before the app has started.
            from celeris.sessions import database  # noqa: F401
        if templates is not None:
            # NOTE: jinja2 is loaded only for an app that renders templates
            from celeris.sessions.templating import register_template_helpers

            register_template_helpers(templates)
        if app is not None:
            self.install(app)

    def install(self, app: Any) -> None:
        """Attach to ``app``: a step on its routes, the store opened and closed with it."""
        self.app = app
        app.state.sessions = self
        app.add_step(self)
        app.on_startup(self.start)
        app.on_shutdown(self.stop)

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def signer(self) -> SignedCookie:
        """The cookie signer (made from the secret key on first use)."""
        signer = self._signer
        if signer is None:
            key = secret_key_of(self.app, self._secret_key, "Sessions")
            signer = self._signer = SignedCookie(key)
        return signer

    async def start(self) -> None:
        """Resolve the backend and the key, and open the store."""
        if self._started:
            return
        self.url = resolve_url(self.app, self.url)
        self.store = open_store(self.url, self.db)
        _ = self.signer
        if self.store is not None:
            await self.store.open()
        self._started = True

    async def stop(self) -> None:
        """Close the store."""
        if self.store is not None:
            await self.store.close()
        self._started = False

    async def __aenter__(self) -> Sessions:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def check(self) -> None:
        """Raise ``StoreUnavailable`` unless the store answers (a health check)."""
        if self.store is not None:
            await self.store.ping()

    # --- the step ----------------------------------------------------------------------------

    def for_route(self, route: Route) -> Step | None:
        """Run only where something can read ``request.session``."""
        plan = route.plan
        if plan is not None and not plan.needs_request:
            return None  # PERF: nothing in the route can see the session: it costs nothing
        return self._step

    def decode(self, raw: str | None) -> tuple[dict[str, Any], float | None]:
        """Return the data and issue time of a signed-cookie session (empty when bad)."""
        if not raw:
            return {}, None
        loaded = self.signer.loads(raw, self.max_age)
        if loaded is None or not isinstance(loaded[0], dict):
            return {}, None
        return loaded[0], loaded[1]

    async def load(self, raw: str | None) -> Session:
        """Return the session of a cookie value (server side: fetched from the store now)."""
        store = self.store
        if store is None or not raw:
            return Session(self, raw)
        loaded = self.signer.loads(raw, self.max_age)
        if loaded is None or not isinstance(loaded[0], str):
            session = Session(self, None, data={})
            session.had_cookie = True
            return session
        session_id, issued = loaded
        data = await store.load(session_id)
        if data is None:
            session = Session(self, None, data={})
            session.had_cookie = True
            return session
        return Session(self, None, data=data, session_id=session_id, issued=issued)

    @property
    def in_cookie(self) -> bool:
        """Whether the data travels in the signed cookie (no store: nothing to await)."""
        # NOTE: routes compile before start(): the URL is resolved here as start() would.
        self.url = resolve_url(self.app, self.url)
        return _scheme(self.url) in _COOKIE_SCHEMES

    async def open_session(self, request: Request) -> None:
        """Set ``request.session``: lazily decoded, or fetched when the cookie names a stored one."""
        if self.store is None:
            self.open_signed(request)
            return
        try:
            request.session = await self.load(request.cookies.get(self.cookie_name))
        except StoreUnavailable as exc:
            logger.warning("session store unavailable: %s", exc)
            raise ServiceUnavailable(
                "The session store is unavailable; try again shortly.",
                retry_after=self.retry_after,
            ) from None

    def open_signed(self, request: Request) -> None:
        """Set ``request.session`` from the signed cookie, decoded on first access."""
        request.session = Session(self, request.cookies.get(self.cookie_name))

    def _due(self, session: Session) -> bool:
        """Tell whether a session that was accessed needs its cookie (re)written now."""
        if session.modified:
            return True
        issued = session.issued
        # NOTE: sliding expiry without a write per request: refresh once refresh_after passed.
        return (
            bool(session.data)
            and issued is not None
            and (time.time() - issued >= self.refresh_after)
        )

    async def close_session(self, request: Request, response: Response) -> None:
        """Write the session's cookie (and store entry) when it changed or is due a refresh."""
        session: Session = request.session
        if not session.accessed:
            return  # PERF: the common case for routes that never touch the session
        _vary_cookie(response)
        if not self._due(session):
            return
        try:
            await self.save(session, response, _is_https(request))
        except StoreUnavailable as exc:
            logger.warning("session store unavailable: %s", exc)
            raise ServiceUnavailable(
                "The session store is unavailable; try again shortly.",
                retry_after=self.retry_after,
            ) from None

    def close_signed(self, request: Request, response: Response) -> None:
        """``close_session`` for the signed cookie: no store, so nothing is awaited."""
        session: Session = request.session
        if not session.accessed:
            return
        _vary_cookie(response)
        if self._due(session):
            self.save_signed(session, response, _is_https(request))

    async def save(self, session: Session, response: Response, https: bool) -> None:
        """Store the session and set (or delete) its cookie on ``response``."""
        store = self.store
        if store is None:
            self.save_signed(session, response, https)
            return
        data = session.data
        if session.previous_id is not None:
            await store.delete(session.previous_id)
        if not data:
            if session.had_cookie:
                if session.session_id is not None:
                    await store.delete(session.session_id)
                self._delete_cookie(response, https)
            return
        if session.session_id is None:
            session.session_id = new_session_id()
        await store.save(session.session_id, data, self.max_age)
        self._set_cookie(response, self.signer.dumps(session.session_id), https)

    def save_signed(self, session: Session, response: Response, https: bool) -> None:
        """Set the signed cookie carrying the session's data (or delete it when empty)."""
        data = session.data
        if not data:
            if session.had_cookie:
                self._delete_cookie(response, https)
            return
        value = self.signer.dumps(data)
        if len(value) + len(self.cookie_name) + 100 > MAX_COOKIE_SIZE:
            raise SessionTooLarge(
                f"the session cookie would be {len(value)} bytes, over the {MAX_COOKIE_SIZE} "
                "browsers keep: store sessions server side, e.g. "
                "Sessions(app, url='redis://localhost:6379/0') or url='db'"
            )
        self._set_cookie(response, value, https)

    def _set_cookie(self, response: Response, value: str, https: bool) -> None:
        # PERF: the attributes never change: Response.set_cookie (http.cookies) renders them
        # once per scheme, and each cookie is that line with its value put in. The values
        # are ours (URL-safe base64 and dots), so no quoting applies.
        secure = self._secure(https)
        attributes = self._cookie_attributes.get(secure)
        if attributes is None:
            probe = Response()
            probe.set_cookie(
                self.cookie_name,
                "v",
                max_age=self.max_age,
                path=self.path,
                domain=self.domain,
                secure=secure,
                httponly=self.http_only,
                samesite=self.same_site,
            )
            line = probe.raw_headers[-1][1]
            attributes = self._cookie_attributes[secure] = line[len(self.cookie_name) + 2 :]
        head = self.cookie_name.encode("latin-1") + b"="
        response.raw_headers.append((b"set-cookie", head + value.encode("ascii") + attributes))

    def _delete_cookie(self, response: Response, https: bool) -> None:
        response.delete_cookie(
            self.cookie_name, self.path, self.domain, self._secure(https), self.http_only
        )

    def _secure(self, https: bool) -> bool:
        return https if self.secure is None else self.secure


class _SessionStep(Step):
    """What runs on a route that can see the session."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    async def before(self, request: Request) -> Response | None:
        await self.sessions.open_session(request)
        return None

    async def after(self, request: Request, response: Response) -> None:
        await self.sessions.close_session(request, response)

    # PERF: the core pipeline calls these plain-function forms without a coroutine per call;
    # the signed cookie awaits nothing (a server-side store keeps the async forms).
    def _before_entry(self) -> tuple[Any, bool]:
        if self.sessions.in_cookie:
            return self.sessions.open_signed, False
        return self.before, True

    def _after_entry(self) -> tuple[Any, bool]:
        if self.sessions.in_cookie:
            return self.sessions.close_signed, False
        return self.after, True


def _is_https(request: Request) -> bool:
    return request.conn.scheme == "https"


def _vary_cookie(response: Response) -> None:
    """Add ``Vary: Cookie``, merged into a ``Vary`` the response already has."""
    raw = response.raw_headers
    for i, (name, value) in enumerate(raw):
        if name == b"vary":  # NOTE: raw names are lower-case
            if b"cookie" not in value.lower() and value.strip() != b"*":
                raw[i] = (name, value + b", Cookie")
            return
    raw.append(_VARY_COOKIE)  # PERF: a constant pair: no header object, no encoding
