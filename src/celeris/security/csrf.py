"""``CSRF``: refuse cross-site state changes; Fetch Metadata and Origin first, tokens as fallback.

Unsafe requests (POST, PUT, PATCH, DELETE) from browsers pass when the browser says they are
same-origin (``Sec-Fetch-Site``) or their ``Origin`` is the app's own or a trusted one.
Requests that carry neither header but do carry cookies (old browsers, some privacy tools)
must send a token: the
``csrf_token`` form field or the ``X-CSRF-Token`` header, tied to the session when
``celeris.sessions`` is on, else to a signed double-submit cookie.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import itsdangerous

from celeris.core.errors import HTTPError
from celeris.core.pipeline import Step
from celeris.core.requests import Request
from celeris.core.responses import HTMLResponse, Response
from celeris.security import tokens
from celeris.settings import secret_key_of

if TYPE_CHECKING:
    from celeris.core.routing import Route

__all__ = ["CSRF", "CSRFError", "csrf_input", "csrf_token"]

logger = logging.getLogger("celeris.security")

UNSAFE: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SESSION_KEY: Final = "_csrf_token"
_FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")


class CSRFError(HTTPError):
    """403: the request looks like cross-site request forgery."""

    def __init__(self, detail: str) -> None:
        super().__init__(403, detail, title="CSRF check failed", type="about:blank")


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}".lower()


def _prefers_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    html_at = accept.find("text/html")
    if html_at < 0:
        return False
    json_at = accept.find("json")
    return json_at < 0 or html_at < json_at


class CSRF(Step):
    """Cross-site request forgery protection on every unsafe route; ``CSRF(app=app)``."""

    def __init__(
        self,
        app: Any = None,
        *,
        secret_key: str | bytes | None = None,
        trusted_origins: Iterable[str] = (),
        cookie_name: str = "csrftoken",
        header_name: str = "X-CSRF-Token",
        field_name: str = "csrf_token",
        use_session: bool | None = None,
        templates: Any = None,
    ) -> None:
        self.app = app
        self.trusted_origins = {o.rstrip("/").lower() for o in trusted_origins}
        self.cookie_name = cookie_name
        self.header_name = header_name.lower()
        self.field_name = field_name
        self._input_head = ("", "")  # PERF: (field_name, the escaped start of csrf_input())
        self.use_session = use_session
        self._secret_key = secret_key
        self._signer: itsdangerous.Signer | None = None
        if templates is not None:
            self.register_template_helpers(templates)
        if app is not None:
            self.install(app)

    def install(self, app: Any) -> None:
        """Attach to ``app``: a step on its routes, ``app.state.csrf`` for the helpers."""
        self.app = app
        app.state.csrf = self
        app.add_step(self)
        app.on_startup(self.start)

    async def start(self) -> None:
        """Read trusted origins from settings and decide between session and cookie tokens."""
        settings = getattr(self.app, "settings", None)
        extra = getattr(settings, "CSRF_TRUSTED_ORIGINS", None) or ()
        self.trusted_origins |= {o.rstrip("/").lower() for o in extra}
        if self.use_session is None:
            self.use_session = self.sessions is not None
        if not self.use_session:
            _ = self.signer  # NOTE: a missing SECRET_KEY is a start-up error, not a 500

    def register_template_helpers(self, templates: Any) -> None:
        """Give ``templates`` the ``csrf_token()`` and ``csrf_input()`` globals."""
        from celeris.security.templating import register_template_helpers  # NOTE: jinja2 only

        register_template_helpers(templates)

    @property
    def sessions(self) -> Any:
        """The app's ``Sessions``, when it has one."""
        return getattr(getattr(self.app, "state", None), "sessions", None)

    @property
    def signer(self) -> itsdangerous.Signer:
        """The signer of double-submit cookies."""
        signer = self._signer
        if signer is None:
            given = self._secret_key or getattr(self.sessions, "_secret_key", None)
            key = secret_key_of(self.app, given, "CSRF")
            signer = self._signer = itsdangerous.Signer(key, salt="celeris.csrf")
        return signer

    # --- the step ----------------------------------------------------------------------------

    def for_route(self, route: Route) -> Step | None:
        """Check unsafe routes that are not exempt; issue cookies where templates may ask."""
        unsafe = not route.csrf_exempt and bool(UNSAFE & set(route.methods))
        plan = route.plan
        sees_request = plan is None or plan.needs_request
        if self.use_session is None:
            # NOTE: routes are compiled before start(): decide here, once, as start() would.
            self.use_session = self.sessions is not None
        issues = sees_request and not self.use_session
        if unsafe and issues:
            return _CheckAndIssue(self)
        if unsafe:
            return _Check(self)
        if issues:
            return _Issue(self)
        return None  # PERF: a safe route that cannot render a token costs nothing

    async def check(self, request: Request) -> Response | None:
        """Refuse the request (403) unless it is same-origin or carries a valid token."""
        if request.method not in UNSAFE:
            return None
        headers = request.headers
        if "authorization" in headers:
            return None  # NOTE: not sent by a browser on its own: no ambient credential
        site = headers.get("sec-fetch-site")
        origin = headers.get("origin")
        if site is not None:
            if site in ("same-origin", "none"):
                return None
            if origin is not None and origin.rstrip("/").lower() in self.trusted_origins:
                return None
            return self.refuse(request, f"a {site} request may not change state here")
        own = self.own_origin(request)
        if origin is not None:
            origin = origin.rstrip("/").lower()
            if origin == own or origin in self.trusted_origins:
                return None
            return self.refuse(request, f"the request comes from another origin ({origin})")
        referer = headers.get("referer")
        if referer is not None:
            source = _origin_of(referer)
            if source != own and source not in self.trusted_origins:
                return self.refuse(request, "the Referer is another origin")
        if "cookie" not in headers:
            # NOTE: no Fetch Metadata, no Origin and no cookie: not a browser acting for a
            # logged-in user (a forged request gains only what its sender could do itself).
            return None
        submitted = headers.get(self.header_name) or await self._form_token(request)
        if not submitted:
            return self.refuse(
                request,
                f"the CSRF token ({self.field_name} field or {self.header_name} header) is missing",
            )
        secret = await self._expected_secret(request)
        if not tokens.same_secret(submitted, secret):
            return self.refuse(request, "the CSRF token is wrong or expired")
        return None

    def own_origin(self, request: Request) -> str:
        """Return this request's own origin, ``scheme://host``."""
        host = request.headers.get("host") or ""
        return f"{request.conn.scheme}://{host}".lower()

    async def _form_token(self, request: Request) -> str | None:
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith(_FORM_TYPES):
            return None
        # NOTE: body() first: the parsed form and the raw body stay readable by the handler.
        await request.body()
        value = (await request.form()).get(self.field_name)
        return value if isinstance(value, str) else None

    async def _expected_secret(self, request: Request) -> str | None:
        if self.use_session:
            session = await self._session(request)
            value = session.get(SESSION_KEY) if session is not None else None
            return value if isinstance(value, str) else None
        return self._cookie_secret(request)

    async def _session(self, request: Request) -> Any:
        try:
            return request.session
        except RuntimeError:
            sessions = self.sessions
            if sessions is None:
                return None
            # NOTE: the route does not see the Request, so no session step ran: load it here.
            session = await sessions.load(request.cookies.get(sessions.cookie_name))
            request.session = session
            return session

    def _cookie_secret(self, request: Request) -> str | None:
        value = request.cookies.get(self.cookie_name)
        if not value or len(value) > 256:
            return None
        try:
            return self.signer.unsign(value).decode("ascii")
        except (itsdangerous.BadSignature, UnicodeDecodeError):
            return None

    def refuse(self, request: Request, reason: str) -> Response:
        """Log and answer 403: an HTML page for browsers, problem+json otherwise."""
        logger.warning("CSRF: refused %s %s: %s", request.method, request.path, reason)
        detail = f"CSRF check failed: {reason}."
        if _prefers_html(request):
            return HTMLResponse(_PAGE.format(detail=html.escape(detail)), status_code=403)
        return CSRFError(detail).to_response()

    # --- tokens ------------------------------------------------------------------------------

    def token(self, request: Request) -> str:
        """Return a masked token for ``request`` (made, and kept, on first use)."""
        if self.use_session:
            try:
                session = request.session
            except RuntimeError:
                raise RuntimeError(
                    "csrf_token() needs the route to see the Request and Sessions to be on"
                ) from None
            secret = session.get(SESSION_KEY)
            if not isinstance(secret, str):
                secret = session[SESSION_KEY] = tokens.new_secret()
            return tokens.mask(secret)
        state = request.state
        secret = getattr(state, "csrf_secret", None)
        if secret is None:
            secret = self._cookie_secret(request)
            if secret is None:
                secret = tokens.new_secret()
                state.csrf_new_secret = secret
            state.csrf_secret = secret
        return tokens.mask(secret)

    def issue(self, request: Request, response: Response) -> None:
        """Set the double-submit cookie when this request made a new token."""
        secret = request.state.get("csrf_new_secret") if request.conn.state else None
        if secret is None:
            return
        response.set_cookie(
            self.cookie_name,
            self.signer.sign(secret).decode("ascii"),
            path="/",
            secure=request.conn.scheme == "https",
            httponly=True,
            samesite="lax",
        )


