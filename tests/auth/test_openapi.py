"""The auth routes' OpenAPI document tells the truth: every answer of a flow is documented
(status and media type), the bodies list their fields, and a 405's ``Allow`` names only
documented methods (the HTML pages are in the document, as text/html)."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from celeris.testing import TestClient

from .conftest import PASSWORD, MakeApp, signup

HTML = {"accept": "text/html"}


def _check(doc: dict[str, Any], path: str, answer: Any) -> Any:
    """Assert the answer's status (and media type, when it has a body) is documented."""
    method = answer.request.method.lower()
    responses = doc["paths"][path][method]["responses"]
    status = str(answer.status_code)
    assert status in responses, f"{method.upper()} {path} answered {status}: {answer.text}"
    content = responses[status].get("content")
    media = answer.headers.get("content-type", "").split(";")[0]
    if content is not None and answer.content:
        assert media in content, f"{method.upper()} {path} {status} answered {media}"
    return answer


def test_every_path_lists_the_methods_its_allow_names(make_app: MakeApp) -> None:
    app, _, _ = make_app(jwt=True)
    with TestClient(app) as client:
        doc = client.get("/openapi.json").json()
        validate(doc)
        paths = [p for p in doc["paths"] if p.startswith("/auth/")]
        assert "/auth/login" in paths
        assert "/auth/jwt" in paths
        for path in paths:
            url = path.replace("{provider}", "google").replace("{token_id}", "1")
            url = url.replace("{passkey_id}", "1")
            answer = client.patch(url)
            assert answer.status_code == 405, path
            documented = {m.upper() for m in doc["paths"][path]}
            expected = documented | {"OPTIONS"} | ({"HEAD"} if "GET" in documented else set())
            allowed = {m.strip() for m in answer.headers["allow"].split(",")}
            assert allowed == expected, path


def test_the_pages_are_documented_as_html(make_app: MakeApp) -> None:
    app, _, _ = make_app()
    with TestClient(app) as client:
        doc = client.get("/openapi.json").json()
        for path in ["/auth/login", "/auth/signup", "/auth/password/reset", "/auth/2fa"]:
            answer = _check(doc, path, client.get(path, headers=HTML))
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("text/html")
        # a page for signed-in users sends a browser to the sign-in page, and says so
        answer = client.get("/auth/password/change", headers=HTML, follow_redirects=False)
        assert _check(doc, "/auth/password/change", answer).status_code == 303


def test_api_answers_are_documented(make_app: MakeApp) -> None:
    app, _, _ = make_app(jwt=True)
    with TestClient(app) as client:
        doc = client.get("/openapi.json").json()
        wrong = {"email": "ada@example.org", "password": "wrong"}
        _check(doc, "/auth/signup", signup(client))
        _check(doc, "/auth/signup", client.post("/auth/signup", json={"email": "x"}))
        _check(doc, "/auth/logout", client.post("/auth/logout"))
        _check(doc, "/auth/login", client.post("/auth/login", json=wrong))
        _check(doc, "/auth/login", client.post("/auth/login", content=b"{", headers={}))
        _check(doc, "/auth/login", client.post("/auth/login", json=["not", "an", "object"]))
        right = {"email": "ada@example.org", "password": PASSWORD}
        _check(doc, "/auth/login", client.post("/auth/login", json=right))
        _check(doc, "/auth/account", client.get("/auth/account"))
        _check(doc, "/auth/verify", client.get("/auth/verify", params={"token": "nope"}))
        _check(
            doc, "/auth/password/reset", client.post("/auth/password/reset", json={"email": "@"})
        )
        confirm = client.post("/auth/password/reset/confirm", json={"token": "x", "password": "y"})
        _check(doc, "/auth/password/reset/confirm", confirm)
        _check(doc, "/auth/2fa/totp/setup", client.post("/auth/2fa/totp/setup"))
        _check(doc, "/auth/2fa/totp/confirm", client.post("/auth/2fa/totp/confirm", json={}))
        _check(doc, "/auth/2fa/totp/disable", client.post("/auth/2fa/totp/disable", json={}))
        _check(doc, "/auth/2fa", client.post("/auth/2fa", json={"code": "1"}))
        created = _check(doc, "/auth/tokens", client.post("/auth/tokens", json={"name": "ci"}))
        assert created.status_code == 201
        bad = client.post("/auth/tokens", json={"expires_in": "soon"})
        _check(doc, "/auth/tokens", bad)
        revoke = client.delete(f"/auth/tokens/{created.json()['id'] + 100}")
        _check(doc, "/auth/tokens/{token_id}", revoke)
        _check(doc, "/auth/jwt", client.post("/auth/jwt", json=wrong))
        pair = _check(doc, "/auth/jwt", client.post("/auth/jwt", json=right))
        refresh = client.post("/auth/jwt/refresh", json={"refresh_token": "nope"})
        assert _check(doc, "/auth/jwt/refresh", refresh).status_code == 401
        fresh = {"refresh_token": pair.json()["refresh_token"]}
        _check(doc, "/auth/jwt/refresh", client.post("/auth/jwt/refresh", json=fresh))
        _check(doc, "/auth/signout-everywhere", client.post("/auth/signout-everywhere"))
        _check(doc, "/auth/account", client.get("/auth/account"))


