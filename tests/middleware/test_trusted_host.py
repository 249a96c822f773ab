from __future__ import annotations

import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from celeris.middleware import TrustedHostMiddleware
from celeris.types import Receive, Scope, Send


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1000})
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": b"hello"})


def client(app: TrustedHostMiddleware, host: str = "example.com") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


@pytest.mark.parametrize(
    ("host", "ok"),
    [
        ("example.com", True),
        ("EXAMPLE.com", True),
        ("example.com:8000", True),
        ("api.example.org", True),
        ("a.b.example.org", True),
        ("example.org", False),
        ("evil.com", False),
        ("example.com.evil.com", False),
        ("[::1]:8000", True),
        ("[::2]", False),
        ("example.com:@evil.com", False),
        ("example.com:80x", False),
        ("exa mple.com", False),
    ],
)
async def test_hosts(host: str, ok: bool) -> None:
    app = TrustedHostMiddleware(hello, allowed_hosts=["example.com", "*.example.org", "[::1]"])
    async with client(app) as c:
        r = await c.get("/", headers={"host": host})
    if ok:
        assert r.status_code == 200
        assert r.text == "hello"
    else:
        assert r.status_code == 400
        assert r.headers["content-type"] == "application/problem+json"
        problem = r.json()
        assert problem["status"] == 400
        assert problem["title"] == "Bad Request"
        assert "not served here" in problem["detail"] or "no valid Host" in problem["detail"]
        assert int(r.headers["content-length"]) == len(r.content)


async def test_wildcard_allows_everything() -> None:
    async with client(TrustedHostMiddleware(hello)) as c:
        r = await c.get("/", headers={"host": "anything.test"})
    assert r.status_code == 200


async def test_missing_host_is_rejected() -> None:
    app = TrustedHostMiddleware(hello, allowed_hosts=["example.com"])
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}
    await app(scope, receive, send)
    assert sent[0]["status"] == 400
    assert b"no valid Host header" in sent[1]["body"]


async def test_www_redirect_keeps_path_query_and_port() -> None:
    app = TrustedHostMiddleware(hello, allowed_hosts=["www.example.com"])
    async with client(app) as c:
        r = await c.get("/a/b?x=1", headers={"host": "example.com:8080"})
    assert r.status_code == 301
    assert r.headers["location"] == "http://www.example.com:8080/a/b?x=1"


async def test_www_redirect_refuses_a_crafted_port() -> None:
    app = TrustedHostMiddleware(hello, allowed_hosts=["www.example.com"])
    async with client(app) as c:
        r = await c.get("/", headers={"host": "example.com:@evil.com"})
    assert r.status_code == 400
    assert "location" not in r.headers


async def test_www_redirect_off() -> None:
    app = TrustedHostMiddleware(hello, allowed_hosts=["www.example.com"], www_redirect=False)
    async with client(app) as c:
        r = await c.get("/", headers={"host": "example.com"})
    assert r.status_code == 400


async def test_websocket_bad_host_is_closed() -> None:
    app = TrustedHostMiddleware(hello, allowed_hosts=["example.com"])
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/", "headers": [(b"host", b"evil.com")]}
    await app(scope, receive, send)
    assert sent == [{"type": "websocket.close", "code": 1008}]
    sent.clear()
    await app({**scope, "headers": [(b"host", b"example.com")]}, receive, send)
    assert sent[0]["type"] == "websocket.accept"


async def test_lifespan_passes_through() -> None:
    seen = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    await TrustedHostMiddleware(app, allowed_hosts=["example.com"])(
        {"type": "lifespan"}, None, None
    )  # type: ignore[arg-type]
    assert seen == ["lifespan"]


@pytest.mark.parametrize("pattern", ["exa*mple.com", "*", "*.", "a.*.com", "example.com/x", ""])
def test_bad_patterns_fail_at_startup(pattern: str) -> None:
    if pattern == "*":
        TrustedHostMiddleware(hello, allowed_hosts=[pattern])
        return
    with pytest.raises(ValueError, match="allowed host"):
        TrustedHostMiddleware(hello, allowed_hosts=[pattern])


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=60))
async def test_any_host_header_gets_a_clean_answer(host: bytes) -> None:
    app = TrustedHostMiddleware(hello, allowed_hosts=["www.example.com", "*.example.org"])
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"host", host)],
    }
    await app(scope, None, send)  # type: ignore[arg-type]
    assert sent[0]["status"] in (200, 301, 400)
    if sent[0]["status"] == 400:
        problem = json.loads(sent[1]["body"])
        assert problem["status"] == 400
