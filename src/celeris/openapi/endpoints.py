"""The routes an app serves for its API description: the spec, the docs page, its assets.

``install(app)`` adds ``GET {openapi_url}``, ``GET {docs_url}`` and
``GET {docs_url}/assets/{name}`` (all left out of the spec). The document is generated on
the first request and cached as bytes; the docs page uses relative URLs, so it also works
when the app is mounted under a prefix.
"""

from __future__ import annotations

import posixpath
from typing import Any

import msgspec

from celeris.core.errors import NotFound
from celeris.core.requests import Request
from celeris.core.responses import HTMLResponse, Response
from celeris.openapi import docs
from celeris.openapi.generator import generate

__all__ = ["document_of", "install"]

_CACHE_FOREVER = "public, max-age=86400"


def document_of(app: Any, *, root_path: str = "") -> dict[str, Any]:
    """Return the OpenAPI document of a celeris ``App`` as plain JSON data."""
    routes = getattr(app, "routes", None)
    if not isinstance(routes, list):
        raise TypeError(f"{type(app).__name__} is not a celeris App (it has no compiled routes)")
    root = root_path or getattr(app, "root_path", "")
    return generate(
        routes,
        title=getattr(app, "title", "celeris"),
        version=getattr(app, "version", "0.1.0"),
        description=getattr(app, "description", None) or None,
        servers=[root] if root else (),
    )


def _relative(target: str, page: str) -> str:
    """Return the URL of ``target`` relative to the page at ``page`` (both absolute paths)."""
    base = page.rsplit("/", 1)[0] or "/"
    return posixpath.relpath(target, base)


def install(app: Any, *, openapi_url: str | None = None, docs_url: str | None = None) -> None:
    """Add the spec and docs routes to ``app`` (defaults: its ``openapi_url``/``docs_url``)."""
    spec_url = openapi_url if openapi_url is not None else getattr(app, "openapi_url", None)
    page_url = docs_url if docs_url is not None else getattr(app, "docs_url", None)
    if spec_url is None:
        return
    cache: dict[str, bytes] = {}

    async def openapi_json(request: Request) -> Response:
        root = request.conn.root_path.rstrip("/")
        body = cache.get(root)
        if body is None:
            # PERF: generated once per root path, then served as ready bytes.
            body = cache[root] = msgspec.json.encode(document_of(app, root_path=root))
        return Response(body, media_type="application/json")

    app.add_route(spec_url, openapi_json, ["GET"], name="openapi", include_in_schema=False)
    if page_url is None:
        return
    docs.asset("swagger-ui-bundle.js")  # NOTE: fails at start-up, not on first view, if missing
    assets_url = page_url.rstrip("/") + "/assets"
    page = docs.swagger_ui_html(
        title=f"{getattr(app, 'title', 'celeris')} - docs",
        openapi_url=_relative(spec_url, page_url),
        assets_url=_relative(assets_url, page_url),
        oauth2_redirect_url=None,
    ).encode()

    async def docs_page() -> Response:
        return HTMLResponse(page)

    async def docs_asset(name: str, request: Request) -> Response:
        found = docs.asset(name)
        if found is None:
            raise NotFound(f"No docs asset named {name!r}")
        headers = {"etag": found.etag, "cache-control": _CACHE_FOREVER}
        if request.headers.get("if-none-match") == found.etag:
            return Response(None, 304, headers)
        return Response(found.body, headers=headers, media_type=found.media_type)

    app.add_route(page_url, docs_page, ["GET"], name="docs", include_in_schema=False)
    app.add_route(
        assets_url + "/{name}", docs_asset, ["GET"], name="docs_asset", include_in_schema=False
    )
