"""Security schemes: credentials in, 401 problems with challenges out."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Annotated

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from celeris import App, Depends
from celeris.openapi.security import (
    APIKeyHeader,
    HTTPBasic,
    HTTPBearer,
    OAuth2PasswordBearer,
    quote,
)
from celeris.testing import TestClient

from .sample_app import API_KEY, BEARER, app


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(app) as c:
        yield c


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {raw}"}


def test_bearer_missing_or_wrong_scheme(client: TestClient) -> None:
    item = {"name": "saw", "price": 3}
    for headers in ({}, {"authorization": "Basic abc"}, {"authorization": "Bearer "}):
        r = client.post("/items/", json=item, headers=headers)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Bearer"
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["detail"] == "Missing or malformed bearer token"
    r = client.post("/items/", json=item, headers={"authorization": f"bearer {BEARER}"})
    assert r.status_code == 201
    r = client.post("/items/", json=item, headers={"authorization": "Bearer wrong"})
    assert r.status_code == 401


def test_basic(client: TestClient) -> None:
    r = client.get("/whoami", headers=basic("alice", "wonderland"))
    assert r.status_code == 200
    assert r.json() == {"user": "alice"}
    r = client.get("/whoami", headers=basic("alice", "wonder:land"))
    assert r.status_code == 401
    assert r.json()["detail"] == "Wrong user or password"
    r = client.get("/whoami")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Basic realm="sample", charset="UTF-8"'
    for bad in (
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"\xff:x").decode(),
    ):
        r = client.get("/whoami", headers={"authorization": bad})
        assert r.status_code == 401
        assert r.json()["detail"] == "Malformed basic credentials"


def test_api_keys_in_header_query_and_cookie(client: TestClient) -> None:
    r = client.delete("/items/1", headers={"x-api-key": API_KEY})
    assert r.status_code == 204
    r = client.delete("/items/1")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'APIKey header="X-API-Key"'
    r = client.get("/keys", params={"api_key": API_KEY}, headers={"cookie": f"session={API_KEY}"})
    assert r.json() == {"query": API_KEY, "cookie": API_KEY}
    r = client.get("/keys", params={"api_key": API_KEY})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'APIKey cookie="session"'
    r = client.get("/keys", params={"api_key": ""}, headers={"cookie": f"session={API_KEY}"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'APIKey query="api_key"'


def test_oauth2_password_flow_and_jwt(client: TestClient) -> None:
    r = client.post("/token", data={"username": "bob", "password": "x"})
    assert r.status_code == 200
    token = r.json()["access_token"]
    r = client.get("/me", headers={"authorization": f"Bearer {token}"})
    assert r.json() == {"sub": "bob"}
    r = client.get("/scoped", headers={"authorization": f"Bearer {token}"})
    assert r.text == "ok"
    r = client.get("/me", headers={"authorization": "Bearer not.a.jwt"})
    assert r.status_code == 401
    assert (
        r.headers["www-authenticate"]
        == 'Bearer error="invalid_token", error_description="token is malformed"'
    )
    assert r.json()["detail"] == "Invalid bearer token: token is malformed"


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60))
def test_any_authorization_header_gives_200_or_401(value: str) -> None:
    with TestClient(app) as c:
        assert c.get("/whoami", headers={"authorization": value}).status_code in (200, 401)
        assert c.get("/me", headers={"authorization": value}).status_code in (200, 401)


def test_scheme_objects() -> None:
    assert HTTPBearer(bearer_format="JWT", scheme_name="B").scheme_name == "B"
    assert repr(HTTPBasic()) == "HTTPBasic(scheme_name='HTTPBasic')"
    assert OAuth2PasswordBearer("/t").openapi().flows is not None
    with pytest.raises(ValueError, match="E030"):
        APIKeyHeader("")
    assert quote('a"b\\c') == '"a\\"b\\\\c"'


def test_auto_error_false_gives_none() -> None:
    app_ = App()

    @app_.get("/opt")
    async def opt(
        token: Annotated[str | None, Depends(HTTPBearer(auto_error=False))],
        key: Annotated[str | None, Depends(APIKeyHeader("K", auto_error=False))],
        cred: Annotated[object, Depends(HTTPBasic(auto_error=False))],
    ) -> dict[str, bool]:
        return {"token": token is None, "key": key is None, "cred": cred is None}

    with TestClient(app_) as c:
        assert c.get("/opt").json() == {"token": True, "key": True, "cred": True}
        assert c.get("/opt", headers={"authorization": "Basic !!"}).json()["cred"] is True


def test_bearer_keyword_is_configurable() -> None:
    token_auth = HTTPBearer(keyword="Token", scheme_name="TokenAuth")
    app = App()

    @app.get("/me")
    async def me(token: Annotated[str, Depends(token_auth)]) -> dict[str, str]:
        return {"token": token}

    with TestClient(app) as c:
        assert c.get("/me", headers={"authorization": "Token abc"}).json() == {"token": "abc"}
        assert c.get("/me", headers={"authorization": "token abc"}).status_code == 200
        r = c.get("/me", headers={"authorization": "Bearer abc"})
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == "Token"
        assert r.json()["detail"] == (
            "Missing or malformed token (expected 'Authorization: Token <token>')"
        )
        scheme = c.get("/openapi.json").json()["components"]["securitySchemes"]["TokenAuth"]
    assert scheme == {
        "type": "apiKey",
        "name": "Authorization",
        "in": "header",
        "description": "`Authorization: Token <token>`",
    }
    with pytest.raises(ValueError, match="E031"):
        HTTPBearer(keyword="Two words")
