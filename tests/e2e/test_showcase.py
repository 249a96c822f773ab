"""The showcase, started the way `make demo` starts it, used over real HTTP and in headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CELERIS_CHROMIUM", "/usr/bin/chromium")
REQUIRE = os.environ.get("CELERIS_REQUIRE_SERVICES") == "1"

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def showcase() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celeris",
            "serve",
            "examples.showcase.app:app",
            "--port",
            str(port),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/api/notes", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"the showcase did not start: {err[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        assert proc.wait(timeout=15) == 0
        if proc.stderr:
            proc.stderr.close()


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
        assert client.get("/docs").status_code == 200
        assert client.get("/healthz").json()["status"] == "ok"
        # The first run created the database through the migrations, welcome note included.
        assert client.get("/api/notes").json()[0]["title"] == "Welcome to celeris"
        assert client.get("/openapi.json").json()["info"]["title"] == "celeris showcase"


def test_page_in_chromium(showcase: str) -> None:
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        if REQUIRE:
            pytest.fail(f"CELERIS_REQUIRE_SERVICES=1 but there is no Chromium at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page()

            def guard(route: object) -> None:
                request = route.request  # type: ignore[attr-defined]
                if urlsplit(request.url).hostname in {"127.0.0.1", "localhost"}:
                    route.continue_()  # type: ignore[attr-defined]
                else:
                    outside.append(request.url)
                    route.abort()  # type: ignore[attr-defined]

            page.route("**/*", guard)
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
