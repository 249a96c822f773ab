"""The showcase, started the way `make demo` starts it, used over real HTTP and in headless Chromium."""

from __future__ import annotations

import email
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as email_policy
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import sync_playwright

from tests.browser import CHROMIUM, CHROMIUM_ARGS, block_outside, free_port, need_chromium, serving

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(os.environ.get("CELERIS_SCREENSHOTS", "/tmp/celeris-showcase-screenshots"))
SCREENSHOTS.mkdir(parents=True, exist_ok=True)

pytestmark = pytest.mark.e2e

ADMIN = {"email": "admin@example.org", "password": "a long pass phrase for the admin"}
BROWSER = {"sec-fetch-site": "same-origin"}  # what a browser sends with a same-site request


@dataclass
class Showcase:
    url: str
    database: Path
    outbox: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Showcase]:
    port = free_port()
    folder = tmp_path_factory.mktemp("showcase")
    database, outbox = folder / "app.db", folder / "outbox"
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
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        "MAIL_URL": f"file://{outbox}",
        "STORAGE_URL": f"file://{folder / 'media'}",
        "SECRET_KEY": "showcase-e2e-secret-key",
    }
    with serving(argv, url + "/api/notes", cwd=ROOT, env=env) as proc:
        yield Showcase(url, database, outbox, env)
        proc.terminate()
        assert proc.wait(timeout=15) == 0


@pytest.fixture(scope="module")
def showcase(running: Showcase) -> str:
    return running.url


def mails(outbox: Path) -> list[EmailMessage]:
    found = []
    for path in sorted(outbox.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email_policy)
        assert isinstance(message, EmailMessage)
        found.append(message)
    return found


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
            page.screenshot(path=str(SCREENSHOTS / "home.png"), full_page=True)
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
            # A file uploaded from the page comes back through its signed link.
            page.set_input_files(
                "#upload-form input[name=file]",
                {"name": "page.txt", "mimeType": "text/plain", "buffer": b"from the page"},
            )
            page.click("#upload-form button")
            link = page.wait_for_selector("#uploads a:has-text('uploads/page')", timeout=10_000)
            assert link is not None
            href = link.get_attribute("href")
            assert href
            assert "signature=" in href
            assert page.request.get(showcase + href).body() == b"from the page"
            page.screenshot(path=str(SCREENSHOTS / "used.png"), full_page=True)
        finally:
            browser.close()
    assert outside == []
    with httpx.Client(base_url=showcase) as client:
        titles = [n["title"] for n in client.get("/api/notes?limit=100").json()]
    assert "from the browser" in titles


def test_cached_list_is_dropped_when_a_note_is_committed(running: Showcase) -> None:
    with httpx.Client(base_url=running.url) as client:
        before = [n["title"] for n in client.get("/api/notes?limit=100").json()]
        # A row written behind the app's back is not seen: the list comes from the cache ...
        with sqlite3.connect(running.database) as connection:
            connection.execute(
                "INSERT INTO note (title, body, created_at) VALUES (?, '', ?)",
                ("behind the cache", "2026-01-01 00:00:00.000000"),
            )
        assert [n["title"] for n in client.get("/api/notes?limit=100").json()] == before
        # ... until the app commits a note, which invalidates every cached page of notes.
        assert client.post("/api/notes", json={"title": "through the api"}).status_code == 201
        after = [n["title"] for n in client.get("/api/notes?limit=100").json()]
    assert after == [*before, "behind the cache", "through the api"]


def test_sign_in_sends_a_welcome_mail(running: Showcase) -> None:
    with httpx.Client(base_url=running.url, headers=BROWSER) as client:
        signed_in = client.post("/hello", data={"name": "Grace", "email": "grace@example.org"})
        assert signed_in.status_code == 303
        bad = client.post(
            "/hello", data={"name": "Eve", "email": "eve@example.org\r\nBcc: x@y.org"}
        )
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
    [welcome] = [m for m in mails(running.outbox) if m["To"] == "grace@example.org"]
    assert welcome["Subject"] == "Welcome to the celeris showcase, Grace!"
    body = welcome.get_body(("plain",))
    assert body is not None
    assert "Hello Grace," in body.get_content()
    assert not [m for m in mails(running.outbox) if "x@y.org" in str(m)]


def test_upload_is_stored_and_served_through_its_signed_url(running: Showcase) -> None:
    content = os.urandom(300_000)
    with httpx.Client(base_url=running.url) as client:
        stored = client.post(
            "/api/uploads", files={"file": ("../report 1.pdf", content, "application/pdf")}
        )
        assert stored.status_code == 201
        upload = stored.json()
        assert upload["name"] == "uploads/report_1.pdf"  # the client's path is not trusted
        assert upload["size"] == len(content)
        downloaded = client.get(upload["url"])
        assert downloaded.status_code == 200
        assert downloaded.content == content
        # NOTE: local files take their type from the name when served (docs/storage.md)
        assert downloaded.headers["content-type"] == "application/pdf"
        assert client.get(upload["url"].split("?")[0]).status_code == 403  # no signature
        tampered = upload["url"].replace("report_1", "report_2")
        assert client.get(tampered).status_code == 403
    assert (Path(running.env["STORAGE_URL"].removeprefix("file://")) / upload["name"]).is_file()


