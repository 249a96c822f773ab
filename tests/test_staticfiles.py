from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from celeris import App, PlainTextResponse, Request, Response
from celeris.staticfiles import StaticFiles
from celeris.testing import TestClient


@pytest.fixture
def site(tmp_path: Path) -> Path:
    root = tmp_path / "static"
    (root / "css").mkdir(parents=True)
    (root / "css" / "app.css").write_text("body{}")
    (root / "big.bin").write_bytes(bytes(range(256)) * 1000)
    (root / "docs").mkdir()
    (root / "docs" / "index.html").write_text("<h1>docs</h1>")
    (root / "index.html").write_text("<h1>home</h1>")
    (root / "%2e%2e").write_text("literal name")
    (tmp_path / "secret.txt").write_text("top secret")
    return root


def client(app: StaticFiles, root_path: str = "") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, root_path=root_path)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_serves_files_with_validators(site: Path) -> None:
    async with client(StaticFiles(site)) as c:
        r = await c.get("/css/app.css")
        assert r.status_code == 200
        assert r.text == "body{}"
        assert r.headers["content-type"] == "text/css; charset=utf-8"
        etag = r.headers["etag"]
        r2 = await c.get("/css/app.css", headers={"if-none-match": etag})
        assert r2.status_code == 304
        assert r2.content == b""
        r3 = await c.get("/big.bin", headers={"range": "bytes=256-511"})
        assert r3.status_code == 206
        assert r3.content == bytes(range(256))
        r4 = await c.head("/big.bin")
        assert r4.status_code == 200
        assert r4.content == b""
        assert r4.headers["content-length"] == "256000"


async def test_mounted_under_root_path(site: Path) -> None:
    async with client(StaticFiles(site), root_path="/static") as c:
        r = await c.get("/static/css/app.css")
    assert r.status_code == 200
    assert r.text == "body{}"


async def test_method_not_allowed(site: Path) -> None:
    async with client(StaticFiles(site)) as c:
        r = await c.post("/css/app.css")
    assert r.status_code == 405
    assert r.headers["allow"] == "GET, HEAD"
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "path",
    [
        "/../secret.txt",
        "/css/../../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/css/%2e%2e/%2e%2e/secret.txt",
        "/..%2fsecret.txt",
        "/..%5csecret.txt",
        "/css\\..\\..\\secret.txt",
        "/%00secret.txt",
        "//etc/passwd",
        "/nope.txt",
        "/css",
    ],
)
async def test_no_escape_and_misses_are_404(site: Path, path: str) -> None:
    async with client(StaticFiles(site)) as c:
        r = await c.get(path)
    assert r.status_code == 404
    assert "top secret" not in r.text


@pytest.mark.parametrize("path", ["../secret.txt", "a\x00b", "a\\b", "/x/../../secret.txt"])
def test_resolve_refuses_unsafe(site: Path, path: str) -> None:
    assert StaticFiles(site).resolve(path) is None


def test_resolve_absolute_stays_inside(site: Path) -> None:
    resolved = StaticFiles(site).resolve("/etc/passwd")
    assert resolved == os.path.join(os.path.realpath(site), "etc", "passwd")


async def test_literal_percent_names_are_plain_files(site: Path) -> None:
    async with client(StaticFiles(site)) as c:
        r = await c.get("/%252e%252e")  # decoded once: a file literally named %2e%2e
    assert r.status_code == 200
    assert r.text == "literal name"


async def test_symlinks_out_refused_unless_allowed(site: Path, tmp_path: Path) -> None:
    (site / "link.txt").symlink_to(tmp_path / "secret.txt")
    (site / "linkdir").symlink_to(tmp_path, target_is_directory=True)
    async with client(StaticFiles(site)) as c:
        assert (await c.get("/link.txt")).status_code == 404
        assert (await c.get("/linkdir/secret.txt")).status_code == 404
    async with client(StaticFiles(site, follow_symlinks=True)) as c:
        r = await c.get("/link.txt")
        assert r.status_code == 200
        assert r.text == "top secret"


async def test_symlink_inside_is_fine(site: Path) -> None:
    (site / "alias.css").symlink_to(site / "css" / "app.css")
    async with client(StaticFiles(site)) as c:
        assert (await c.get("/alias.css")).text == "body{}"


