"""The showcase, started the way `make demo` starts it, used over real HTTP and in headless Chromium."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS, block_outside, free_port, need_chromium, serving

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def showcase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    database = tmp_path_factory.mktemp("showcase") / "app.db"
    url = f"http://127.0.0.1:{port}"
    argv = [
        sys.executable,
        "-m",
        "celeris",
        "serve",
        "examples.showcase.app:app",
        "--port",
        str(port),
    ]
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    with serving(argv, url + "/api/notes", cwd=ROOT, env=env) as proc:
        yield url
        proc.terminate()
        assert proc.wait(timeout=15) == 0


def test_api_over_real_http(showcase: str) -> None:
    with httpx.Client(base_url=showcase) as client:
        created = client.post("/api/notes", json={"title": "over http", "body": "b"})
        assert created.status_code == 201
        note = created.json()
        assert client.get(f"/api/notes/{note['id']}").json() == note
        bad = client.post("/api/notes", json={"title": ""})
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        assert client.get("/api/notes/99999").status_code == 404
        # An offset past SQL's BIGINT is refused before it reaches the driver (was a 500).
        assert client.get("/api/notes", params={"offset": 2**63}).status_code == 422
        assert client.get("/docs").status_code == 200
        assert client.get("/healthz").json()["status"] == "ok"
        # The first run created the database through the migrations, welcome note included.
        assert client.get("/api/notes").json()[0]["title"] == "Welcome to celeris"
        assert client.get("/openapi.json").json()["info"]["title"] == "celeris showcase"


def test_page_in_chromium(showcase: str) -> None:
    need_chromium()
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            block_outside(page, outside)
            page.goto(showcase + "/")
            assert page.title() == "celeris showcase"
            # A note added through the form appears in the list (JSON API round trip).
            page.fill("#note-form input[name=title]", "from the browser")
            page.fill("#note-form textarea[name=body]", "typed in Chromium")
            page.click("#note-form button")
            page.wait_for_selector("#notes li:has-text('from the browser')", timeout=10_000)
            # The Server-Sent Events clock replaces its placeholder.
            page.wait_for_function(
                "document.getElementById('clock').textContent !== 'waiting…'", timeout=10_000
            )
            # A chat message goes out over the WebSocket and comes back.
            page.fill("#chat-form input[name=message]", "hello room")
            page.click("#chat-form button")
            page.wait_for_selector("#messages li:has-text('hello room')", timeout=10_000)
        finally:
            browser.close()
    assert outside == []
    with httpx.Client(base_url=showcase) as client:
        titles = [n["title"] for n in client.get("/api/notes?limit=100").json()]
    assert "from the browser" in titles