class _Check(Step):
    """The check alone (a route that cannot render a token)."""

    def __init__(self, csrf: CSRF) -> None:
        self.csrf = csrf

    async def before(self, request: Request) -> Response | None:
        return await self.csrf.check(request)


class _Issue(Step):
    """The double-submit cookie alone (a safe route that may render a token)."""

    def __init__(self, csrf: CSRF) -> None:
        self.csrf = csrf

    async def after(self, request: Request, response: Response) -> None:
        self.csrf.issue(request, response)

    def _after_entry(self) -> tuple[Any, bool]:
        return self.csrf.issue, False  # PERF: a plain call for the core pipeline


class _CheckAndIssue(Step):
    """Both: an unsafe route that may render a form again (a validation error, say)."""

    def __init__(self, csrf: CSRF) -> None:
        self.csrf = csrf

    async def before(self, request: Request) -> Response | None:
        return await self.csrf.check(request)

    async def after(self, request: Request, response: Response) -> None:
        self.csrf.issue(request, response)


def _csrf_of(request: Request) -> CSRF:
    csrf = getattr(getattr(request.app, "state", None), "csrf", None)
    if not isinstance(csrf, CSRF):
        raise RuntimeError("csrf_token() needs celeris.security.CSRF(app=app)")
    return csrf


def csrf_token(request: Request) -> str:
    """Return the CSRF token to put in a form field or the ``X-CSRF-Token`` header."""
    return _csrf_of(request).token(request)


def csrf_input(request: Request) -> str:
    """Return the hidden ``<input>`` carrying the CSRF token (HTML)."""
    csrf = _csrf_of(request)
    name, head = csrf._input_head
    if name != csrf.field_name:
        name = csrf.field_name
        head = f'<input type="hidden" name="{html.escape(name)}" value="'
        csrf._input_head = (name, head)
    return head + csrf.token(request) + '">'


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>403 Forbidden</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em}}</style>
</head><body><h1>403 Forbidden</h1><p>{detail}</p>
<p>Reload the page you came from and submit the form again. If you keep seeing this, your
browser may be blocking the headers this site uses to tell a real form from a forged one.</p>
</body></html>
"""
