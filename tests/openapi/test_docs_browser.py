"""The docs page in headless Chromium with the network cut off: operations listed, "try it out" works."""

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

CHROMIUM = os.environ.get("CELERIS_CHROMIUM", "/usr/bin/chromium")
REQUIRE = os.environ.get("CELERIS_REQUIRE_SERVICES") == "1"
HERE = Path(__file__).parent

pytestmark = pytest.mark.browser


def _need(condition: bool, reason: str) -> None:
    if condition:
        return
    if REQUIRE:
        pytest.fail(f"CELERIS_REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "sample_app:app",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        cwd=HERE,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(url + "/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"the test server did not start: {err[-2000:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()


def test_docs_page_lists_operations_and_try_it_out_executes(server: str) -> None:
    _need(
        Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is not None, f"no Chromium at {CHROMIUM}"
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "playwright (Python) is not installed")
    blocked: list[str] = []
    local = {"127.0.0.1", "localhost"}

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
                if urlsplit(request.url).hostname in local:
                    route.continue_()  # type: ignore[attr-defined]
                else:
                    blocked.append(request.url)
                    route.abort()  # type: ignore[attr-defined]

            page.route("**/*", guard)
            page.goto(server + "/docs")
            page.wait_for_selector(".opblock", timeout=30_000)
            assert "Sample API" in page.inner_text(".info .title")
            summaries = page.locator(".opblock-summary-path").all_inner_texts()
            paths = {s.replace("\u200b", "").strip() for s in summaries}
            assert {"/items/{item_id}", "/items/", "/shapes", "/token", "/upload"} <= paths

            block = page.locator(".opblock-get", has=page.locator("[data-path='/items/{item_id}']"))
            block.locator(".opblock-summary").click()
            block.locator("button.try-out__btn").click()
            block.locator("input[placeholder='item_id']").fill("1")
            block.locator("button.execute").click()
            live = block.locator(".live-responses-table .response .response-col_status").first
            live.wait_for(timeout=30_000)
            assert live.inner_text().strip().startswith("200")
            body = block.locator(
                ".live-responses-table .response-col_description pre"
            ).first.inner_text()
            assert '"hammer"' in body
        finally:
            browser.close()
    assert blocked == []
