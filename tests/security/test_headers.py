"""``celeris.security.SecurityHeaders``: constant headers, HSTS on HTTPS, CSP nonces."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from celeris import App, Request, Response
from celeris.security import DEFAULT_CSP, SecurityHeaders
from celeris.templating import Templates
from celeris.testing import TestClient

EXPECTED = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "x-permitted-cross-domain-policies": "none",
    "x-xss-protection": "0",
}


def make_app(tmp_path: Path, **options: Any) -> App:
    (tmp_path / "page.html").write_text('<script nonce="{{ csp_nonce() }}">console.log(1)</script>')
    templates = Templates(tmp_path)
    app = App()
    SecurityHeaders(app=app, templates=templates, **options)

    @app.get("/")
    async def index() -> str:
        return "hi"

    @app.get("/page")
    async def page(request: Request) -> Any:
        return templates.render("page.html", {"request": request})

    @app.get("/framed")
    async def framed() -> Response:
        return Response("ok", headers={"x-frame-options": "SAMEORIGIN"})

    @app.get("/missing")
    async def missing() -> None:
        from celeris import NotFound

        raise NotFound()

    return app


def test_defaults(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as client:
        for path in ("/", "/page", "/missing"):
            r = client.get(path)
            for name, value in EXPECTED.items():
                assert r.headers[name] == value, (path, name)
            assert "strict-transport-security" not in r.headers  # plain HTTP
            assert "content-security-policy" not in r.headers  # no CSP unless asked


def test_a_header_the_response_set_wins(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path)) as client:
        r = client.get("/framed")
        assert r.headers.get_list("x-frame-options") == ["SAMEORIGIN"]


def test_hsts_only_on_https(tmp_path: Path) -> None:
    with TestClient(make_app(tmp_path), base_url="https://testserver") as client:
        r = client.get("/")
        assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    app = make_app(tmp_path, hsts=600, hsts_include_subdomains=False, hsts_preload=True)
    with TestClient(app, base_url="https://testserver") as client:
        assert client.get("/").headers["strict-transport-security"] == "max-age=600; preload"
    with TestClient(make_app(tmp_path, hsts=False), base_url="https://testserver") as client:
        assert "strict-transport-security" not in client.get("/").headers


def test_csp_nonce_per_request(tmp_path: Path) -> None:
    app = make_app(tmp_path, csp=DEFAULT_CSP)
    with TestClient(app, base_url="https://testserver") as client:
        nonces = []
        for _ in range(2):
            r = client.get("/page")
            nonce = re.search(r'nonce="([^"]+)"', r.text).group(1)
            policy = r.headers["content-security-policy"]
            assert f"script-src 'self' 'nonce-{nonce}'" in policy
            assert f"style-src 'self' 'nonce-{nonce}'" in policy
            assert "{nonce}" not in policy
            assert r.headers["strict-transport-security"].startswith("max-age=")
            nonces.append(nonce)
        assert nonces[0] != nonces[1]
        # a route that cannot render a template gets the policy without a nonce
        policy = client.get("/").headers["content-security-policy"]
        assert "nonce" not in policy
        assert "script-src 'self';" in policy


def test_csp_from_a_mapping_and_report_only(tmp_path: Path) -> None:
    app = make_app(tmp_path, csp={"default-src": ["'self'"], "img-src": "*"}, csp_report_only=True)
    with TestClient(app) as client:
        r = client.get("/")
        assert r.headers["content-security-policy-report-only"] == "default-src 'self'; img-src *"


def test_constant_routes_cost_no_call(tmp_path: Path) -> None:
    app = make_app(tmp_path, hsts=False)
    with TestClient(app):
        step = next(s for s in app._steps if isinstance(s, SecurityHeaders))
        route = next(r for r in app.routes if r.path == "/")
        assert step.for_route(route) is step  # headers only: no before, no after


def test_the_steps_offer_plain_forms_that_await_nothing() -> None:
    """The pipeline calls these without a coroutine; they are the async forms' own code."""
    from celeris.security import headers

    hsts = headers._HSTS(SecurityHeaders())
    assert hsts._after_entry() == (hsts.add_hsts, False)
    nonce = headers._Nonce(SecurityHeaders(csp=DEFAULT_CSP))
    assert nonce._before_entry() == (nonce.new_nonce, False)
    assert nonce._after_entry() == (nonce.add_policy, False)
