"""BlackSheep's secured page, as its documentation writes one.

``app.use_sessions`` (itsdangerous-signed cookie), ``use_anti_forgery`` (``{% af_input %}`` in
Jinja2 views), the security headers added by a middleware (BlackSheep ships none for them),
one service injected by its DI container (rodi), a Jinja2 view. On Granian.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from blacksheep import Application, Request, Response
from blacksheep.server.csrf import AntiForgeryHandler, use_anti_forgery
from blacksheep.server.rendering.jinja2 import JinjaRenderer
from blacksheep.server.responses import see_other, text, view
from blacksheep.server.security import SecurityPolicyHandler
from blacksheep.settings.html import html_settings
from jinja2 import FileSystemLoader

from bench.apps.secured import (
    ANONYMOUS,
    SECRET_KEY,
    SECURED_TEMPLATES,
    SECURITY_HEADERS,
    SITE,
    Site,
)
from bench.apps.sql import HELLO

html_settings.use(JinjaRenderer(FileSystemLoader(SECURED_TEMPLATES)))
app = Application()
app.show_error_details = False
app.use_sessions(SECRET_KEY)


class HeadersSetByMiddleware(SecurityPolicyHandler):
    """The anti-forgery handler's own click-jacking headers (SAMEORIGIN) would duplicate ours."""

    def protect(self, response: Response) -> None:
        return None


use_anti_forgery(app, AntiForgeryHandler(security_handler=HeadersSetByMiddleware()))
app.services.add_instance(SITE, Site)
_HEADERS = [(n.encode(), v.encode()) for n, v in SECURITY_HEADERS]


async def security_headers(
    request: Request, handler: Callable[[Request], Awaitable[Response]]
) -> Response:
    response = await handler(request)
    for name, value in _HEADERS:
        response.add_header(name, value)
    return response


app.middlewares.append(security_headers)


@app.router.get("/plaintext")
async def plaintext() -> Response:
    return text(HELLO)


@app.router.get("/login")
async def login(request: Request, user: str) -> Response:
    request.session["user"] = user
    return text("signed in")


@app.router.get("/secured")
async def secured_page(request: Request, site: Site) -> Response:
    user = request.session.get("user", ANONYMOUS)
    return view("blacksheep", {"request": request, "site": site, "user": user})


@app.router.post("/secured")
async def secured_post(request: Request) -> Response:
    await request.form()
    return see_other("/secured")
