"""Signup, email verification, password reset and change: single-use tokens sent by mail."""

from __future__ import annotations

import asyncio

from itsdangerous import URLSafeTimedSerializer

from celeris.auth.tokens import TokenSigner
from celeris.testing import AsyncTestClient, TestClient

from .conftest import PASSWORD, SECRET, MakeApp, alogin, asignup, link_of, login, signup

NEW = "a brand new passphrase"


def test_signup_sends_a_verification_link_that_works_once(
    make_app: MakeApp, database_url: str
) -> None:
    app, auth, mailer = make_app(url=database_url)
    with TestClient(app) as client:
        signup(client)
        [mail] = mailer.outbox
        assert mail.to == ["ada@example.org"]
        assert mail.subject == "Confirm your email address"
        link = link_of(mail)
        assert link.startswith("/auth/verify?token=")
        r = client.get(link)
        assert r.status_code == 200
        assert r.json() == {"email_verified": True}
        assert client.get(link).status_code == 400  # reused: the account state changed
        assert client.get("/auth/verify?token=forged").status_code == 400
        assert client.get("/auth/verify").status_code == 400


def test_a_verification_token_works_for_its_user_and_purpose_only(make_app: MakeApp) -> None:
    app, auth, mailer = make_app()
    with TestClient(app) as client:
        signup(client)
        signup(client, "bob@example.org")
        ada_link = link_of(mailer.outbox[0])
        token = ada_link.split("token=")[1]
        # the same token offered as a reset token: refused (another purpose, another salt)
        r = client.post("/auth/password/reset/confirm", json={"token": token, "password": NEW})
        assert r.status_code == 400
        # a token naming bob but carrying ada's fingerprint: refused
        forged = URLSafeTimedSerializer(SECRET, salt="celeris.auth.verify").dumps(
            [2, URLSafeTimedSerializer(SECRET, salt="celeris.auth.verify").loads(token)[1]]
        )
        assert client.get(f"/auth/verify?token={forged}").status_code == 400
        # signed with another key: refused
        other = TokenSigner("another-key-" + "y" * 40)
        assert not auth.signer.check(other.make(_Fake(), "verify"), _Fake(), "verify")


class _Fake:
    id = 1
    email_key = "ada@example.org"
    email_verified = False


def test_expired_tokens_are_refused(make_app: MakeApp) -> None:
    app, auth, mailer = make_app()
    with TestClient(app) as client:
        signup(client)
        link = link_of(mailer.outbox[0])
        auth.signer.max_age["verify"] = -1
        assert client.get(link).status_code == 400
        auth.signer.max_age["verify"] = 60
        assert client.get(link).status_code == 200


async def test_password_reset_by_mail_is_single_use_and_signs_out_old_sessions(
    make_app: MakeApp, database_url: str
) -> None:
    app, auth, mailer = make_app(url=database_url)
    # NOTE: several browsers on one app: async clients share the test's event loop (and pool)
    async with AsyncTestClient(app) as old_browser:
        client = AsyncTestClient(app)
        await asignup(old_browser)
        assert (await old_browser.get("/me")).status_code == 200
        mailer.outbox.clear()
        answer = await client.post("/auth/password/reset", json={"email": "ADA@example.org"})
        unknown = await client.post("/auth/password/reset", json={"email": "nobody@example.org"})
        assert answer.status_code == unknown.status_code == 202
        assert answer.json() == unknown.json()  # no hint whether the address has an account
        await asyncio.sleep(0.05)  # the mail goes out in the background
        [mail] = mailer.outbox
        assert mail.subject == "Reset your password"
        link = link_of(mail)
        page = await client.get(link, headers={"accept": "text/html"})
        token = link.split("token=")[1]
        assert f'value="{token}"' in page.text
        weak = await client.post(
            "/auth/password/reset/confirm", json={"token": token, "password": "123"}
        )
        assert weak.status_code == 422
        r = await client.post(
            "/auth/password/reset/confirm", json={"token": token, "password": NEW}
        )
        assert r.status_code == 200
        again = await client.post(
            "/auth/password/reset/confirm", json={"token": token, "password": NEW + "!"}
        )
        assert again.status_code == 400  # used: the password hash it was bound to is gone
        assert (await alogin(client)).status_code == 400
        assert (await alogin(client, password=NEW)).status_code == 200
        assert (await old_browser.get("/me")).status_code == 401  # signed out by the change


