"""Social login against an OpenID provider run by the test (discovery, JWKS, code + PKCE)."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import RSAKey

from celeris import App, HTTPError, RedirectResponse, Request
from celeris.testing import AsyncTestClient

from .conftest import PASSWORD, MakeApp

ISSUER = "https://id.example"
CLIENT, SECRET = "celeris-app", "client-secret"


class IdentityProvider:
    """A small OpenID provider: who signs in is ``self.person``; ``self.tamper`` breaks tokens."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"}, private=True)
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "k1"}, private=True)
        self.person: dict[str, Any] = {}
        self.tamper: str | None = None
        self.codes: dict[str, dict[str, Any]] = {}
        self.app = app = App(openapi_url=None)

        @app.get("/.well-known/openid-configuration")
        async def configuration() -> dict[str, str]:
            return {
                "issuer": ISSUER,
                "authorization_endpoint": f"{ISSUER}/authorize",
                "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks",
            }

        @app.get("/jwks")
        async def jwks() -> dict[str, Any]:
            return {"keys": [self.key.as_dict(private=False)]}

        @app.get("/authorize")
        async def authorize(request: Request) -> RedirectResponse:
            query = request.query_params
            assert query.get("client_id") == CLIENT
            assert query.get("code_challenge_method") == "S256"
            code = secrets.token_urlsafe(16)
            self.codes[code] = {**dict(query.items()), "person": dict(self.person)}
            target = f"{query.get('redirect_uri')}?code={code}&state={query.get('state')}"
            return RedirectResponse(target, status_code=303)

        @app.post("/token")
        async def token(request: Request) -> dict[str, Any]:
            form = await request.form()
            assert request.headers["authorization"].startswith("Basic ")
            grant = self.codes.pop(str(form.get("code")), None)  # a code works once
            if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
                raise HTTPError(400, "invalid_grant")
            if (
                create_s256_code_challenge(str(form.get("code_verifier")))
                != grant["code_challenge"]
            ):
                raise HTTPError(400, "invalid_grant: PKCE")
            now = int(time.time())
            claims = {
                "iss": ISSUER,
                "aud": CLIENT,
                "iat": now,
                "exp": now + 300,
                "nonce": grant["nonce"],
                **grant["person"],
            }
            key = self.key
            if self.tamper == "key":
                key = self.other_key
            elif self.tamper == "nonce":
                claims["nonce"] = "another"
            elif self.tamper == "audience":
                claims["aud"] = "someone-else"
            elif self.tamper == "expired":
                claims["exp"] = now - 60
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
            return {"access_token": "opaque", "token_type": "Bearer", "id_token": id_token}


@pytest.fixture
def idp() -> IdentityProvider:
    return IdentityProvider()


def _app(make_app: MakeApp, idp: IdentityProvider, url: str | None = None) -> tuple[App, Any]:
    app, auth, _ = make_app(url=url)
    auth.social.register(
        "idp",
        client_id=CLIENT,
        client_secret=SECRET,
        server_metadata_url=f"{ISSUER}/.well-known/openid-configuration",
        client_kwargs={"transport": httpx.ASGITransport(app=idp.app)},
    )
    return app, auth


async def _sign_in(client: AsyncTestClient, idp: IdentityProvider) -> httpx.Response:
    start = await client.get("/auth/oauth/idp/login?next=/me", follow_redirects=False)
    assert start.status_code == 303
    location = start.headers["location"]
    assert location.startswith(f"{ISSUER}/authorize?")
    async with AsyncTestClient(idp.app, base_url=ISSUER) as browser_at_idp:
        back = await browser_at_idp.get(location.removeprefix(ISSUER), follow_redirects=False)
    callback = back.headers["location"].removeprefix("http://testserver")
    return await client.get(callback, follow_redirects=False)


async def test_a_verified_email_creates_and_then_finds_the_account(
    make_app: MakeApp, idp: IdentityProvider, database_url: str
) -> None:
    app, auth = _app(make_app, idp, database_url)
    idp.person = {"sub": "idp-1", "email": "Ada@Example.org", "email_verified": True}
    async with AsyncTestClient(app) as client:
        done = await _sign_in(client, idp)
        assert done.status_code == 303
        assert done.headers["location"] == "/me"
        me = (await client.get("/me")).json()
        user = await auth.get_user(me["id"])
        assert user.email_verified
        assert user.password is None
        await client.post("/auth/logout")
        idp.person = {"sub": "idp-1", "email": "changed@example.org", "email_verified": True}
        assert (await _sign_in(client, idp)).status_code == 303  # found by subject
        assert (await client.get("/me")).json()["id"] == me["id"]


async def test_linking_to_an_existing_account_needs_a_verified_email(
    make_app: MakeApp, idp: IdentityProvider
) -> None:
    app, auth = _app(make_app, idp)
    async with AsyncTestClient(app) as client:
        owner = await auth.create_user("ada@example.org", PASSWORD)
        # an attacker's provider account claims ada's address without verifying it
        idp.person = {"sub": "evil", "email": "ada@example.org", "email_verified": False}
        refused = await _sign_in(client, idp)
        assert refused.status_code == 400
        assert "did not confirm" in refused.json()["detail"]
        assert (await client.get("/me")).status_code == 401
        idp.person = {"sub": "evil", "email": "ada@example.org"}  # no claim at all: same
        assert (await _sign_in(client, idp)).status_code == 400
        # the real owner's verified provider account links
        idp.person = {"sub": "ada-at-idp", "email": "ADA@example.org", "email_verified": True}
        assert (await _sign_in(client, idp)).status_code == 303
        assert (await client.get("/me")).json()["id"] == owner.id


@pytest.mark.parametrize("tamper", ["key", "nonce", "audience", "expired"])
async def test_bad_id_tokens_sign_nobody_in(
    make_app: MakeApp, idp: IdentityProvider, tamper: str
) -> None:
    app, _ = _app(make_app, idp)
    idp.person = {"sub": "idp-1", "email": "ada@example.org", "email_verified": True}
    idp.tamper = tamper
    async with AsyncTestClient(app) as client:
        r = await _sign_in(client, idp)
        assert r.status_code == 400
        assert "ID token is not valid" in r.json()["detail"]
        assert (await client.get("/me")).status_code == 401


async def test_state_is_checked_and_spent(make_app: MakeApp, idp: IdentityProvider) -> None:
    app, _ = _app(make_app, idp)
    idp.person = {"sub": "idp-1", "email": "ada@example.org", "email_verified": True}
    async with AsyncTestClient(app) as client:
        start = await client.get("/auth/oauth/idp/login", follow_redirects=False)
        async with AsyncTestClient(idp.app, base_url=ISSUER) as at_idp:
            back = await at_idp.get(
                start.headers["location"].removeprefix(ISSUER), follow_redirects=False
            )
        callback = back.headers["location"].removeprefix("http://testserver")
        forged = callback.split("&state=")[0] + "&state=forged"
        assert (await client.get(forged, follow_redirects=False)).status_code == 400
        # the state was spent by the forged attempt: the real answer no longer works either
        assert (await client.get(callback, follow_redirects=False)).status_code == 400
        assert (await client.get("/me")).status_code == 401
        # a callback nobody started, and an unknown provider
        other = AsyncTestClient(app)
        assert (await other.get(callback, follow_redirects=False)).status_code == 400
        assert (await client.get("/auth/oauth/nope/login")).status_code == 404
