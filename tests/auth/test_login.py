"""Sign-in: session rotation, throttling, 401 / redirect / 403, OpenAPI, request.state.user."""

from __future__ import annotations

from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from sqlalchemy import event

from celeris import App, Depends, Request
from celeris.auth import Auth, PasswordHasher, User
from celeris.db import Database
from celeris.security import RateLimiter
from celeris.sessions import Sessions
from celeris.testing import AsyncTestClient, TestClient

from .conftest import FAST, PASSWORD, SECRET, MakeApp, asignup, login, signup


@pytest.fixture(params=["memory", "redis"])
def session_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("redis_url"))


def test_login_rotates_the_session_and_logout_ends_it(
    make_app: MakeApp, database_url: str, session_url: str
) -> None:
    app, auth, _ = make_app(url=database_url, session_url=session_url)
    with TestClient(app) as client:
        signup(client)  # signs in: a session exists
        before = client.cookies["session"]
        r = login(client)
        assert r.status_code == 200
        assert r.json()["email"] == "ada@example.org"
        after = client.cookies["session"]
        assert after != before  # SECURITY: a new session id at sign-in (fixation)
        me = client.get("/me")
        assert me.status_code == 200
        assert me.json()["state"] is True
        assert client.post("/auth/logout").status_code == 204
        assert client.get("/me").status_code == 401
        # the cookie of the signed-out session no longer signs anyone in
        client.cookies.clear()
        client.cookies.set("session", after)
        assert client.get("/me").status_code == 401
        client.cookies.clear()
        client.cookies.set("session", before)
        assert client.get("/me").status_code == 401


def test_wrong_password_and_unknown_email_look_alike(make_app: MakeApp) -> None:
    app, auth, _ = make_app()
    with TestClient(app) as client:
        signup(client)
        client.post("/auth/logout")
        answers = [
            login(client, password="not the password").json(),
            login(client, email="nobody@example.org").json(),
        ]
        assert answers[0] == answers[1]
        assert answers[0]["status"] == 400
        assert client.post("/auth/login", json={}).status_code == 400
        bad = {"content-type": "application/json"}
        assert client.post("/auth/login", content=b"[1]", headers=bad).status_code == 422
        assert client.post("/auth/login", content=b"{", headers=bad).status_code == 400


async def test_a_disabled_account_cannot_sign_in(make_app: MakeApp) -> None:
    app, auth, _ = make_app()
    async with AsyncTestClient(app) as client:
        await auth.create_user("off@example.org", PASSWORD, is_active=False)
        r = await client.post(
            "/auth/login", json={"email": "off@example.org", "password": PASSWORD}
        )
        assert r.status_code == 400
        assert r.json()["detail"] == "The email address or the password is wrong."


def test_login_is_throttled_per_account_and_per_address(make_app: MakeApp) -> None:
    app, _, _ = make_app(login_rate="3/minute", address_rate="5/minute")
    with TestClient(app) as client:
        codes = [login(client, password=f"wrong {i}").status_code for i in range(4)]
        assert codes == [400, 400, 400, 429]
        r = login(client)  # even the right password waits: the account is locked for now
        assert r.status_code == 429
        assert int(r.headers["retry-after"]) > 0
        assert r.headers["content-type"] == "application/problem+json"
        # other accounts from the same address count against the address limit (5)
        codes = [login(client, email=f"u{i}@example.org").status_code for i in range(2)]
        assert codes == [429, 429]  # attempts 5 and 6 from this address: over 5/minute
    app, _, _ = make_app(login_rate="100/minute", address_rate="3/minute")
    with TestClient(app) as client:
        codes = [login(client, email=f"u{i}@example.org").status_code for i in range(4)]
        assert codes == [400, 400, 400, 429]


