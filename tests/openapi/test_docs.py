"""The offline docs page and its assets."""

from __future__ import annotations

import re

from celeris.openapi.docs import ASSET_NAMES, asset, available, swagger_ui_html


def test_page_references_only_local_assets() -> None:
    page = swagger_ui_html(
        title="My <API>", openapi_url="/openapi.json", assets_url="/docs/assets/"
    )
    assert "<title>My &lt;API&gt;</title>" in page
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert urls
    assert all(url.startswith("/docs/assets/") for url in urls)
    assert "http://" not in page
    assert "https://" not in page
    assert '"validatorUrl": null' in page


def test_config_cannot_break_out_of_the_script() -> None:
    page = swagger_ui_html(title="t", openapi_url="/x</script><script>alert(1)", assets_url="/a")
    assert "</script><script>alert(1)" not in page


def test_assets_are_served_from_the_installed_package() -> None:
    assert available()
    for name, media_type in ASSET_NAMES.items():
        found = asset(name)
        assert found is not None
        assert found.media_type == media_type
        assert len(found.body) > 100
        assert found.etag.startswith('"')
    assert b"SwaggerUIBundle" in asset("swagger-ui-bundle.js").body  # type: ignore[union-attr]


def test_unknown_or_escaping_names_are_refused() -> None:
    for name in ("../__init__.py", "index.html", "", "swagger-ui.js.map", "/etc/passwd"):
        assert asset(name) is None


def test_several_specs_can_be_offered() -> None:
    page = swagger_ui_html(
        title="t",
        openapi_url="openapi.json",
        assets_url="docs/assets",
        urls=[("all", "openapi.json"), ("v1", "openapi.json?version=v1")],
    )
    assert (
        '"urls": [{"name": "all", "url": "openapi.json"}, {"name": "v1", "url": "openapi.json?version=v1"}]'
        in page
    )
    assert '"urls.primaryName": "all"' in page
