"""The JWT helper: issue, verify, and refuse precisely."""

from __future__ import annotations

import time
from typing import Annotated

import jwt as pyjwt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeris import App, Depends
from celeris.openapi.jwt import JWT, InvalidToken, JWTBearer
from celeris.testing import TestClient

SECRET = "s" * 32
AUDIENCE_TOKENS = JWT(SECRET, audience="api")
STRICT = JWTBearer(AUDIENCE_TOKENS)
LENIENT = JWTBearer(AUDIENCE_TOKENS, auto_error=False)


def test_round_trip_adds_standard_claims() -> None:
    tokens = JWT(SECRET, issuer="celeris", audience="api")
    claims = tokens.decode(tokens.encode({"sub": "alice"}))
    assert claims["sub"] == "alice"
    assert claims["iss"] == "celeris"
    assert claims["aud"] == "api"
    assert claims["exp"] - claims["iat"] == 3600


def test_expired_token() -> None:
    tokens = JWT(SECRET)
    token = tokens.encode({"sub": "a"}, expires_in=-10)
    with pytest.raises(InvalidToken, match="expired"):
        tokens.decode(token)


def test_wrong_key_audience_issuer() -> None:
    token = JWT(SECRET, issuer="a", audience="x").encode({"sub": "a"})
    with pytest.raises(InvalidToken, match="signature"):
        JWT("t" * 32, issuer="a", audience="x").decode(token)
    with pytest.raises(InvalidToken, match="audience"):
        JWT(SECRET, issuer="a", audience="y").decode(token)
    with pytest.raises(InvalidToken, match="issuer"):
        JWT(SECRET, issuer="b", audience="x").decode(token)


def test_missing_exp_and_alg_none_are_refused() -> None:
    no_exp = pyjwt.encode({"sub": "a"}, SECRET, algorithm="HS256")
    with pytest.raises(InvalidToken, match="'exp'"):
        JWT(SECRET).decode(no_exp)
    assert JWT(SECRET, expires_in=None).decode(no_exp) == {"sub": "a"}
    unsigned = pyjwt.encode({"sub": "a", "exp": int(time.time()) + 60}, None, algorithm="none")
    with pytest.raises(InvalidToken):
        JWT(SECRET).decode(unsigned)


def test_configuration_errors() -> None:
    with pytest.raises(ValueError, match="E020"):
        JWT(SECRET, algorithm="none")
    with pytest.raises(ValueError, match="E021"):
        JWT("short")
    with pytest.raises(ValueError, match="E022"):
        JWT("private-key", algorithm="RS256")


@given(st.text(max_size=200))
def test_garbage_never_escapes_as_another_error(token: str) -> None:
    with pytest.raises(InvalidToken):
        JWT(SECRET).decode(token)


def test_jwt_bearer_gives_claims_or_none() -> None:
    tokens = AUDIENCE_TOKENS
    app = App()

    @app.get("/strict")
    async def strict(claims: Annotated[dict, Depends(STRICT)]) -> dict:
        return claims

    @app.get("/lenient")
    async def lenient(claims: Annotated[dict | None, Depends(LENIENT)]) -> dict:
        return {"claims": claims}

    good = {"authorization": "Bearer " + tokens.encode({"sub": "a"})}
    expired = {"authorization": "Bearer " + tokens.encode({"sub": "a"}, expires_in=-5)}
    with TestClient(app) as client:
        assert client.get("/strict", headers=good).json()["sub"] == "a"
        r = client.get("/strict", headers=expired)
        assert r.status_code == 401
        assert (
            r.headers["www-authenticate"]
            == 'Bearer error="invalid_token", error_description="token expired"'
        )
        assert client.get("/strict").headers["www-authenticate"] == "Bearer"
        assert client.get("/lenient").json() == {"claims": None}
        assert client.get("/lenient", headers=expired).json() == {"claims": None}
        assert client.get("/lenient", headers=good).json()["claims"]["sub"] == "a"


def test_jwt_bearer_with_another_keyword() -> None:
    bearer = JWTBearer(AUDIENCE_TOKENS, keyword="JWT")
    app = App()

    @app.get("/claims")
    async def claims(claims: Annotated[dict[str, str], Depends(bearer)]) -> dict[str, str]:
        return {"sub": claims["sub"]}

    token = AUDIENCE_TOKENS.encode({"sub": "ada"})
    with TestClient(app) as c:
        assert c.get("/claims", headers={"authorization": f"JWT {token}"}).json() == {"sub": "ada"}
        assert c.get("/claims", headers={"authorization": f"Bearer {token}"}).status_code == 401
        bad = c.get("/claims", headers={"authorization": "JWT nope"})
        assert bad.status_code == 401
        assert bad.headers["www-authenticate"].startswith('JWT error="invalid_token"')
        assert bad.json()["detail"] == "Invalid token: token is malformed"
