"""Personal API tokens and JWT pairs: hashed at rest, scoped, expiring, revocable, untamperable."""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

import jwt as pyjwt
import pytest
import sqlalchemy as sa
from sqlalchemy import event

from celeris import App, Depends
from celeris.auth import ApiToken, Auth, PasswordHasher, User
from celeris.auth.apitokens import token_digest
from celeris.cache import Cache
from celeris.db import Database
from celeris.openapi.jwt import JWT
from celeris.testing import AsyncTestClient, TestClient

from .conftest import FAST, PASSWORD, MakeApp, asignup, signup


def _bearer(token: str, keyword: str = "Bearer") -> dict[str, str]:
    return {"authorization": f"{keyword} {token}"}


async def test_a_token_is_shown_once_and_stored_as_a_digest(
    make_app: MakeApp, database_url: str
) -> None:
    app, auth, _ = make_app(url=database_url)
    async with AsyncTestClient(app) as client:
        await asignup(client)
        created = await client.post("/auth/tokens", json={"name": "laptop"})
        assert created.status_code == 201
        assert created.headers["cache-control"] == "no-store"
        token = created.json()["token"]
        assert token.startswith("cel_")
        assert len(token) > 40
        async with auth.db.scope() as db:
            row = (await db.execute(sa.select(ApiToken))).scalar_one()
        assert row.digest == token_digest(token)
        assert token not in (row.digest, row.prefix, row.name)
        listed = (await client.get("/auth/tokens")).json()
        assert "token" not in listed[0]
        assert listed[0]["prefix"] == token[:12]
        api = AsyncTestClient(app)
        me = await api.get("/me", headers=_bearer(token))
        assert me.status_code == 200
        assert me.json()["email"] == "ada@example.org"
        # last use is recorded
        assert (await client.get("/auth/tokens")).json()[0]["last_used"] is not None
        # a token cannot mint tokens
        assert (await api.post("/auth/tokens", headers=_bearer(token), json={})).status_code == 403


async def test_revoked_expired_unknown_and_other_users_tokens(make_app: MakeApp) -> None:
    app, auth, _ = make_app()
    async with AsyncTestClient(app) as ada:
        bob = AsyncTestClient(app)
        await asignup(ada)
        await asignup(bob, "bob@example.org")
        token = (await ada.post("/auth/tokens", json={"name": "t"})).json()
        # bob cannot revoke ada's token
        assert (await bob.delete(f"/auth/tokens/{token['id']}")).status_code == 404
        api = AsyncTestClient(app)
        assert (await api.get("/me", headers=_bearer(token["token"]))).status_code == 200
        assert (await ada.delete(f"/auth/tokens/{token['id']}")).status_code == 204
        revoked = await api.get("/me", headers=_bearer(token["token"]))
        assert revoked.status_code == 401
        assert 'error="invalid_token"' in revoked.headers["www-authenticate"]
        assert (await ada.delete(f"/auth/tokens/{token['id']}")).status_code == 404
        short = (await ada.post("/auth/tokens", json={"name": "s", "expires_in": "0.2"})).json()
        assert (await api.get("/me", headers=_bearer(short["token"]))).status_code == 200
        time.sleep(0.3)
        assert (await api.get("/me", headers=_bearer(short["token"]))).status_code == 401
        for forged in ["cel_" + "A" * 43, "nonsense", "cel_", "x" * 5000]:
            assert (await api.get("/me", headers=_bearer(forged))).status_code == 401
        bad = await ada.post("/auth/tokens", json={"name": "s", "expires_in": "soon"})
        assert bad.status_code == 422
        huge = await ada.post("/auth/tokens", json={"scopes": "notes.read " * 200})
        assert huge.status_code == 422
        assert huge.json()["errors"][0]["loc"] == ["body", "scopes"]
        assert (await ada.post("/auth/tokens", json={"name": "n" * 101})).status_code == 422


async def test_scopes_limit_what_a_token_may_do(make_app: MakeApp) -> None:
    app, auth, _ = make_app()
    async with AsyncTestClient(app) as client:
        user = await auth.get_user((await asignup(client)).json()["id"])
        await auth.grant(user, "notes.delete")
        read_only = (await client.post("/auth/tokens", json={"scopes": "notes.read"})).json()
        deleter = (await client.post("/auth/tokens", json={"scopes": "notes.delete"})).json()
        api = AsyncTestClient(app)
        denied = await api.delete("/notes/1", headers=_bearer(read_only["token"]))
        assert denied.status_code == 403
        assert "scopes" in denied.json()["detail"]
        assert (await api.delete("/notes/1", headers=_bearer(deleter["token"]))).status_code == 204
        # the session (no scopes) may do what the user may do
        assert (await client.delete("/notes/1")).status_code == 204


@pytest.fixture(params=["memory", "redis"])
def cache_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("redis_url"))


async def test_a_warm_token_costs_one_cache_lookup_and_no_query(
    make_app: MakeApp, cache_url: str
) -> None:
    cache = Cache(url=cache_url, namespace=f"auth-test-{secrets.token_hex(4)}:")
    app, auth, _ = make_app(cache=cache)
    async with AsyncTestClient(app) as client:
        await asignup(client)
        token = (await client.post("/auth/tokens", json={"name": "t"})).json()["token"]
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(str(args[2]))

        event.listen(auth.db.engine.sync_engine, "before_cursor_execute", count)
        api = AsyncTestClient(app)
        assert (await api.get("/me", headers=_bearer(token))).status_code == 200
        cold = len(statements)
        assert cold >= 1  # loaded once (and its last use written)
        for _ in range(5):
            assert (await api.get("/me", headers=_bearer(token))).status_code == 200
        assert len(statements) == cold  # warm: the cache answered, the database did not
        # revocation drops the cached entry at once
        token_id = (await client.get("/auth/tokens")).json()[0]["id"]
        await client.delete(f"/auth/tokens/{token_id}")
        assert (await api.get("/me", headers=_bearer(token))).status_code == 401
        event.remove(auth.db.engine.sync_engine, "before_cursor_execute", count)
    await cache.close()


