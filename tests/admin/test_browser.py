"""Headless Chromium drives the admin: sign in as staff, create, edit with a validation error,
inline-add a related row, filter, bulk-act, delete with confirmation, read the audit log.

Screenshots of each page go to ``tests/artifacts/admin/`` (git-ignored)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, block_outside, free_port, need_chromium, serving

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "tests" / "artifacts" / "admin"
PASSWORD = "correct horse battery staple"
HAS_TICKETS = importlib.util.find_spec("celeris.tickets") is not None

# The library example, plus error tickets (when celeris.tickets is there) and a failing route.
APP = """
import importlib.util

from examples.admin import build

app, db, auth, admin = build()

if importlib.util.find_spec("celeris.tickets") is not None:
    from celeris.tickets import Tickets

    admin.tickets = Tickets(app=app, db=db)


@app.get("/boom")
async def boom() -> None:
    raise LookupError("<i>no such shelf</i>")
"""

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("admin-browser")
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'app.db'}",
        "SECRET_KEY": "browser-test-secret-key-" + "z" * 20,
        "MAIL_URL": f"file://{folder / 'outbox'}",
    }
    for argv in (
        ["seed", "--authors", "3", "--books", "30", "--tags", "3"],
        ["staff", "staff@example.org", PASSWORD],
    ):
        subprocess.run(
            [sys.executable, "-m", "examples.admin", *argv],
            cwd=folder,
            env=env,
            check=True,
            timeout=60,
        )
    (folder / "adminapp.py").write_text(APP)
    env["PYTHONPATH"] += os.pathsep + str(folder)
    argv = [sys.executable, "-m", "celeris", "serve", "adminapp:app", "--port", str(port)]
    with serving(argv, f"http://127.0.0.1:{port}/auth/login", cwd=folder, env=env):
        yield f"http://127.0.0.1:{port}"


def test_staff_walks_through_the_admin(site: str) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.set_default_timeout(15_000)
            block_outside(page, outside)

            def shot(name: str) -> None:
                page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

            # anonymous: the admin sends the browser to the login page, then back
            page.goto(site + "/admin/")
            assert "/auth/login" in page.url
            page.fill("#email", "staff@example.org")
            page.fill("#password", PASSWORD)
            with page.expect_navigation(url=site + "/admin/"):
                page.click("button[type=submit]")
            assert "Recent actions" in page.inner_text("main")
            shot("01-dashboard")

            # create an author: an empty name first, refused beside the field
            page.click("nav.side >> text=Authors")
            page.click("text=Add author")
            page.fill("#f-email", "ursula@example.org")
            page.click("button[name=_save]")
            assert page.get_attribute("#f-name", "aria-invalid") == "true"
            assert "This field is required." in page.inner_text("#f-name-error")
            shot("02-create-refused")
            page.fill("#f-name", "Ursula K. Le Guin")
            page.fill("#f-born", "1929-10-21")
            # inline-add a related row (a book) on the author's form
            page.fill("#f-books-0-title", "A Wizard of Earthsea")
            page.fill("#f-books-0-pages", "183")
            page.click("button[name=_continue]")
            assert "Saved author" in page.inner_text("main")
            assert page.input_value("#f-books-0-title") == "A Wizard of Earthsea"
            shot("03-edit-with-inline")

            # edit a book with a validation error (price has at most 6 digits before the point)
            page.goto(site + "/admin/library_book/1/")
            page.fill("#f-price", "12345678.5")
            page.click("button[name=_continue]")
            assert "digits before" in page.inner_text("#f-price-error")
            shot("04-edit-refused")
            page.fill("#f-price", "12.50")
            page.click("button[name=_continue]")
            assert page.input_value("#f-price") == "12.50"

            # the foreign key's search box (progressive enhancement) finds an author
            page.fill("input[aria-controls=f-author_id-results]", "Ursula")
            page.click("#f-author_id-results button")
            assert (
                page.eval_on_selector("#f-author_id", "e => e.options[e.selectedIndex].text")
                == "Ursula K. Le Guin"
            )

            # filter, select all on the page, bulk-act
            page.goto(site + "/admin/library_book/")
            page.select_option("#f-published", "0")
            page.click("form.toolbar >> button[type=submit]")
            assert "f.published=0" in page.url
            shot("05-list-filtered")
            page.check("#select-all")
            page.select_option("#action", "publish")
            page.click("button[name=go]")
            assert "Mark as published: done on" in page.inner_text("main")
            shot("06-bulk-done")

            # delete with a confirmation that lists what cascades
            page.goto(site + "/admin/library_author/")
            page.click("tr:has-text('Ursula K. Le Guin') >> a")
            page.click("a.danger")
            assert "Also deleted: 1 Books" in page.inner_text("main")
            assert "A Wizard of Earthsea" in page.inner_text("main")
            shot("07-delete-confirm")
            page.click("#confirm-delete")
            assert "Deleted author" in page.inner_text("main")

            # the audit log: every step above, with before and after values
            page.click("nav.side >> text=Audit log")
            log = page.inner_text("main")
            for word in ("add", "change", "action:publish", "delete", "staff@example.org"):
                assert word in log
            shot("08-audit-log")

            # an error ticket from a failing route (once celeris.tickets is merged)
            if HAS_TICKETS:
                failed = page.request.get(site + "/boom", headers={"accept": "application/json"})
                assert failed.status == 500
                page.click("nav.side >> text=Error tickets")
                page.click("text=LookupError")
                assert "no such shelf" in page.inner_text("main")
                shot("10-ticket")

            # keyboard: the skip link is the first stop and moves focus to the content
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.textContent") == "Skip to content"

            # dark scheme and a phone-sized screen
            dark = browser.new_page(color_scheme="dark", viewport={"width": 390, "height": 844})
            dark.context.add_cookies(page.context.cookies())
            dark.goto(site + "/admin/library_book/")
            dark.screenshot(path=str(SHOTS / "09-list-dark-phone.png"), full_page=True)
            background = dark.evaluate("getComputedStyle(document.body).backgroundColor")
            assert background == "rgb(20, 22, 27)"
        finally:
            browser.close()
    assert outside == []
