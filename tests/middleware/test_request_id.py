from __future__ import annotations

import re

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from celeris.middleware import RequestIDMiddleware
from celeris.middleware.request_id import DEFAULT_VALIDATE
from celeris.types import Receive, Scope, Send


async def echo_id(scope: Scope, receive: Receive, send: Send) -> None:
    body = scope["state"]["request_id"].encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def client(app: RequestIDMiddleware) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_generates_an_id() -> None:
    async with client(RequestIDMiddleware(echo_id)) as c:
        a = await c.get("/")
        b = await c.get("/")
    assert re.fullmatch(r"[0-9a-f]{32}", a.text)
    assert a.headers["x-request-id"] == a.text
    assert a.text != b.text


async def test_trusted_incoming_id_is_kept() -> None:
    async with client(RequestIDMiddleware(echo_id)) as c:
        r = await c.get("/", headers={"X-Request-ID": "abc-123"})
    assert r.text == "abc-123"
    assert r.headers["x-request-id"] == "abc-123"


@pytest.mark.parametrize("bad", ["a b", "x" * 201, "<script>", "a\tb", "é"])
async def test_malformed_incoming_id_is_replaced(bad: str) -> None:
    async with client(RequestIDMiddleware(echo_id)) as c:
        r = await c.get("/", headers=[(b"x-request-id", bad.encode())])
    assert r.text != bad
    assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"])


async def test_untrusted_incoming_is_ignored_and_options_apply() -> None:
    counter = iter(range(100))
    app = RequestIDMiddleware(
        echo_id,
        header_name="Correlation-Id",
        generator=lambda: f"id{next(counter)}",
        trust_incoming=False,
    )
    async with client(app) as c:
        r = await c.get("/", headers={"Correlation-Id": "abc"})
    assert r.text == "id0"
    assert r.headers["correlation-id"] == "id0"
    assert "x-request-id" not in r.headers


async def test_custom_validate_pattern() -> None:
    app = RequestIDMiddleware(echo_id, validate=r"[0-9]{4}")
    async with client(app) as c:
        good = await c.get("/", headers={"X-Request-ID": "1234"})
        bad = await c.get("/", headers={"X-Request-ID": "12345"})
    assert good.text == "1234"
    assert bad.text != "12345"


async def test_app_set_header_is_not_duplicated() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"x-request-id", b"mine")]}
        )
        await send({"type": "http.response.body", "body": b""})

    async with client(RequestIDMiddleware(app)) as c:
        r = await c.get("/")
    assert r.headers.get_list("x-request-id") == ["mine"]


async def test_existing_state_is_kept_and_websocket_accept_gets_header() -> None:
    sent: list[dict] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["state"]["db"] == "x"
        await send({"type": "websocket.accept"})

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {"type": "websocket", "headers": [(b"x-request-id", b"ws-1")], "state": {"db": "x"}}
    await RequestIDMiddleware(app)(scope, None, send)  # type: ignore[arg-type]
    assert scope["state"]["request_id"] == "ws-1"
    assert sent[0]["headers"] == [(b"x-request-id", b"ws-1")]


def test_bad_header_name_fails_at_startup() -> None:
    with pytest.raises(ValueError, match="not a valid header name"):
        RequestIDMiddleware(echo_id, header_name="X Request")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_default_validation_only_admits_safe_ids(value: str) -> None:
    if DEFAULT_VALIDATE.fullmatch(value):
        assert 1 <= len(value) <= 200
        assert all(c.isascii() and (c.isalnum() or c in "._:+/=@-") for c in value)
