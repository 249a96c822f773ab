from __future__ import annotations

from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from celeris.middleware import CORSMiddleware
from celeris.types import Receive, Scope, Send

ORIGIN = "https://app.example.com"


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"content-type", b"text/plain")]
    if scope["path"] == "/vary":
        headers.append((b"vary", b"Accept-Encoding"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"hello"})


def client(**options: Any) -> httpx.AsyncClient:
    app = CORSMiddleware(hello, **options)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def preflight_headers(
    method: str = "GET", headers: str | None = None, origin: str = ORIGIN
) -> dict[str, str]:
    out = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        out["Access-Control-Request-Headers"] = headers
    return out


async def test_no_origin_passes_through_untouched() -> None:
    async with client(allow_origins=[ORIGIN]) as c:
        r = await c.get("/")
    assert r.text == "hello"
    assert not any(k.startswith("access-control") for k in r.headers)


async def test_simple_request_from_allowed_origin() -> None:
    async with client(allow_origins=[ORIGIN], expose_headers=["X-Total"]) as c:
        r = await c.get("/", headers={"Origin": ORIGIN})
    assert r.text == "hello"
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["access-control-expose-headers"] == "X-Total"
    assert r.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in r.headers


async def test_simple_request_from_other_origin_gets_no_cors_headers() -> None:
    async with client(allow_origins=[ORIGIN]) as c:
        r = await c.get("/vary", headers={"Origin": "https://evil.com"})
    assert r.status_code == 200
    assert "access-control-allow-origin" not in r.headers
    assert r.headers["vary"] == "Accept-Encoding, Origin"


async def test_wildcard_without_credentials_sends_star() -> None:
    async with client(allow_origins=["*"]) as c:
        r = await c.get("/", headers={"Origin": ORIGIN})
    assert r.headers["access-control-allow-origin"] == "*"
    assert "vary" not in r.headers


async def test_wildcard_with_credentials_echoes_origin() -> None:
    async with client(
        allow_origins=["*"], allow_credentials=True, allow_methods=["*"], allow_headers=["*"]
    ) as c:
        r = await c.get("/", headers={"Origin": ORIGIN})
        assert r.headers["access-control-allow-origin"] == ORIGIN
        assert r.headers["access-control-allow-credentials"] == "true"
        assert r.headers["vary"] == "Origin"
        p = await c.options("/", headers=preflight_headers("PROPFIND", "X-Custom, X-Other"))
    assert p.status_code == 200
    assert p.headers["access-control-allow-origin"] == ORIGIN
    assert p.headers["access-control-allow-methods"] == "PROPFIND"
    assert p.headers["access-control-allow-headers"] == "x-custom, x-other"
    assert p.headers["access-control-allow-credentials"] == "true"
    assert "*" not in p.headers.values()


async def test_preflight_ok() -> None:
    async with client(
        allow_origins=[ORIGIN], allow_methods=["GET", "post"], allow_headers=["X-Token"], max_age=60
    ) as c:
        r = await c.options("/", headers=preflight_headers("POST", "x-token, content-type"))
    assert r.status_code == 200
    assert r.text == "OK"
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert r.headers["access-control-allow-methods"] == "GET, POST"
    assert "x-token" in r.headers["access-control-allow-headers"]
    assert r.headers["access-control-max-age"] == "60"
    assert r.headers["vary"] == "Origin"


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        (preflight_headers(origin="https://evil.com"), "Disallowed CORS origin"),
        (preflight_headers("DELETE"), "Disallowed CORS method"),
        (preflight_headers("GET", "x-secret"), "Disallowed CORS headers"),
        (
            preflight_headers("DELETE", "x-secret", origin="https://evil.com"),
            "Disallowed CORS origin, method, headers",
        ),
    ],
)
async def test_preflight_rejected(headers: dict[str, str], reason: str) -> None:
    async with client(allow_origins=[ORIGIN]) as c:
        r = await c.options("/", headers=headers)
    assert r.status_code == 400
    assert r.text == reason
    assert r.headers["content-type"].startswith("text/plain")


async def test_regex_origins() -> None:
    async with client(allow_origin_regex=r"https://.*\.example\.org") as c:
        ok = await c.get("/", headers={"Origin": "https://a.example.org"})
        bad = await c.get("/", headers={"Origin": "https://a.example.org.evil.com"})
    assert ok.headers["access-control-allow-origin"] == "https://a.example.org"
    assert "access-control-allow-origin" not in bad.headers


async def test_options_without_request_method_reaches_app() -> None:
    async with client(allow_origins=[ORIGIN]) as c:
        r = await c.options("/", headers={"Origin": ORIGIN})
    assert r.text == "hello"
    assert r.headers["access-control-allow-origin"] == ORIGIN


async def test_wildcard_headers_reject_garbage() -> None:
    async with client(allow_origins=["*"], allow_headers=["*"]) as c:
        r = await c.options("/", headers=preflight_headers("GET", "x-ok, bad header"))
    assert r.status_code == 400


@pytest.mark.parametrize(
    "options",
    [
        {"allow_origins": ["https://example.com/"]},
        {"allow_origins": ["example.com"]},
        {"allow_methods": ["GET POST"]},
        {"max_age": -1},
    ],
)
def test_bad_configuration_fails_at_startup(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="CORSMiddleware"):
        CORSMiddleware(hello, **options)


@settings(max_examples=100, deadline=None)
@given(
    origin=st.text(max_size=40),
    method=st.text(max_size=10),
    requested=st.text(max_size=40),
    wildcard=st.booleans(),
)
async def test_any_preflight_gets_200_or_400(
    origin: str, method: str, requested: str, wildcard: bool
) -> None:
    options: dict[str, Any] = (
        {
            "allow_origins": ["*"],
            "allow_methods": ["*"],
            "allow_headers": ["*"],
            "allow_credentials": True,
        }
        if wildcard
        else {"allow_origins": [ORIGIN]}
    )
    app = CORSMiddleware(hello, **options)
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    headers = [
        (b"origin", origin.encode("utf-8", "replace")),
        (b"access-control-request-method", method.encode("utf-8", "replace")),
        (b"access-control-request-headers", requested.encode("utf-8", "replace")),
    ]
    await app({"type": "http", "method": "OPTIONS", "path": "/", "headers": headers}, None, send)  # type: ignore[arg-type]
    assert sent[0]["status"] in (200, 400)
    for name, value in sent[0]["headers"]:
        assert b"\r" not in value
        assert b"\n" not in value
        if wildcard and name == b"access-control-allow-origin":
            assert value != b"*"  # never with credentials
