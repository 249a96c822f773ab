"""``celeris.security.CSRF``: Fetch Metadata and Origin first, tokens as the fallback."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from celeris import App, Request
from celeris.security import CSRF, csrf_token
from celeris.security.tokens import mask, same_secret, unmask
from celeris.sessions import Sessions
from celeris.templating import Templates
from celeris.testing import TestClient

SECRET = "csrf-test-secret-key"
BROWSER_FORM = {"content-type": "application/x-www-form-urlencoded"}


def make_app(tmp_path: Path, *, sessions: bool, **options: Any) -> App:
    (tmp_path / "form.html").write_text(
        '<form method="post" action="/submit">{{ csrf_input() }}'
        '<input name="text"><button>Send</button></form><p id="t">{{ csrf_token() }}</p>'
    )
    templates = Templates(tmp_path)
    app = App()
    if sessions:
        Sessions(app=app, secret_key=SECRET)
    CSRF(app=app, secret_key=SECRET, templates=templates, **options)

    @app.get("/form")
    async def form(request: Request) -> Any:
        return templates.render("form.html", {"request": request})

    @app.post("/submit")
    async def submit(request: Request) -> dict[str, Any]:
        data = await request.form()
        return {"text": data.get("text")}

    @app.post("/bare")
    async def bare() -> str:
        return "changed"

    @app.post("/hook", csrf_exempt=True)
    async def hook() -> str:
        return "exempt"

    @app.get("/safe")
    async def safe() -> str:
        return "safe"

    @app.post("/api")
    async def api(request: Request) -> dict[str, Any]:
        return await request.json()

    return app


def token_from(client: TestClient) -> str:
    page = client.get("/form").text
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


@pytest.fixture(params=[True, False], ids=["session-token", "double-submit-cookie"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> App:
    return make_app(tmp_path, sessions=request.param)


def test_same_origin_fetch_metadata_passes(app: App) -> None:
    with TestClient(app) as client:
        for site in ("same-origin", "none"):
            r = client.post("/bare", headers={"sec-fetch-site": site})
            assert r.status_code == 200, site


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_cross_site_post_is_refused(app: App, site: str) -> None:
    with TestClient(app) as client:
        token = token_from(client)  # even with a valid token: the browser says cross-site
        r = client.post(
            "/submit",
            data={"text": "evil", "csrf_token": token},
            headers={"sec-fetch-site": site, "origin": "https://evil.example"},
        )
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        assert problem["status"] == 403
        assert site in problem["detail"]


def test_origin_checks_without_fetch_metadata(app: App) -> None:
    with TestClient(app) as client:
        assert client.post("/bare", headers={"origin": "http://testserver"}).status_code == 200
        r = client.post("/bare", headers={"origin": "https://evil.example"})
        assert r.status_code == 403
        assert "another origin" in r.json()["detail"]
        assert client.post("/bare", headers={"origin": "null"}).status_code == 403
        r = client.post("/bare", headers={"referer": "https://evil.example/page"})
        assert r.status_code == 403


def test_cookieless_clients_without_browser_headers_pass(app: App) -> None:
    with TestClient(app) as client:  # curl, a server-to-server call: no ambient credential
        assert client.post("/bare").status_code == 200
        assert client.post("/submit", data={"text": "x"}).status_code == 200


def test_token_fallback_when_the_browser_says_nothing(app: App) -> None:
    with TestClient(app) as client:
        token_from(client)  # the browser now holds cookies (session or csrftoken)
        assert client.post("/submit", data={"text": "x"}).status_code == 403  # missing
        r = client.post("/submit", data={"text": "x", "csrf_token": "wrong"})
        assert r.status_code == 403
        assert "wrong" in r.json()["detail"]
        token = token_from(client)
        r = client.post("/submit", data={"text": "hello", "csrf_token": token})
        assert r.status_code == 200
        assert r.json() == {"text": "hello"}  # the handler still reads the form
        r = client.post("/api", json={"a": 1}, headers={"x-csrf-token": token_from(client)})
        assert r.status_code == 200
        assert r.json() == {"a": 1}
        # a route that does not see the Request is protected too
        assert client.post("/bare").status_code == 403
        assert client.post("/bare", headers={"x-csrf-token": token}).status_code == 200


def test_tokens_are_masked_per_render(app: App) -> None:
    with TestClient(app) as client:
        first, second = token_from(client), token_from(client)
        assert first != second
        assert unmask(first) == unmask(second)


def test_token_from_another_client_is_refused(app: App) -> None:
    with TestClient(app) as attacker, TestClient(app) as victim:
        stolen = token_from(attacker)
        token_from(victim)
        r = victim.post("/submit", data={"text": "x", "csrf_token": stolen})
        assert r.status_code == 403


def test_forged_csrf_cookie_is_refused(tmp_path: Path) -> None:
    app = make_app(tmp_path, sessions=False)
    with TestClient(app) as client:
        secret = "attacker-chosen-secret"
        client.cookies.set("csrftoken", secret)  # unsigned: cookie tossing from a subdomain
        r = client.post("/submit", data={"text": "x", "csrf_token": mask(secret)})
        assert r.status_code == 403


def test_authorization_header_and_exempt_routes_skip(app: App) -> None:
    with TestClient(app) as client:
        r = client.post("/bare", headers={"authorization": "Bearer abc", "origin": "https://x.y"})
        assert r.status_code == 200
        r = client.post("/hook", headers={"sec-fetch-site": "cross-site"})
        assert r.status_code == 200
        assert r.text == "exempt"
        assert client.get("/safe", headers={"sec-fetch-site": "cross-site"}).status_code == 200


def test_trusted_origins(tmp_path: Path) -> None:
    app = make_app(tmp_path, sessions=True, trusted_origins=["https://partner.example"])
    with TestClient(app) as client:
        r = client.post(
            "/bare",
            headers={"sec-fetch-site": "cross-site", "origin": "https://partner.example"},
        )
        assert r.status_code == 200
        r = client.post("/bare", headers={"origin": "https://partner.example"})
        assert r.status_code == 200


def test_trusted_origins_from_settings(tmp_path: Path) -> None:
    from celeris.settings import Settings

    class Config(Settings):
        SECRET_KEY: str = SECRET
        CSRF_TRUSTED_ORIGINS: list[str] = []

    app = App(settings=Config(_environ={"CSRF_TRUSTED_ORIGINS": "https://a.example"}))
    CSRF(app=app)

    @app.post("/x")
    async def x() -> str:
        return "ok"

    with TestClient(app) as client:
        assert client.post("/x", headers={"origin": "https://a.example"}).status_code == 200
        assert client.post("/x", headers={"origin": "https://b.example"}).status_code == 403


def test_browsers_get_an_html_page(app: App) -> None:
    with TestClient(app) as client:
        r = client.post(
            "/bare",
            headers={"sec-fetch-site": "cross-site", "accept": "text/html,application/xhtml+xml"},
        )
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("text/html")
        assert "<h1>403 Forbidden</h1>" in r.text
        assert "cross-site" in r.text


def test_double_submit_cookie_flags(tmp_path: Path) -> None:
    app = make_app(tmp_path, sessions=False)
    with TestClient(app, base_url="https://testserver") as client:
        header = client.get("/form").headers["set-cookie"].lower()
        assert header.startswith("csrftoken=")
        for flag in ("httponly", "samesite=lax", "secure", "path=/"):
            assert flag in header
        assert "set-cookie" not in client.get("/form").headers  # issued once
        assert "set-cookie" not in client.get("/safe").headers


def test_routes_that_cannot_render_a_token_skip_the_step(tmp_path: Path) -> None:
    app = make_app(tmp_path, sessions=True)
    with TestClient(app):
        csrf = app.state.csrf
        by_path = {r.path: r for r in app.routes}
        assert csrf.for_route(by_path["/safe"]) is None
        assert csrf.for_route(by_path["/hook"]) is None
        assert csrf.for_route(by_path["/bare"]) is not None


def test_with_sessions_a_safe_route_that_renders_a_token_runs_no_csrf_step(
    tmp_path: Path,
) -> None:
    from celeris.security import csrf as csrf_module

    app = make_app(tmp_path, sessions=True)
    with TestClient(app) as client:
        by_path = {(r.path, *sorted(r.methods)): r for r in app.routes}
        # NOTE: routes are compiled before CSRF.start(); the session token needs no cookie.
        steps = by_path["/form", "GET"].flow.steps
        assert not any(isinstance(step, csrf_module._Issue) for step in steps), steps
        assert any(
            isinstance(step, csrf_module._Check) for step in by_path["/bare", "POST"].flow.steps
        )
        r = client.get("/form")
        assert "csrftoken" not in r.headers.get("set-cookie", "")
        token = re.search(r'name="csrf_token" value="([^"]+)"', r.text)
        assert token is not None
        assert client.post("/submit", data={"text": "x", "csrf_token": token.group(1)}).json() == {
            "text": "x"
        }


def test_mask_is_the_pad_then_the_secret_xor_the_pad(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    from celeris.security import tokens

    secret = tokens.new_secret()
    pad = bytes(range(7, 7 + len(secret)))
    monkeypatch.setattr(tokens.os, "urandom", lambda n: pad[:n])
    masked = tokens.mask(secret)
    raw = base64.urlsafe_b64decode(masked + "=" * (-len(masked) % 4))
    assert raw[: len(pad)] == pad
    assert bytes(a ^ b for a, b in zip(pad, secret.encode(), strict=True)) == raw[len(pad) :]
    assert unmask(masked) == secret
    monkeypatch.undo()
    for _ in range(50):
        fresh = tokens.new_secret()
        assert unmask(mask(fresh)) == fresh
        assert mask(fresh) != mask(fresh)


def test_csrf_token_without_the_battery() -> None:
    app = App()

    @app.get("/")
    async def index(request: Request) -> str:
        return csrf_token(request)

    with TestClient(app) as client, pytest.raises(RuntimeError, match="CSRF"):
        client.get("/")


def test_token_helpers() -> None:
    assert same_secret(mask("abc"), "abc")
    assert not same_secret(mask("abc"), "abd")
    for bad in ("", "!!!", "a" * 300, "YQ"):
        assert not same_secret(bad, "abc")


def test_a_router_can_exempt_its_routes() -> None:
    from celeris import Router

    app = App()
    CSRF(app=app, secret_key=SECRET)
    hooks = Router(prefix="/hooks", csrf_exempt=True)

    @hooks.post("/billing")
    async def billing() -> str:
        return "ok"

    @app.post("/form")
    async def form() -> str:
        return "ok"

    app.include_router(hooks)
    cross = {"sec-fetch-site": "cross-site"}
    with TestClient(app) as client:
        assert client.post("/hooks/billing", headers=cross).status_code == 200
        assert client.post("/form", headers=cross).status_code == 403


def test_csrf_input_escapes_the_field_name_and_follows_changes(tmp_path: Path) -> None:
    from celeris.security import csrf_input

    app = App()
    Sessions(app=app, secret_key=SECRET)
    csrf = CSRF(app=app, secret_key=SECRET, field_name='a"b<c')

    @app.get("/")
    async def index(request: Request) -> list[str]:
        first = csrf_input(request)
        csrf.field_name = "token"
        return [first, csrf_input(request)]

    with TestClient(app) as client:
        first, second = client.get("/").json()
    assert first.startswith('<input type="hidden" name="a&quot;b&lt;c" value="')
    assert second.startswith('<input type="hidden" name="token" value="')
    assert unmask(first.split('value="')[1][:-2]) == unmask(second.split('value="')[1][:-2])