async def test_html_mode(site: Path) -> None:
    async with client(StaticFiles(site, html=True)) as c:
        r = await c.get("/")
        assert r.status_code == 200
        assert r.text == "<h1>home</h1>"
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        r = await c.get("/docs/")
        assert r.text == "<h1>docs</h1>"
        r = await c.get("/docs?x=1")
        assert r.status_code == 307
        assert r.headers["location"] == "/docs/?x=1"
        r = await c.get("/missing")
        assert r.status_code == 404
        assert "content-type" in r.headers
    (site / "404.html").write_text("<p>lost</p>")
    async with client(StaticFiles(site, html=True)) as c:
        r = await c.get("/missing")
        assert r.status_code == 404
        assert r.text == "<p>lost</p>"
        r = await c.get("/../secret.txt")
        assert r.status_code == 404
        assert r.text == "<p>lost</p>"


async def test_directory_without_html_is_404(site: Path) -> None:
    async with client(StaticFiles(site)) as c:
        assert (await c.get("/docs/")).status_code == 404


def test_missing_directory_named_in_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(RuntimeError, match="nowhere"):
        StaticFiles(missing)
    StaticFiles(missing, check_dir=False)  # allowed when asked


async def test_websocket_scope_is_closed(site: Path) -> None:
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await StaticFiles(site)({"type": "websocket", "path": "/"}, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008, "reason": ""}]


# --- mounted in an App: its errors go through the App's handlers; SPA fallback -------------


def spa(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text("<div id=app></div>")
    (root / "assets" / "app.js").write_text("boot()")
    return root


def test_an_app_404_handler_covers_a_mounted_static_folder(site: Path) -> None:
    app = App(openapi_url=None)
    app.mount("/static", StaticFiles(site))

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return PlainTextResponse(f"nothing at {request.url.path}", status_code=404)

    with TestClient(app) as c:
        r = c.get("/static/nope.css")
        assert (r.status_code, r.text) == (404, "nothing at /static/nope.css")
        assert c.get("/elsewhere").text == "nothing at /elsewhere"
        assert c.get("/static/css/app.css").text == "body{}"
        wrong = c.post("/static/css/app.css")
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == "GET, HEAD"


def test_a_mounted_static_404_through_function_middleware_too(site: Path) -> None:
    app = App(openapi_url=None)
    app.mount("/static", StaticFiles(site))

    @app.middleware
    async def tag(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["x-tag"] = "1"
        return response

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("custom", status_code=404)

    with TestClient(app) as c:
        r = c.get("/static/nope.css")
        assert (r.status_code, r.text, r.headers["x-tag"]) == (404, "custom", "1")


def test_a_browser_gets_an_html_404_from_a_mounted_folder(site: Path) -> None:
    app = App(openapi_url=None)
    app.mount("/static", StaticFiles(site))
    with TestClient(app) as c:
        r = c.get("/static/nope.css", headers={"accept": "text/html,*/*;q=0.8"})
        assert r.status_code == 404
        assert r.headers["content-type"].startswith("text/html")
        assert "404 Not Found" in r.text
        assert c.get("/static/nope.css").headers["content-type"] == "application/problem+json"


async def test_standalone_errors_are_still_answered(site: Path) -> None:
    async with client(StaticFiles(site)) as c:
        r = await c.get("/missing.txt")
        assert r.status_code == 404
        assert r.json()["detail"] == "No such file."


def test_spa_fallback_serves_the_page_for_routes_not_for_missing_assets(tmp_path: Path) -> None:
    app = App(openapi_url=None)
    app.mount("/app", StaticFiles(spa(tmp_path), html=True, fallback="index.html"))
    with TestClient(app) as c:
        for path in ("/app/users/7", "/app/settings", "/app/", "/app/deep/er/route"):
            r = c.get(path)
            assert (r.status_code, r.text) == (200, "<div id=app></div>"), path
            assert r.headers["content-type"].startswith("text/html")
        assert c.get("/app/assets/app.js").text == "boot()"
        assert c.get("/app/assets/missing.js").status_code == 404
        assert c.get("/app/favicon.ico").status_code == 404
        assert c.head("/app/users/7").status_code == 200


def test_spa_fallback_must_be_a_file_in_the_folder(tmp_path: Path) -> None:
    root = spa(tmp_path)
    with pytest.raises(RuntimeError, match="fallback 'nope.html'"):
        StaticFiles(root, fallback="nope.html")
    with pytest.raises(RuntimeError, match="fallback"):
        StaticFiles(root, fallback="../secret.txt")