def test_anonymous_api_requests_get_401_and_browsers_a_login_redirect(make_app: MakeApp) -> None:
    app, _, _ = make_app()
    with TestClient(app, follow_redirects=False) as client:
        r = client.get("/me")
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer realm="celeris"'
        assert r.headers["content-type"] == "application/problem+json"
        page = client.get(
            "/me?x=1", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        )
        assert page.status_code == 303
        assert page.headers["location"] == "/auth/login?next=%2Fme%3Fx%3D1"
        # the login form carries next, and a successful form post goes there
        form = client.get(page.headers["location"], headers={"accept": "text/html"})
        assert 'name="next" value="/me?x=1"' in form.text
        assert client.get("/maybe").json() == {"email": None}
        r = client.get("/me", headers={"authorization": "Basic YTpi"})
        assert r.status_code == 401


def test_open_redirects_are_refused(make_app: MakeApp) -> None:
    app, _, _ = make_app()
    with TestClient(app, follow_redirects=False) as client:
        signup(client)
        client.post("/auth/logout")
        for target, expected in [
            ("/notes", "/notes"),
            ("//evil.example", "/"),
            ("https://evil.example", "/"),
            ("/\\evil.example", "/"),
        ]:
            r = client.post(
                "/auth/login",
                data={"email": "ada@example.org", "password": PASSWORD, "next": target},
                headers={"accept": "text/html"},
            )
            assert r.status_code == 303, target
            assert r.headers["location"] == expected, target
            client.post("/auth/logout")


async def test_requires_answers_403_without_the_permission(
    make_app: MakeApp, database_url: str
) -> None:
    app, auth, _ = make_app(url=database_url)
    async with AsyncTestClient(app) as client:
        r = await client.post(
            "/auth/signup", json={"email": "ada@example.org", "password": PASSWORD}
        )
        user = await auth.get_user(r.json()["id"])
        denied = await client.delete("/notes/1")
        assert denied.status_code == 403
        assert "notes.delete" in denied.json()["detail"]
        assert (await client.delete("/notes/1", headers={"cookie": ""})).status_code in (401, 403)
        await auth.add_to_group(user, "editors", "notes.delete", "notes.edit")
        assert (await client.delete("/notes/1")).status_code == 204
        assert await auth.permissions_of(user) == {"notes.delete", "notes.edit"}
        other = await auth.create_user("root@example.org", PASSWORD, is_superuser=True)
        assert await auth.has_perms(other, "anything.at_all")


async def test_object_permission_hook(make_app: MakeApp) -> None:
    def owner_only(user: Any, permission: str, obj: Any) -> bool:
        return bool(obj["owner"] == user.id)

    app, auth, _ = make_app(object_permission=owner_only)
    async with AsyncTestClient(app):
        user = await auth.create_user("ada@example.org", PASSWORD)
        await auth.grant(user, "notes.edit")
        assert await auth.has_perms(user, "notes.edit", obj={"owner": user.id})
        assert not await auth.has_perms(user, "notes.edit", obj={"owner": user.id + 1})
        assert not await auth.has_perms(user, "notes.delete", obj={"owner": user.id})


def test_openapi_shows_the_scheme_permissions_and_403(make_app: MakeApp) -> None:
    app, auth, _ = make_app(jwt=True)
    with TestClient(app) as client:
        spec = client.get("/openapi.json").json()
    validate(spec)  # the whole document, auth routes included, is valid OpenAPI 3.1
    assert "/auth/tokens" in spec["paths"]
    assert "/auth/login" in spec["paths"]
    operation = spec["paths"]["/notes/{note_id}"]["delete"]
    assert operation["security"] == [{"celerisAuth": ["notes.delete"]}]
    assert {"401", "403"} <= set(operation["responses"])
    assert "notes.delete" in operation["responses"]["403"]["description"]
    assert spec["paths"]["/me"]["get"]["security"] == [{"celerisAuth": []}]
    assert spec["components"]["securitySchemes"]["celerisAuth"]["scheme"] == "bearer"