def test_the_token_keyword_is_configurable(make_app: MakeApp) -> None:
    app, _, _ = make_app(token_keyword="Token")
    with TestClient(app) as client:
        signup(client)
        token = client.post("/auth/tokens", json={}).json()["token"]
        assert client.get("/me", headers=_bearer(token, "Token")).status_code == 200
        wrong = client.get("/me", headers=_bearer(token, "Bearer"))
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"].startswith('Token realm="celeris"')
        spec = client.get("/openapi.json").json()["components"]["securitySchemes"]["celerisAuth"]
        assert spec["type"] == "apiKey"
        assert spec["in"] == "header"


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_jwt_pairs_refresh_and_refuse_tampered_tokens(make_app: MakeApp) -> None:
    app, auth, _ = make_app(jwt=True)
    with TestClient(app) as client:
        user_id = signup(client).json()["id"]
        client.post("/auth/logout")
        pair = client.post("/auth/jwt", json={"email": "ada@example.org", "password": PASSWORD})
        assert pair.status_code == 200
        tokens = pair.json()
        assert tokens["token_type"] == "Bearer"
        assert client.get("/me", headers=_bearer(tokens["access_token"])).status_code == 200
        # a refresh token is not an access token
        assert client.get("/me", headers=_bearer(tokens["refresh_token"])).status_code == 401
        new = client.post("/auth/jwt/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert new.status_code == 200
        assert client.get("/me", headers=_bearer(new.json()["access_token"])).status_code == 200
        # a refresh token works once: the replay is refused, the new one works (once)
        again = client.post("/auth/jwt/refresh", json={"refresh_token": tokens["refresh_token"]})
        assert again.status_code == 401
        # the replay ended the whole family: the newest refresh token is spent too
        newer = client.post(
            "/auth/jwt/refresh", json={"refresh_token": new.json()["refresh_token"]}
        )
        assert newer.status_code == 401
        fresh = client.post("/auth/jwt", json={"email": "ada@example.org", "password": PASSWORD})
        once = client.post(
            "/auth/jwt/refresh", json={"refresh_token": fresh.json()["refresh_token"]}
        )
        assert once.status_code == 200
        # an access token is not a refresh token
        swapped = client.post("/auth/jwt/refresh", json={"refresh_token": tokens["access_token"]})
        assert swapped.status_code == 401
        claims = {"sub": str(user_id), "ep": 0, "typ": "access", "exp": int(time.time()) + 60}
        forged = [
            _b64({"alg": "none", "typ": "JWT"}) + "." + _b64(claims) + ".",  # alg=none
            pyjwt.encode(claims, "w" * 40, algorithm="HS256"),  # the wrong key
            JWT("w" * 40).encode(claims),
            tokens["access_token"][:-2] + "xx",  # a changed signature
            ".".join(
                [
                    tokens["access_token"].split(".")[0],
                    _b64({**claims, "sub": "2"}),
                    tokens["access_token"].split(".")[2],
                ]
            ),  # another user's id, same signature
        ]
        for token in forged:
            r = client.get("/me", headers=_bearer(token))
            assert r.status_code == 401, token
            assert 'error="invalid_token"' in r.headers["www-authenticate"]
        expired = auth.jwt.encode({"sub": str(user_id), "ep": 0, "typ": "access"}, expires_in=-10)  # type: ignore[union-attr]
        r = client.get("/me", headers=_bearer(expired))
        assert r.status_code == 401
        assert "expired" in r.json()["detail"]
        wrong = client.post("/auth/jwt", json={"email": "ada@example.org", "password": "nope"})
        assert wrong.status_code == 400


def test_without_jwt_there_are_no_jwt_routes(make_app: MakeApp) -> None:
    app, _, _ = make_app()
    with TestClient(app) as client:
        assert client.post("/auth/jwt", json={}).status_code == 404


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Digest abc"])
def test_malformed_authorization_headers_get_401(make_app: MakeApp, header: str) -> None:
    app, _, _ = make_app()
    with TestClient(app) as client:
        assert client.get("/me", headers={"authorization": header}).status_code == 401


async def test_an_api_without_sessions_signs_in_by_token_only(tmp_path: Any) -> None:
    app = App()
    db = Database(f"sqlite:///{tmp_path}/api.db", app=app, root_path=tmp_path)
    auth = Auth(app=app, db=db, secret_key="k" * 40, hasher=PasswordHasher(**FAST), jwt=True)
    app.include_router(auth.router)

    @app.get("/me")
    async def me(user: User = Depends(auth.current_user)) -> dict[str, str]:
        return {"email": user.email}

    async with AsyncTestClient(app) as client:
        user = await auth.create_user("ada@example.org", PASSWORD)
        token, _ = await auth.create_token(user, "ci")
        assert (await client.get("/me")).status_code == 401
        r = await client.get("/me", headers=_bearer(token))
        assert r.json() == {"email": "ada@example.org"}
        pair = await client.post(
            "/auth/jwt", json={"email": "ada@example.org", "password": PASSWORD}
        )
        assert pair.status_code == 200
        r = await client.get("/me", headers=_bearer(pair.json()["access_token"]))
        assert r.status_code == 200
