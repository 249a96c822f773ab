"""The docs page in headless Chromium with the network cut off: operations listed, "try it out" works."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS, block_outside, free_port, need_chromium, serving

HERE = Path(__file__).parent

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "sample_app:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    url = f"http://127.0.0.1:{port}"
    with serving(argv, url + "/openapi.json", cwd=HERE, env=env):
        yield url


def test_docs_page_lists_operations_and_try_it_out_executes(server: str) -> None:
    need_chromium()
    blocked: list[str] = []

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()

            block_outside(page, blocked)
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