async def test_rate_limit_by_user_counts_each_signed_in_user(make_app: MakeApp) -> None:
    app, auth, _ = make_app()
    limiter: RateLimiter = auth.limiter  # type: ignore[assignment]

    @app.get("/search", dependencies=[limiter.limit("2/minute", key="user")])
    async def search(request: Request, user: User = Depends(auth.current_user)) -> list[str]:
        return []

    async with AsyncTestClient(app) as ada:
        bob = AsyncTestClient(app)
        await asignup(ada)
        await asignup(bob, "bob@example.org")
        assert [(await ada.get("/search")).status_code for _ in range(3)] == [200, 200, 429]
        assert (await bob.get("/search")).status_code == 200  # a bucket of his own


async def test_a_login_is_one_hash_and_two_statements_on_postgresql(
    make_app: MakeApp, fresh_postgres: str
) -> None:
    hashes: list[str] = []

    class Counting(PasswordHasher):
        def _verify_and_update(self, password: str, stored: str | None) -> tuple[bool, str | None]:
            hashes.append(password)
            return super()._verify_and_update(password, stored)

    app, auth, _ = make_app(url=fresh_postgres, hasher=Counting(**FAST))
    async with AsyncTestClient(app) as client:
        await auth.create_user("ada@example.org", PASSWORD)
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(str(args[2]).split()[0])

        event.listen(auth.db.engine.sync_engine, "before_cursor_execute", count)
        try:
            r = await client.post(
                "/auth/login", json={"email": "ada@example.org", "password": PASSWORD}
            )
        finally:
            event.remove(auth.db.engine.sync_engine, "before_cursor_execute", count)
        assert r.status_code == 200
        assert len(hashes) == 1
        # the user (with its second-factor flag), then the sign-in record (device + last login)
        assert statements == ["SELECT", "WITH"], statements


def test_wiring_mistakes_are_named_at_start_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()
    db = Database(f"sqlite:///{tmp_path}/w.db", app=app, root_path=tmp_path)
    Auth(app=app, db=db, secret_key=SECRET)
    Sessions(app=app, secret_key=SECRET)  # too late: the auth step runs first
    with pytest.raises(RuntimeError, match=r"auth\.E003"), TestClient(app):
        pass
    app = App()
    db = Database(f"sqlite:///{tmp_path}/w2.db", app=app, root_path=tmp_path)
    auth = Auth(app=app, db=db, secret_key=SECRET)
    with caplog.at_level("WARNING", logger="celeris.auth"), TestClient(app):
        pass
    assert "auth.W001" in caplog.text
    with pytest.raises(ValueError, match=r"auth\.E001"):
        auth.requires("delete")


async def test_a_devices_last_seen_moves_once_per_interval(
    make_app: MakeApp, database_url: str
) -> None:
    import sqlalchemy as sa

    from celeris.auth.models import Device

    app, auth, _ = make_app(url=database_url)
    async with AsyncTestClient(app) as client:
        await asignup(client)
        user = await auth.get_user_by_email("ada@example.org")
        (device,) = await auth.devices(user)
        signed_in = device.last_seen
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(str(args[2]).split()[0])

        event.listen(auth.db.engine.sync_engine, "before_cursor_execute", count)
        try:
            assert (await client.get("/me")).status_code == 200
            assert statements == ["SELECT"]  # within the interval: no write
            # a device last seen an hour ago is touched by its next request, once
            async with auth.reader() as db:
                old = signed_in - timedelta(hours=1)
                await db.execute(
                    sa.update(Device).where(Device.id == device.id).values(last_seen=old)
                )
            statements.clear()
            assert (await client.get("/me")).status_code == 200
            assert statements == ["SELECT", "UPDATE"]
            statements.clear()
            assert (await client.get("/me")).status_code == 200
            assert statements == ["SELECT"]
        finally:
            event.remove(auth.db.engine.sync_engine, "before_cursor_execute", count)
        (device,) = await auth.devices(user)
        seen = device.last_seen if device.last_seen.tzinfo else device.last_seen.replace(tzinfo=UTC)
        assert seen >= (signed_in if signed_in.tzinfo else signed_in.replace(tzinfo=UTC))
