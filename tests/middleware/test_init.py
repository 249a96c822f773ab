from __future__ import annotations

import httpx

import celeris.middleware
from celeris import App, Request
from celeris.middleware import (
    CORSMiddleware,
    GZipMiddleware,
    RequestIDMiddleware,
    TrustedHostMiddleware,
)
from celeris.types import Receive, Scope, Send


def test_exports() -> None:
    assert set(celeris.middleware.__all__) == {
        "CORSMiddleware",
        "GZipMiddleware",
        "RequestIDMiddleware",
        "TrustedHostMiddleware",
    }


async def test_all_four_compose_on_a_raw_asgi_app() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        body = (scope["state"]["request_id"] + " ") * 100
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/plain")],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})

    stack = TrustedHostMiddleware(
        CORSMiddleware(
            GZipMiddleware(RequestIDMiddleware(app), brotli=False),
            allow_origins=["https://ui.example.com"],
        ),
        allowed_hosts=["api.example.com"],
    )
    transport = httpx.ASGITransport(app=stack)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.example.com") as client:
        r = await client.get(
            "/",
            headers={
                "Origin": "https://ui.example.com",
                "Accept-Encoding": "gzip",
                "X-Request-ID": "req-1",
            },
        )
        bad = await client.get("/", headers={"Host": "evil.com"})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert r.text == "req-1 " * 100
    assert r.headers["x-request-id"] == "req-1"
    assert r.headers["access-control-allow-origin"] == "https://ui.example.com"
    assert set(r.headers["vary"].replace(" ", "").split(",")) == {"Accept-Encoding", "Origin"}
    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/problem+json"


async def test_add_middleware_on_a_celeris_app() -> None:
    app = App()

    @app.get("/")
    async def index(request: Request) -> str:
        return request.scope["state"]["request_id"] * 50

    app.add_middleware(GZipMiddleware, minimum_size=100)
    app.add_middleware(CORSMiddleware, allow_origins=["https://ui.test"])
    app.add_middleware(RequestIDMiddleware)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["api.test"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api.test"
    ) as client:
        r = await client.get(
            "/",
            headers={"Origin": "https://ui.test", "Accept-Encoding": "br", "X-Request-ID": "r1"},
        )
        bad = await client.get("/", headers={"Host": "other.test"})
    assert r.status_code == 200
    assert r.text == "r1" * 50
    assert r.headers["content-encoding"] == "br"
    assert r.headers["access-control-allow-origin"] == "https://ui.test"
    assert r.headers["x-request-id"] == "r1"
    assert bad.status_code == 400
    assert bad.json()["detail"] == "The host 'other.test' is not served here."
