"""CSRF in headless Chromium: a real form post passes, the same post from another origin fails."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, block_outside, free_port, need_chromium, serving

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def showcase(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    folder = tmp_path_factory.mktemp("csrf-browser")
    argv = [
        sys.executable,
        "-m",
        "celeris",
        "serve",
        "examples.showcase.app:app",
        "--port",
        str(port),
    ]
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'app.db'}",
        "SECRET_KEY": "browser-test-secret-key",
    }
    with serving(argv, f"http://127.0.0.1:{port}/api/notes", cwd=ROOT, env=env):
        yield port


def test_form_post_through_csrf_and_a_cross_origin_replay(showcase: int, tmp_path: Path) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    site = f"http://127.0.0.1:{showcase}"
    evil = f"http://localhost:{showcase}/evil.html"  # another origin (and another site)
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            block_outside(page, outside)
            page.goto(site + "/")
            token = page.get_attribute("#hello-form input[name=csrf_token]", "value")
            assert token
            page.fill("#hello-form input[name=name]", "Ann")
            with page.expect_navigation():
                page.click("#hello-form button")
            page.wait_for_selector("#whoami:has-text('Ann')")
            assert "Hello, Ann!" in page.inner_text(".flash")
            page.screenshot(path=str(tmp_path / "signed-in.png"), full_page=True)

            cookies = {c["name"]: c for c in context.cookies(site)}
            session = cookies["session"]
            assert session["httpOnly"] is True
            assert session["sameSite"] == "Lax"
            assert session["secure"] is False  # plain HTTP here; Secure on HTTPS
            assert session["path"] == "/"

            # The same form, token included, served from another origin and submitted there.
            attack = (
                f'<form id="f" method="post" action="{site}/hello">'
                f'<input name="name" value="Eve"><input name="csrf_token" value="{token}">'
                "</form><script>document.getElementById('f').submit()</script>"
            )
            page.route(evil, lambda route: route.fulfill(content_type="text/html", body=attack))
            with page.expect_navigation(url=f"{site}/hello"):
                page.goto(evil)
            assert "403 Forbidden" in page.content()
            assert "cross-site" in page.inner_text("body")
            page.screenshot(path=str(tmp_path / "refused.png"), full_page=True)

            page.goto(site + "/")
            assert "Ann" in page.inner_text("#whoami")  # Eve's post changed nothing
        finally:
            browser.close()
    assert outside == []
    if os.environ.get("CELERIS_KEEP_SCREENSHOTS"):
        for name in ("signed-in.png", "refused.png"):
            Path(os.environ["CELERIS_KEEP_SCREENSHOTS"], name).write_bytes(
                (tmp_path / name).read_bytes()
            )
