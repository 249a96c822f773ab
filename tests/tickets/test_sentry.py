"""The Sentry endpoint: the real sentry-sdk sends to a real celeris server; bad input is a 4xx."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import json
import socket
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import brotli
import httpx
import pytest
import sentry_sdk

from celeris import App
from celeris.server.config import Config
from celeris.server.server import Server
from celeris.testing import AsyncTestClient
from celeris.tickets import Tickets
from celeris.tickets.redact import MASK

KEY = "0123456789abcdef0123456789abcdef"
WHEN = datetime.datetime.now(datetime.UTC).replace(microsecond=0) - datetime.timedelta(hours=1)


@asynccontextmanager
async def serving(app: Any) -> AsyncIterator[int]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = Server(Config(access_log=False), app)
    server.started = asyncio.Event()
    task = asyncio.create_task(server.serve([sock]))
    await asyncio.wait_for(server.started.wait(), 10)
    try:
        yield sock.getsockname()[1]
    finally:
        server.request_stop()
        await asyncio.wait_for(task, 30)
        sock.close()


def order_total(items: list[int], api_token: str) -> float:
    count = 0
    return sum(items) / count


def _send_with_the_sdk(dsn: str) -> tuple[str, str]:
    """Run the real SDK: one exception and one message, flushed to the DSN."""
    sentry_sdk.init(
        dsn=dsn,
        release="shop@1.4.0",
        default_integrations=False,
        auto_enabling_integrations=False,
        include_local_variables=True,
    )
    try:
        try:
            order_total([1, 2], api_token="tok-abcdefghijkl")
        except ZeroDivisionError:
            error_id = sentry_sdk.capture_exception()
        message_id = sentry_sdk.capture_message("low stock for item 42")
        sentry_sdk.flush(timeout=10)
    finally:
        sentry_sdk.get_client().close(timeout=2)
        sentry_sdk.get_global_scope().set_client(None)
    assert error_id
    assert message_id
    return error_id, message_id


@pytest.mark.e2e
async def test_the_sentry_sdk_reports_to_a_celeris_server() -> None:
    app = App()
    tickets = Tickets("memory://", app=app, sentry_key=KEY)

    @app.get("/carts/{cart_id:int}")
    async def cart(cart_id: int) -> None:
        raise LookupError(f"no cart {cart_id}")

    async with serving(app) as port:
        tickets.base_url = f"http://127.0.0.1:{port}"
        assert tickets.dsn == f"http://{KEY}@127.0.0.1:{port}/1"
        error_id, message_id = await asyncio.wait_for(
            asyncio.to_thread(_send_with_the_sdk, tickets.dsn), 30
        )
        # NOTE: and the app's own failure on the real server (the fast lane, not ASGI)
        async with httpx.AsyncClient(base_url=tickets.base_url, timeout=10) as client:
            failed = await client.get("/carts/5")
        assert failed.status_code == 500
        own_id = failed.json()["ticket"]
        assert await tickets.flush(10)
    own = await tickets.ticket(own_id)
    assert own is not None
    assert own.route == "/carts/{cart_id:int}"
    assert own.request is not None
    assert own.request["client"].startswith("127.0.0.1:")
    error = await tickets.ticket(error_id)
    assert error is not None, "the SDK's exception did not become a ticket"
    assert error.source == "sentry"
    assert error.exc_type == "ZeroDivisionError"
    assert error.release == "shop@1.4.0"
    frame = error.frames[-1]
    assert frame["function"] == "order_total"
    assert frame["in_app"] is True
    assert any("sum(items) / count" in line["line"] for line in frame["context_lines"])
    assert frame["locals"]["api_token"] == MASK
    assert frame["locals"]["count"] == "0"
    message = await tickets.ticket(message_id)
    assert message is not None
    assert message.exc_type == "Message"
    assert message.message == "low stock for item 42"
    assert await tickets.count() == 3


async def test_the_same_sdk_error_twice_is_one_group() -> None:
    app = App()
    tickets = Tickets("memory://", app=app, sentry_key=KEY)
    async with AsyncTestClient(app) as client:
        for event_id in ("a" * 32, "b" * 32):
            response = await client.post(
                f"/api/1/store/?sentry_key={KEY}", content=json.dumps(_event(event_id, 7))
            )
            assert response.status_code == 200, response.text
        assert await tickets.flush(5)
        (group,) = await tickets.list()
        assert group.count == 2
        assert group.exc_type == "shop.OutOfStock"


def _event(event_id: str, line: int = 3, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "timestamp": WHEN.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "platform": "python",
        "exception": {
            "values": [
                {
                    "type": "OutOfStock",
                    "module": "shop",
                    "value": f"item {line} is out",
                    "stacktrace": {
                        "frames": [
                            {
                                "filename": "shop/cart.py",
                                "function": "checkout",
                                "module": "shop.cart",
                                "lineno": line,
                                "context_line": "    raise OutOfStock(item)",
                                "pre_context": ["def checkout(item):"],
                                "post_context": [],
                                "in_app": True,
                                "vars": {"item": "7", "password": "pw"},
                            }
                        ]
                    },
                }
            ]
        },
        "request": {
            "method": "POST",
            "url": "https://shop.example/cart?page=2&token=t0ps3cr3t",
            "headers": {"Authorization": "Basic dXNlcjpwYXNz", "User-Agent": "x"},
        },
        "user": {"id": "9", "email": "ada@example.com"},
        **extra,
    }


def _envelope(*events: dict[str, Any], with_length: bool = False) -> bytes:
    lines = [json.dumps({"event_id": events[0]["event_id"] if events else None})]
    for event in events:
        payload = json.dumps(event)
        header: dict[str, Any] = {"type": "event"}
        if with_length:
            header["length"] = len(payload.encode())
        lines += [json.dumps(header), payload]
    lines += [json.dumps({"type": "client_report"}), json.dumps({"discarded_events": []})]
    return ("\n".join(lines) + "\n").encode()


AUTH = {"x-sentry-auth": f"Sentry sentry_key={KEY}, sentry_version=7, sentry_client=test/1"}


@pytest.mark.parametrize("encoding", ["identity", "gzip", "deflate", "br"])
@pytest.mark.parametrize("with_length", [False, True])
async def test_envelopes_in_every_encoding(encoding: str, with_length: bool) -> None:
    app = App()
    tickets = Tickets("memory://", app=app, sentry_key=KEY)
    body = _envelope(_event("c" * 32), _event("d" * 32, line=9), with_length=with_length)
    packed = {
        "identity": lambda b: b,
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "br": brotli.compress,
    }[encoding](body)
    async with AsyncTestClient(app) as client:
        response = await client.post(
            "/api/1/envelope/",
            content=packed,
            headers={**AUTH, "content-encoding": encoding},
        )
        assert response.status_code == 200, response.text
        assert response.json() == {"id": "c" * 32}
        assert await tickets.flush(5)
        ticket = await tickets.ticket("c" * 32)
    assert ticket is not None
    assert ticket.request is not None
    assert ticket.request["headers"]["Authorization"] == MASK
    assert ["token", MASK] in ticket.request["query"]
    assert ticket.frames[0]["locals"]["password"] == MASK
    assert ticket.user == {"id": "9", "email": "ada@example.com"}
    assert ticket.created == WHEN
    assert await tickets.count() == 1  # the same error on another line is the same group


async def test_the_key_may_come_from_the_query_or_the_envelopes_dsn() -> None:
    app = App()
    tickets = Tickets("memory://", app=app, sentry_key=KEY)
    async with AsyncTestClient(app) as client:
        query = await client.post(
            f"/api/1/envelope/?sentry_key={KEY}", content=_envelope(_event("e" * 32))
        )
        assert query.status_code == 200
        header = json.dumps({"event_id": "f" * 32, "dsn": f"http://{KEY}@h/1"})
        body = (
            header.encode() + b"\n" + b'{"type":"event"}\n' + json.dumps(_event("f" * 32)).encode()
        )
        from_dsn = await client.post("/api/1/envelope/", content=body)
        assert from_dsn.status_code == 200, from_dsn.text
        assert await tickets.flush(5)
        assert await tickets.ticket("f" * 32) is not None


BAD = [
    ("no key", {}, b"{}\n", 401),
    ("wrong key", {"x-sentry-auth": "Sentry sentry_key=nope"}, b"{}\n", 403),
    ("not json", AUTH, b"this is not an envelope", 400),
    ("header is a list", AUTH, b"[1, 2]\n", 400),
    ("bad item header", AUTH, b'{}\n{"type": \n', 400),
    ("item not an object", AUTH, b'{}\n{"type":"event"}\n[1]\n', 400),
    ("short length", AUTH, b'{}\n{"type":"event","length":500}\n{}\n', 400),
    ("negative length", AUTH, b'{}\n{"type":"event","length":-1}\n{}\n', 400),
    ("bad gzip", {**AUTH, "content-encoding": "gzip"}, b"not gzip", 400),
    ("bad br", {**AUTH, "content-encoding": "br"}, b"not brotli", 400),
    ("unknown encoding", {**AUTH, "content-encoding": "zstd-ish"}, b"{}", 415),
    ("too large", AUTH, b"{}\n" + b" " * 2_000_000, 413),
    ("gzip bomb", {**AUTH, "content-encoding": "gzip"}, gzip.compress(b" " * 30_000_000), 413),
]


@pytest.mark.parametrize(("case", "headers", "body", "status"), BAD, ids=[b[0] for b in BAD])
async def test_bad_input_is_a_precise_problem(
    case: str, headers: dict[str, str], body: bytes, status: int
) -> None:
    app = App()
    tickets = Tickets("memory://", app=app, sentry_key=KEY)
    async with AsyncTestClient(app) as client:
        response = await client.post("/api/1/envelope/", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status
    assert tickets.pending == 0


async def test_the_legacy_store_endpoint_and_its_bad_input() -> None:
    app = App()
    tickets = Tickets("memory://", app=app, sentry_key=KEY)
    async with AsyncTestClient(app) as client:
        ok = await client.post("/api/1/store/", content=json.dumps(_event("1" * 32)), headers=AUTH)
        assert ok.status_code == 200
        assert ok.json() == {"id": "1" * 32}
        garbage = {"exception": {"values": [{"type": 5, "stacktrace": {"frames": "no"}}]}}
        odd = await client.post("/api/1/store/", content=json.dumps(garbage), headers=AUTH)
        assert odd.status_code == 200  # odd field types are read as best they can be
        for body, status in ((b"nope", 400), (b"[]", 400)):
            response = await client.post("/api/1/store/", content=body, headers=AUTH)
            assert response.status_code == status
        wrong_project = await client.post("/api/2/store/", content=b"{}", headers=AUTH)
        assert wrong_project.status_code == 404
        assert await tickets.flush(5)
        assert await tickets.count() == 2


async def test_no_sentry_routes_when_disabled() -> None:
    app = App()
    Tickets("memory://", app=app, sentry_path=None)
    async with AsyncTestClient(app) as client:
        assert (await client.post("/api/1/envelope/", content=b"{}")).status_code == 404


async def test_a_prefix_moves_the_routes_and_the_dsn() -> None:
    app = App()
    tickets = Tickets(
        "memory://", app=app, sentry_key=KEY, sentry_path="/_errors", base_url="https://x.example"
    )
    assert tickets.dsn == f"https://{KEY}@x.example/_errors/1"
    async with AsyncTestClient(app) as client:
        response = await client.post(
            "/_errors/api/1/store/", content=json.dumps(_event("2" * 32)), headers=AUTH
        )
        assert response.status_code == 200