def test_deleting_a_note_needs_the_permission(running: Showcase) -> None:
    with httpx.Client(base_url=running.url, headers=BROWSER) as client:
        note = client.post("/api/notes", json={"title": "to delete"}).json()
        anonymous = client.delete(f"/api/notes/{note['id']}")
        assert anonymous.status_code == 401
        assert anonymous.headers["content-type"] == "application/problem+json"
        assert anonymous.headers["www-authenticate"].startswith("Bearer")

        # A signed-up user without the permission is refused ...
        member = {"email": "member@example.org", "password": "another long pass phrase"}
        assert client.post("/auth/signup", json=member).status_code == 201
        assert client.delete(f"/api/notes/{note['id']}").status_code == 403
        assert client.post("/auth/logout").status_code == 204

        # ... a superuser made with the CLI may delete.
        subprocess.run(
            [
                sys.executable,
                "-m",
                "celeris",
                "auth",
                "--app",
                "examples.showcase.app:app",
                "createsuperuser",
                "--email",
                ADMIN["email"],
                "--no-input",
            ],
            cwd=ROOT,
            env={**running.env, "CELERIS_PASSWORD": ADMIN["password"]},
            check=True,
            timeout=120,
        )
        assert client.post("/auth/login", json=ADMIN).status_code == 200
        assert client.delete(f"/api/notes/{note['id']}").status_code in (200, 204)
        assert client.get(f"/api/notes/{note['id']}").status_code == 404
        titles = [n["title"] for n in client.get("/api/notes?limit=100").json()]
    assert "to delete" not in titles  # the cached list was dropped by the delete's commit
    verify = [m for m in mails(running.outbox) if m["To"] == member["email"]]
    assert len(verify) == 1  # the account's verification mail went through the same mailer


def test_signup_and_totp_pages_in_chromium(running: Showcase) -> None:
    need_chromium()
    outside: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            block_outside(page, outside)
            page.goto(running.url + "/")
            page.click("text=Create an account")
            page.fill("input[name=email]", "page@example.org")
            page.fill("input[name=password]", "a pass phrase typed in the page")
            with page.expect_navigation():
                page.click("button[type=submit]")
            assert page.url == running.url + "/"
            assert page.inner_text("#account a") == "page@example.org"
            page.screenshot(path=str(SCREENSHOTS / "signed-up.png"), full_page=True)
            page.goto(running.url + "/auth/2fa/totp")
            with page.expect_navigation():
                page.click("#totp-setup")
            secret = page.inner_text("#totp-secret")
            assert page.locator("figure svg").count() == 1  # the QR code, drawn by the app
            page.screenshot(path=str(SCREENSHOTS / "totp-setup.png"), full_page=True)
            page.fill("input[name=code]", pyotp.TOTP(secret).now())
            with page.expect_navigation():
                page.click("button[type=submit]")
            page.screenshot(path=str(SCREENSHOTS / "totp-on.png"), full_page=True)
            page.goto(running.url + "/auth/2fa/totp")
            assert "On: signing in asks for a code" in page.inner_text("[role=status]")
            page.goto(running.url + "/")
            with page.expect_navigation():
                page.click("#logout-form button")
            assert page.locator("#account").count() == 0
            assert page.locator("a[href='/auth/login']").count() == 1
        finally:
            browser.close()
    assert outside == []


def test_migrations_match_the_models(running: Showcase) -> None:
    # The server migrated its database at start-up; the auth battery's tables are in a revision
    # of the showcase's own, so the models (notes and auth) and the migrations agree.
    command = [sys.executable, "-m", "celeris", "db", "--app", "examples.showcase.app:db", "check"]
    checked = subprocess.run(
        command, cwd=ROOT, env=running.env, capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with sqlite3.connect(running.database) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"note", "celeris_user", "celeris_device", "celeris_totp"} <= tables


def test_the_notes_appear_in_the_admin(running: Showcase) -> None:
    staff = {"email": "staff@example.org", "password": "a long pass phrase for the staff"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "celeris",
            "auth",
            "--app",
            "examples.showcase.app:app",
            "createsuperuser",
            "--email",
            staff["email"],
            "--no-input",
        ],
        cwd=ROOT,
        env={**running.env, "CELERIS_PASSWORD": staff["password"]},
        check=True,
        timeout=120,
    )
    with httpx.Client(base_url=running.url, headers={**BROWSER, "accept": "text/html"}) as client:
        assert client.get("/admin/").status_code == 303  # anonymous: to the login page
        client.post("/api/notes", json={"title": "seen by the <admin>"})
        login = client.post("/auth/login", json=staff, headers={"accept": "application/json"})
        assert login.status_code == 200
        home = client.get("/admin/")
        assert home.status_code == 200
        assert "Notes" in home.text
        listing = client.get("/admin/note/")
        assert "seen by the &lt;admin&gt;" in listing.text
        assert client.get("/admin/static/admin.css").headers["content-type"].startswith("text/css")
