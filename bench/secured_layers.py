"""The secured page built up one battery at a time, to see what each costs (``secured_cost.py --layer``).

1. the route with ``Request`` and one ``Depends`` (a plain HTMLResponse); 2. + the Jinja2
template; 3. + ``SecurityHeaders``; 4. + ``Sessions`` (signed cookie, the user read from it);
5. + ``CSRF`` (``csrf_input()`` in the form): ``bench/apps/celeris_secured.py``'s page. Below
layer 5 the template's ``csrf_input()`` renders nothing.
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
from celeris import App, Depends, HTMLResponse, Request
from celeris.security import CSRF, SecurityHeaders
from celeris.sessions import Sessions
from celeris.templating import Templates

LAYERS = 5


def build(layer: int) -> App:
    """Return the secured page's app with the first ``layer`` layers."""
    app = App()
    templates = Templates(str(SECURED_TEMPLATES))
    if layer < 5:
        templates.env.globals["csrf_input"] = lambda: ""
    if layer >= 3:
        SecurityHeaders(app=app, csp=CSP, referrer_policy=REFERRER_POLICY)
    if layer >= 4:
        Sessions(app=app, url="cookie://", secret_key=SECRET_KEY)
    if layer >= 5:
        CSRF(app=app, secret_key=SECRET_KEY, templates=templates)

    async def get_site() -> Site:
        return SITE

    @app.get("/login")
    async def login(request: Request, user: str) -> str:
        if layer >= 4:
            request.session["user"] = user
        return "signed in"

    @app.get("/secured")
    async def secured(request: Request, site: Annotated[Site, Depends(get_site)]) -> HTMLResponse:
        # NOTE: below the sessions layer the page shows the user the bench signs in as.
        user = request.session.get("user", ANONYMOUS) if layer >= 4 else "ada"
        if layer == 1:
            return HTMLResponse(f"<p>{site.title} {user}</p>")
        context = {"request": request, "site": site, "user": user}
        return templates.render("celeris.html", context)

    return app
