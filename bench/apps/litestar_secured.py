"""Litestar's secured page, as its documentation writes one.

Client-side sessions (``CookieBackendConfig``, AES-GCM encrypted cookie; the server-side
variant is litestar_secured_server), ``CSRFConfig``
(double-submit cookie, ``csrf_input`` in templates), the security headers as app-level
``response_headers`` (Litestar has no security-headers middleware), one ``Provide``
dependency, a Jinja2 template. On uvicorn, as the other Litestar contender.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from litestar import Litestar, MediaType, Request, get, post
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import ResponseHeader
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.session.client_side import CookieBackendConfig
from litestar.params import Body
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from bench.apps.secured import (
    ANONYMOUS,
    SECRET_KEY,
    SECURED_TEMPLATES,
    SECURITY_HEADERS,
    Site,
    get_site,
)
from bench.apps.sql import HELLO

# NOTE: the cookie backend wants a 16, 24 or 32 byte AES key.
session_config = CookieBackendConfig(secret=hashlib.sha256(SECRET_KEY.encode()).digest())


@get("/plaintext", media_type=MediaType.TEXT)
async def plaintext() -> str:
    return HELLO


@get("/login", media_type=MediaType.TEXT)
async def login(request: Request[Any, Any, Any], user: str) -> str:
    request.set_session({"user": user})
    return "signed in"


@get("/secured")
async def secured_page(request: Request[Any, Any, Any], site: Site) -> Template:
    user = request.session.get("user", ANONYMOUS)
    return Template(template_name="litestar.html", context={"site": site, "user": user})


@post("/secured")
async def secured_post(
    data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
) -> Redirect:
    return Redirect("/secured", status_code=303)


def make_app(sessions: DefineMiddleware) -> Litestar:
    """Return the secured-page app with the ``sessions`` middleware."""
    return Litestar(
        route_handlers=[plaintext, login, secured_page, secured_post],
        dependencies={"site": Provide(get_site, sync_to_thread=False)},
        middleware=[sessions],
        csrf_config=CSRFConfig(secret=SECRET_KEY),
        response_headers=[ResponseHeader(name=n, value=v) for n, v in SECURITY_HEADERS],
        template_config=TemplateConfig(directory=SECURED_TEMPLATES, engine=JinjaTemplateEngine),
        openapi_config=None,
    )


app = make_app(session_config.middleware)
