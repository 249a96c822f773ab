"""The routes an app serves for its API description: the spec, the docs page, its assets.

``install(app)`` adds ``GET {openapi_url}``, ``GET {docs_url}`` and
``GET {docs_url}/assets/{name}`` (all left out of the spec). The document is generated on
the first request and cached as bytes; the docs page uses relative URLs, so it also works
when the app is mounted under a prefix.
"""

from __future__ import annotations

import posixpath
import weakref
from typing import Any

import msgspec

from celeris.core.errors import NotFound
from celeris.core.requests import Request
from celeris.core.responses import HTMLResponse, Response
from celeris.openapi import docs
from celeris.openapi.generator import api_version_of, generate

__all__ = ["document_of", "install", "versions_of"]

_CACHE_FOREVER = "public, max-age=86400"
_installed: weakref.WeakSet[Any] = weakref.WeakSet()


def _routes(app: Any) -> list[Any]:
    routes = getattr(app, "routes", None)
    if not isinstance(routes, list):
        raise TypeError(f"{type(app).__name__} is not a celeris App (it has no compiled routes)")
    return routes


def versions_of(app: Any) -> list[str]:
    """Return the API versions the app's routes declare, sorted."""
    return sorted({v for r in _routes(app) if (v := api_version_of(r)) is not None})


def document_of(app: Any, *, root_path: str = "", api_version: str | None = None) -> dict[str, Any]:
    """Return the OpenAPI document of a celeris ``App`` (or of one API version) as data."""
    routes = _routes(app)
    root = root_path or getattr(app, "root_path", "")
    title = getattr(app, "title", "celeris")
    return generate(
        routes,
        title=f"{title} ({api_version})" if api_version else title,
        version=getattr(app, "version", "0.1.0"),
        description=getattr(app, "description", None) or None,
        servers=[root] if root else (),
        api_version=api_version,
    )


def _relative(target: str, page: str) -> str:
    """Return the URL of ``target`` relative to the page at ``page`` (both absolute paths)."""
    base = page.rsplit("/", 1)[0] or "/"
    return posixpath.relpath(target, base)


def _taken(app: Any) -> set[str]:
    """Return the paths where the app's own routes already answer GET."""
    router = getattr(app, "router", None)
    if router is None:
        return set()
    return {
        item.path
        for item in router.iter_routes()
        if "GET" in getattr(item, "methods", ()) and hasattr(item, "compiled")
    }


def install(app: Any, *, openapi_url: str | None = None, docs_url: str | None = None) -> None:
    """Add the spec and docs routes to ``app`` (defaults: its ``openapi_url``/``docs_url``).

    Call it before the app serves its first request (routes compile then); calling it
    again for the same app does nothing. A URL where the app already has its own GET
    route is left to that route (an app serving its own ``/docs`` keeps it).
    """
    if app in _installed:
        return
    _installed.add(app)
    spec_url = openapi_url if openapi_url is not None else getattr(app, "openapi_url", None)
    page_url = docs_url if docs_url is not None else getattr(app, "docs_url", None)
    taken = _taken(app)
    if page_url in taken:
        page_url = None
    if spec_url is None or spec_url in taken:
        return
    cache: dict[tuple[str, str | None], bytes] = {}

    async def openapi_json(request: Request) -> Response:
        root = request.conn.root_path.rstrip("/")
        version = request.query_params.get("version") or None
        body = cache.get((root, version))
        if body is None:
            if version is not None and version not in versions_of(app):
                raise NotFound(f"No API version {version!r}; known: {versions_of(app)}")
            # PERF: generated once per root path and version, then served as ready bytes.
            document = document_of(app, root_path=root, api_version=version)
            body = cache[(root, version)] = msgspec.json.encode(document)
        return Response(body, media_type="application/json")

    app.add_route(spec_url, openapi_json, ["GET"], name="openapi", include_in_schema=False)
    if page_url is None or (docs_url is None and not docs.available()):
        # NOTE: the app's default docs_url is skipped without the assets; an explicit one fails.
        return
    docs.asset("swagger-ui-bundle.js")  # NOTE: fails at start-up, not on first view, if missing
    assets_url = page_url.rstrip("/") + "/assets"
    spec_link = _relative(spec_url, page_url)
    pages: list[bytes] = []

    async def docs_page() -> Response:
        if not pages:  # NOTE: built on first view, once every route is known
            versions = versions_of(app)
            urls = [(v, f"{spec_link}?version={v}") for v in versions]
            pages.append(
                docs.swagger_ui_html(
                    title=f"{getattr(app, 'title', 'celeris')} - docs",
                    openapi_url=spec_link,
                    assets_url=_relative(assets_url, page_url),
                    urls=[("all", spec_link), *urls] if urls else None,
                ).encode()
            )
        return HTMLResponse(pages[0])

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