async def test_password_change_keeps_this_browser_and_ends_the_others(
    make_app: MakeApp, database_url: str
) -> None:
    app, auth, _ = make_app(url=database_url)
    async with AsyncTestClient(app) as laptop:
        phone = AsyncTestClient(app)
        await asignup(laptop)
        assert (await alogin(phone)).status_code == 200
        wrong = await laptop.post(
            "/auth/password/change", json={"old_password": "nope", "new_password": NEW}
        )
        assert wrong.status_code == 400
        assert wrong.json()["errors"][0]["loc"] == ["body", "old_password"]
        r = await laptop.post(
            "/auth/password/change", json={"old_password": PASSWORD, "new_password": NEW}
        )
        assert r.status_code == 200
        assert (await laptop.get("/me")).status_code == 200
        assert (await phone.get("/me")).status_code == 401
        assert (await laptop.post("/auth/password/change", json={})).status_code == 400


async def test_sign_out_everywhere_ends_every_session_and_token(
    make_app: MakeApp, database_url: str
) -> None:
    app, auth, _ = make_app(url=database_url, jwt=True)
    async with AsyncTestClient(app) as laptop:
        phone, api = AsyncTestClient(app), AsyncTestClient(app)
        await asignup(laptop)
        await alogin(phone)
        token = (await laptop.post("/auth/tokens", json={"name": "ci"})).json()["token"]
        pair = (
            await api.post("/auth/jwt", json={"email": "ada@example.org", "password": PASSWORD})
        ).json()
        devices = (await laptop.get("/auth/devices")).json()
        assert sorted(d["kind"] for d in devices) == ["jwt", "session", "session", "token"]
        assert (await laptop.post("/auth/signout-everywhere")).status_code == 204
        assert (await laptop.get("/me")).status_code == 401
        assert (await phone.get("/me")).status_code == 401
        bearer = {"authorization": f"Bearer {token}"}
        assert (await api.get("/me", headers=bearer)).status_code == 401
        access = {"authorization": f"Bearer {pair['access_token']}"}
        assert (await api.get("/me", headers=access)).status_code == 401
        refreshed = await api.post(
            "/auth/jwt/refresh", json={"refresh_token": pair["refresh_token"]}
        )
        assert refreshed.status_code == 401
        assert (await alogin(laptop)).status_code == 200  # the password still works


def test_signup_reports_every_problem_at_once(make_app: MakeApp) -> None:
    app, _, _ = make_app()
    with TestClient(app) as client:
        r = client.post("/auth/signup", json={"email": "", "password": ""})
        assert r.status_code == 422
        assert {e["loc"][1] for e in r.json()["errors"]} == {"email", "password"}
        r = client.post("/auth/signup", json={"email": "ada@example.org", "password": "password"})
        messages = [e["msg"] for e in r.json()["errors"]]
        assert any("too common" in m for m in messages)
        assert any("too short" in m for m in messages)
    app, _, _ = make_app(signup=False)
    with TestClient(app) as client:
        r = client.post("/auth/signup", json={"email": "ada@example.org", "password": PASSWORD})
        assert r.status_code == 404


def test_without_signup_the_page_is_gone_too_and_not_linked(make_app: MakeApp) -> None:
    html = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    app, _, _ = make_app()
    with TestClient(app) as client:
        assert client.get("/auth/signup", headers=html).status_code == 200
        assert 'href="/auth/signup"' in client.get("/auth/login", headers=html).text
    app, _, _ = make_app(signup=False)
    with TestClient(app) as client:
        api = client.get("/auth/signup")
        posted = client.post("/auth/signup", json={"email": "a@example.org", "password": PASSWORD})
        assert api.status_code == posted.status_code == 404
        assert api.headers["content-type"].startswith("application/problem+json")
        assert api.json() == posted.json()
        page = client.get("/auth/signup", headers=html)
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "<form" not in page.text
        login_page = client.get("/auth/login", headers=html)
        assert login_page.status_code == 200
        assert "/auth/signup" not in login_page.text
        assert "Create an account" not in login_page.text
        assert 'href="/auth/password/reset"' in login_page.text


def test_require_verified_email_holds_sign_in_until_the_link(make_app: MakeApp) -> None:
    app, _, mailer = make_app(require_verified_email=True)
    with TestClient(app) as client:
        signup(client)
        assert client.get("/me").status_code == 401  # not signed in by signup
        held = login(client)
        assert held.status_code == 403
        assert "Confirm your email address" in held.json()["detail"]
        assert client.get(link_of(mailer.outbox[0])).status_code == 200
        assert login(client).status_code == 200
