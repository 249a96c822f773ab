"""celeris's secured page, written the way BATTERIES.md documents the batteries.

``Sessions`` (signed cookie), ``CSRF`` (``csrf_input()`` in the template),
``SecurityHeaders`` (nosniff, X-Frame-Options DENY, Referrer-Policy, COOP, a CSP), one
``Depends``, a Jinja2 template. Its own app (not celeris_app) so that the batteries, switched
on app-wide as users do, leave the other tests' answers alone.
"""

from __future__ import annotations

from typing import Annotated

from bench.apps.secured import (
    ANONYMOUS,
    CSP,
    REFERRER_POLICY,
    SECRET_KEY,
    SECURED_TEMPLATES,
    SITE,
    Site,
)
from bench.apps.sql import HELLO
from celeris import App, Depends, Form, HTMLResponse, RedirectResponse, Request
from celeris.security import CSRF, SecurityHeaders
from celeris.sessions import Sessions
from celeris.templating import Templates

app = App()
templates = Templates(str(SECURED_TEMPLATES))
# NOTE: url= pinned: a REDIS_URL in the bench's environment must not move sessions to Redis.
Sessions(app=app, url="cookie://", secret_key=SECRET_KEY)
CSRF(app=app, secret_key=SECRET_KEY, templates=templates)
SecurityHeaders(app=app, csp=CSP, referrer_policy=REFERRER_POLICY)


async def get_site() -> Site:
    """The one dependency (see bench/apps/secured.py); async, as a plain def runs in a thread."""
    return SITE


@app.get("/plaintext")
async def plaintext() -> str:
    return HELLO


@app.get("/login")
async def login(request: Request, user: str) -> str:
    request.session["user"] = user
    return "signed in"


@app.get("/secured")
async def secured_page(request: Request, site: Annotated[Site, Depends(get_site)]) -> HTMLResponse:
    user = request.session.get("user", ANONYMOUS)
    return templates.render("celeris.html", {"request": request, "site": site, "user": user})


@app.post("/secured")
async def secured_post(note: Annotated[str, Form()] = "") -> RedirectResponse:
    return RedirectResponse("/secured", status_code=303)
