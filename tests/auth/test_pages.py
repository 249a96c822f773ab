"""The HTML side: accessible forms, CSRF-protected posts, overridable templates."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from celeris import App
from celeris.auth import Auth, PasswordHasher
from celeris.db import Database
from celeris.mail import Mailer
from celeris.security import CSRF
from celeris.sessions import Sessions
from celeris.testing import TestClient

from .conftest import FAST, PASSWORD, SECRET, link_of

HTML = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


def _app(tmp_path: Path, templates: Any = None) -> tuple[App, Mailer]:
    app = App()
    db = Database(f"sqlite:///{tmp_path}/pages.db", app=app, root_path=tmp_path)
    Sessions(app=app, secret_key=SECRET)
    CSRF(app=app, secret_key=SECRET)
    mailer = Mailer(app=app, url="memory://")
    auth = Auth(
        app=app,
        db=db,
        mailer=mailer,
        secret_key=SECRET,
        hasher=PasswordHasher(**FAST),
        templates=templates,
    )
    app.include_router(auth.router)

    @app.get("/")
    async def home() -> str:
        return "home"

    return app, mailer


def _token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def test_forms_are_labelled_and_carry_a_csrf_token(tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    with TestClient(app) as client:
        for path in ["/auth/login", "/auth/signup", "/auth/password/reset"]:
            page = client.get(path, headers=HTML)
            assert page.status_code == 200
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-store"
            assert '<html lang="en"' in page.text
            for field in re.findall(r'<input id="(\w+)"', page.text):
                assert f'<label for="{field}">' in page.text, (path, field)
            assert _token(page.text)
        assert 'autocomplete="current-password"' in client.get("/auth/login").text


def test_signup_verify_login_by_forms(tmp_path: Path) -> None:
    app, mailer = _app(tmp_path)
    with TestClient(app, follow_redirects=False) as client:
        token = _token(client.get("/auth/signup", headers=HTML).text)
        # no token and no same-origin header: a forged form post is refused
        forged = client.post(
            "/auth/signup", data={"email": "ada@example.org", "password": PASSWORD}, headers=HTML
        )
        assert forged.status_code == 403
        weak = client.post(
            "/auth/signup",
            data={"email": "ada@example.org", "password": "password", "csrf_token": token},
            headers=HTML,
        )
        assert weak.status_code == 422
        assert weak.headers["content-type"].startswith("text/html")
        assert 'aria-invalid="true"' in weak.text
        assert "too common" in weak.text
        assert 'value="ada@example.org"' in weak.text  # the address is kept, never the password
        assert "value=" not in weak.text.split('id="password"')[1].split(">")[0]
        done = client.post(
            "/auth/signup",
            data={"email": "ada@example.org", "password": PASSWORD, "csrf_token": token},
            headers=HTML,
        )
        assert done.status_code == 303
        assert done.headers["location"] == "/"
        confirmed = client.get(link_of(mailer.outbox[0]), headers=HTML)
        assert "Your email address is confirmed." in confirmed.text
        client.post("/auth/logout", headers={**HTML, "sec-fetch-site": "same-origin"})
        page = client.get("/auth/login", headers=HTML).text
        wrong = client.post(
            "/auth/login",
            data={"email": "ada@example.org", "password": "nope", "csrf_token": _token(page)},
            headers=HTML,
        )
        assert wrong.status_code == 400
        assert 'role="alert"' in wrong.text
        ok = client.post(
            "/auth/login",
            data={"email": "ada@example.org", "password": PASSWORD, "csrf_token": _token(page)},
            headers=HTML,
        )
        assert ok.status_code == 303


def test_templates_can_be_overridden(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    (folder / "auth").mkdir(parents=True)
    (folder / "auth" / "login.html").write_text(
        '{% extends "auth/base.html" %}{% block content %}<h1>Our own sign-in</h1>'
        "{{ csrf_field }}{% endblock %}"
    )
    app, _ = _app(tmp_path, templates=folder)
    with TestClient(app) as client:
        page = client.get("/auth/login", headers=HTML).text
        assert "Our own sign-in" in page
        assert _token(page)
        assert "Create an account" in client.get("/auth/signup", headers=HTML).text


def test_the_account_page_links_every_setting(tmp_path: Path) -> None:
    app, _ = _app(tmp_path)
    with TestClient(app, headers={"sec-fetch-site": "same-origin"}) as client:
        client.post("/auth/signup", json={"email": "ada@example.org", "password": PASSWORD})
        page = client.get("/auth/account", headers=HTML)
        assert page.status_code == 200
        assert "ada@example.org" in page.text
        assert "address not confirmed yet" in page.text
        for link in ("/auth/password/change", "/auth/2fa/totp", "/auth/passkeys"):
            assert f'href="{link}"' in page.text
        assert "session:" in page.text
        data = client.get("/auth/account").json()
        assert data["two_factor"] is False
        assert [d["kind"] for d in data["devices"]] == ["session"]