def test_browser_answers_are_documented(make_app: MakeApp) -> None:
    app, _, _ = make_app()
    with TestClient(app, follow_redirects=False) as client:
        doc = client.get("/openapi.json").json()
        form = {"email": "ada@example.org", "password": PASSWORD}
        _check(doc, "/auth/signup", client.post("/auth/signup", data=form, headers=HTML))
        _check(doc, "/auth/logout", client.post("/auth/logout", data={}, headers=HTML))
        wrong = {**form, "password": "wrong"}
        _check(doc, "/auth/login", client.post("/auth/login", data=wrong, headers=HTML))
        _check(doc, "/auth/login", client.post("/auth/login", data=form, headers=HTML))
        reset = client.post("/auth/password/reset", data={"email": "@"}, headers=HTML)
        _check(doc, "/auth/password/reset", reset)
        change = {"old_password": "wrong", "new_password": "x"}
        answer = client.post("/auth/password/change", data=change, headers=HTML)
        assert _check(doc, "/auth/password/change", answer).status_code == 400
        assert answer.headers["content-type"].startswith("text/html")


def test_the_bodies_list_their_fields(make_app: MakeApp) -> None:
    app, _, _ = make_app(jwt=True)
    with TestClient(app) as client:
        paths = client.get("/openapi.json").json()["paths"]
    fields = {
        "/auth/signup": ["email", "password"],
        "/auth/login": ["email", "password"],
        "/auth/2fa": ["code"],
        "/auth/password/reset": ["email"],
        "/auth/password/reset/confirm": ["token", "password"],
        "/auth/password/change": ["old_password", "new_password"],
        "/auth/jwt": ["email", "password"],
        "/auth/jwt/refresh": ["refresh_token"],
    }
    for path, required in fields.items():
        body = paths[path]["post"]["requestBody"]
        assert set(body["content"]) == {
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        }
        assert body["content"]["application/json"]["schema"]["required"] == required, path
    tokens = paths["/auth/tokens"]["post"]["requestBody"]
    assert tokens["required"] is False
    schema = tokens["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"name", "scopes", "expires_in"}
    passkey = paths["/auth/passkeys/register"]["post"]["requestBody"]["content"]
    assert set(passkey) == {"application/json"}


def test_the_query_values_read_by_hand_are_parameters(make_app: MakeApp) -> None:
    app, _, _ = make_app()
    with TestClient(app) as client:
        paths = client.get("/openapi.json").json()["paths"]

    def names(path: str) -> list[str]:
        return [p["name"] for p in paths[path]["get"].get("parameters", [])]

    assert names("/auth/login") == ["next"]
    assert names("/auth/oauth/{provider}/login") == ["provider", "next"]
    assert names("/auth/oauth/{provider}/callback") == ["provider", "code", "state", "error"]
