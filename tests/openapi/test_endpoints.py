"""The spec, docs page and asset routes an app serves."""

from __future__ import annotations

import re

from openapi_spec_validator import validate

from celeris import App, Router
from celeris.openapi.endpoints import install
from celeris.testing import TestClient

from .sample_app import app as sample


def small_app(**options: object) -> App:
    app = App(title="Small", **options)  # type: ignore[arg-type]

    @app.get("/ping")
    async def ping() -> str:
        return "pong"

    install(app)
    return app


def test_openapi_json_is_served_valid_and_cached() -> None:
    with TestClient(sample) as client:
        first = client.get("/openapi.json")
        assert first.status_code == 200
        assert first.headers["content-type"] == "application/json"
        validate(first.json())
        assert client.get("/openapi.json").content == first.content


def test_docs_page_uses_only_app_served_assets() -> None:
    with TestClient(sample) as client:
        page = client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert urls
        assert all(url.startswith("docs/assets/") for url in urls)
        assert '"url": "openapi.json"' in page.text
        for url in urls:
            asset = client.get("/" + url)
            assert asset.status_code == 200
            assert asset.headers["cache-control"] == "public, max-age=86400"


def test_assets_revalidate_with_etag_and_unknown_names_are_404() -> None:
    with TestClient(sample) as client:
        asset = client.get("/docs/assets/swagger-ui-bundle.js")
        assert asset.headers["content-type"].startswith("text/javascript")
        etag = asset.headers["etag"]
        again = client.get("/docs/assets/swagger-ui-bundle.js", headers={"if-none-match": etag})
        assert again.status_code == 304
        assert again.content == b""
        for name in ("index.html", "..%2F__init__.py", "nope.js"):
            missing = client.get(f"/docs/assets/{name}")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"


def test_root_path_becomes_the_server_url() -> None:
    with TestClient(small_app(), root_path="/api") as client:
        doc = client.get("/openapi.json").json()
        assert doc["servers"] == [{"url": "/api"}]
    with TestClient(small_app()) as client:
        assert "servers" not in client.get("/openapi.json").json()


def test_urls_can_be_moved_or_switched_off() -> None:
    app = small_app(openapi_url="/spec/v1.json", docs_url="/reference/ui")
    with TestClient(app) as client:
        assert client.get("/spec/v1.json").status_code == 200
        page = client.get("/reference/ui").text
        assert '"url": "../spec/v1.json"' in page
        assert 'href="ui/assets/swagger-ui.css"' in page
        assert client.get("/reference/ui/assets/swagger-ui.css").status_code == 200
        assert client.get("/openapi.json").status_code == 404
    with TestClient(small_app(docs_url=None)) as client:
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 404
    with TestClient(small_app(openapi_url=None)) as client:
        assert client.get("/openapi.json").status_code == 404
        assert client.get("/docs").status_code == 404


def test_install_is_idempotent() -> None:
    app = small_app()
    install(app)
    with TestClient(app) as client:
        assert client.get("/openapi.json").status_code == 200


def test_unknown_api_version_is_404() -> None:
    with TestClient(small_app()) as client:
        r = client.get("/openapi.json", params={"version": "v9"})
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
        assert "v9" in r.json()["detail"]
        assert '"urls"' not in client.get("/docs").text


def test_versioned_routers_are_documented_per_version_end_to_end() -> None:
    app = App(title="Versions")
    v1, v2 = Router(version="v1", tags=["items"]), Router(version="v2", tags=["items"])

    @v1.get("/items/{item_id}", deprecated=True)
    async def read_item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @v2.get("/items/{item_id}")
    async def read_item_v2(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    app.include_router(v1)
    app.include_router(v2)
    with TestClient(app) as client:
        assert client.get("/v1/items/1").headers["deprecation"] == "true"
        assert "deprecation" not in client.get("/v2/items/1").headers
        both = client.get("/openapi.json").json()
        validate(both)
        assert set(both["paths"]) == {"/v1/items/{item_id}", "/v2/items/{item_id}"}
        only = client.get("/openapi.json", params={"version": "v1"}).json()
        validate(only)
        assert list(only["paths"]) == ["/v1/items/{item_id}"]
        operation = only["paths"]["/v1/items/{item_id}"]["get"]
        assert operation["deprecated"] is True
        assert operation["operationId"].startswith("v1.items.")
        assert "v1" in only["info"]["title"]
        page = client.get("/docs").text
        assert "openapi.json?version=v1" in page
        assert "openapi.json?version=v2" in page


def test_deprecation_header_and_json_415_are_documented() -> None:
    app = App()

    @app.post("/old", deprecated=True, status_code=201)
    async def old(data: dict[str, int]) -> dict[str, int]:
        return data

    with TestClient(app) as client:
        doc = client.get("/openapi.json").json()
        validate(doc)
        responses = doc["paths"]["/old"]["post"]["responses"]
        assert responses["201"]["headers"]["Deprecation"]["schema"] == {"type": "string"}
        assert "415" in responses
        r = client.post("/old", content=b'{"a": 1}', headers={"content-type": "text/csv"})
        assert r.status_code == 415
        assert r.headers["deprecation"] == "true"


def test_an_app_route_at_a_docs_url_wins_over_the_default() -> None:
    app = App()

    @app.get("/docs")
    async def my_docs() -> str:
        return "my docs"

    with TestClient(app) as client:
        assert client.get("/docs").text == "my docs"
        assert client.get("/openapi.json").status_code == 200
    own_spec = App()

    @own_spec.get("/openapi.json")
    async def my_spec() -> dict[str, str]:
        return {"mine": "yes"}

    with TestClient(own_spec) as client:
        assert client.get("/openapi.json").json() == {"mine": "yes"}
        assert client.get("/docs").status_code == 404
