"""The offline docs UI: Swagger UI's page and its assets, read from the installed package.

The assets come from the ``swagger-ui-bundle-v2`` distribution (Swagger UI 5, ``celeris[docs]``), so ``/docs``
works with no internet: the page references only URLs under the app's own assets path.
"""

from __future__ import annotations

import hashlib
import html
import json
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Final, NamedTuple

try:
    import swagger_ui_bundle  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - exercised only without the docs extra
    swagger_ui_bundle = None

__all__ = ["ASSET_NAMES", "Asset", "DocsUnavailable", "asset", "swagger_ui_html"]

# SECURITY: only these files are served; a request can never name another path on disk.
ASSET_NAMES: Final = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui-standalone-preset.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
    "oauth2-redirect.html": "text/html; charset=utf-8",
    "oauth2-redirect.js": "text/javascript; charset=utf-8",
}


class DocsUnavailable(RuntimeError):
    """The docs UI assets are not installed."""


class Asset(NamedTuple):
    """One static file of the docs UI."""

    body: bytes
    media_type: str
    etag: str


def _assets_dir() -> Path:
    if swagger_ui_bundle is None:
        raise DocsUnavailable(
            "celeris.openapi.E010: the docs UI needs swagger-ui-bundle-v2; "
            "install it with `pip install celeris[docs]` or pass docs_url=None"
        )
    return Path(swagger_ui_bundle.swagger_ui_path)


def available() -> bool:
    """Tell whether the docs UI assets are installed."""
    return swagger_ui_bundle is not None


@lru_cache(maxsize=len(ASSET_NAMES))
def asset(name: str) -> Asset | None:
    """Return the asset called ``name``, or None if it is not one of ``ASSET_NAMES``."""
    media_type = ASSET_NAMES.get(name)
    if media_type is None:
        return None
    body = (_assets_dir() / name).read_bytes()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Asset(body, media_type, etag)


def swagger_ui_html(
    *,
    title: str,
    openapi_url: str,
    assets_url: str,
    oauth2_redirect_url: str | None = None,
    urls: Sequence[tuple[str, str]] | None = None,
) -> str:
    """Return the Swagger UI page for the spec at ``openapi_url`` with assets under ``assets_url``.

    ``urls`` lists (name, url) of several specs (API versions) to choose from in the top bar.
    """
    assets = assets_url.rstrip("/")
    config: dict[str, object] = {
        "url": openapi_url,
        "dom_id": "#swagger-ui",
        "deepLinking": True,
        "persistAuthorization": True,
        "displayRequestDuration": True,
        # SECURITY/offline: the default validator badge calls validator.swagger.io.
        "validatorUrl": None,
    }
    if oauth2_redirect_url is not None:
        config["oauth2RedirectUrl"] = oauth2_redirect_url
    if urls:
        config["urls"] = [{"name": name, "url": url} for name, url in urls]
        config["urls.primaryName"] = urls[0][0]
    # NOTE: "</" is escaped so the JSON can never close the script element.
    config_js = json.dumps(config).replace("</", "<\\/")
    esc = html.escape
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<link rel="stylesheet" href="{esc(assets)}/swagger-ui.css">
<link rel="icon" type="image/png" href="{esc(assets)}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{esc(assets)}/swagger-ui-bundle.js"></script>
<script src="{esc(assets)}/swagger-ui-standalone-preset.js"></script>
<script>
window.ui = SwaggerUIBundle(Object.assign({config_js}, {{
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  plugins: [SwaggerUIBundle.plugins.DownloadUrl],
  layout: "StandaloneLayout"
}}));
</script>
</body>
</html>
"""
