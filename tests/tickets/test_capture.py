"""What a ticket holds: traceback, source, locals, request, user, release — and what it hides."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from celeris import App, HTTPError, JSONResponse, Request
from celeris.settings import Secret, Settings
from celeris.templating import Templates
from celeris.testing import AsyncTestClient
from celeris.tickets import Ticket, Tickets
from celeris.tickets.redact import MASK, Redactor


class Config(Settings):
    SECRET_KEY: str = "s3cr3t-signing-key-value"
    STRIPE: Secret = Secret("sk_live_abcdefghijkl")
    WAREHOUSE_URL: str = "postgresql://app:db-pass-1234@db.example/app"
    RELEASE: str | None = None


class Card(msgspec.Struct):
    number: str
    password: str


def make_app(**settings: Any) -> tuple[App, Tickets]:
    app = App(settings=Config(**settings))
    tickets = Tickets("memory://", app=app)

    @app.get("/orders/{order_id:int}")
    async def order(order_id: int, request: Request) -> dict[str, int]:
        # NOTE: locals the ticket must show, with their secrets masked
        password = "hunter2hunter2"  # noqa: F841
        headers = {"Authorization": "Bearer zzzzzzzzzz", "ok": "fine"}  # noqa: F841
        card = Card(number="4242", password="pw-in-struct")  # noqa: F841
        big = "x" * 100_000  # noqa: F841
        stripe = request.app.settings.STRIPE
        raise RuntimeError(f"order {order_id} failed with {stripe}")

    @app.get("/fine")
    async def fine() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPError(418, "short and stout")

    @app.get("/deliberate")
    async def deliberate() -> None:
        raise HTTPError(500, "on purpose")

    @app.get("/who")
    async def who(request: Request) -> None:
        request.state.user = _User()
        raise KeyError("missing")

    @app.post("/form")
    async def form(request: Request) -> None:
        await request.body()
        raise ValueError("after reading the form")

    return app, tickets


class _User:
    id = 7
    email = "ada@example.com"
    password_hash = "argon2$secret"

    def __repr__(self) -> str:
        return "<User 7>"


async def _only_ticket(tickets: Tickets) -> Ticket:
    assert await tickets.flush(5)
    groups = await tickets.list()
    assert len(groups) == 1
    group = await tickets.get(groups[0].id)
    assert group is not None
    return group.samples[0]


async def test_the_500_carries_the_ticket_and_the_ticket_the_traceback() -> None:
    app, tickets = make_app(RELEASE="v1.2.3")
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        response = await client.get(
            "/orders/42?q=shoes&api_key=letmein99",
            headers={
                "authorization": "Bearer topsecrettoken",
                "cookie": "session=abc123",
                "x-csrf-token": "csrf-value-1",
                "x-request-id": "r-1",
            },
        )
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        ticket_id = body["ticket"]
        ticket = await _only_ticket(tickets)
    assert ticket.id == ticket_id
    assert ticket.exc_type == "RuntimeError"
    assert ticket.route == "/orders/{order_id:int}"
    assert ticket.release == "v1.2.3"
    assert ticket.created.tzinfo is not None
    frame = ticket.frames[-1]
    assert frame["function"].endswith("order")
    assert frame["in_app"] is True
    assert any("raise RuntimeError" in line["line"] for line in frame["context_lines"])
    assert [line["lineno"] for line in frame["context_lines"]].count(frame["lineno"]) == 1
    local = frame["locals"]
    assert local["order_id"] == "42"
    assert local["password"] == MASK
    assert "zzzzzzzzzz" not in local["headers"]
    assert "'ok': 'fine'" in local["headers"]
    assert "pw-in-struct" not in local["card"]
    assert "number='4242'" in local["card"]
    assert len(local["big"]) <= 512  # bounded
    request = ticket.request
    assert request is not None
    assert request["method"] == "GET"
    assert request["path"] == "/orders/42"
    assert request["route"] == "/orders/{order_id:int}"
    assert ["q", "shoes"] in request["query"]
    assert ["api_key", MASK] in request["query"]
    assert "letmein99" not in request["url"]
    assert request["headers"]["authorization"] == MASK
    assert request["headers"]["cookie"] == MASK
    assert request["headers"]["x-csrf-token"] == MASK
    assert request["headers"]["x-request-id"] == "r-1"
    assert request["client"]


async def test_setting_secret_values_are_masked_wherever_they_appear() -> None:
    app, tickets = make_app()
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        await client.get("/orders/1")
        ticket = await _only_ticket(tickets)
    dumped = json.dumps(msgspec.to_builtins(ticket))
    assert (
        "sk_live_abcdefghijkl" not in dumped
    )  # a Secret-typed setting, in a local and the message
    assert ticket.message == f"order 1 failed with {MASK}"
    assert MASK in ticket.frames[-1]["locals"]["stripe"]
    # NOTE: the source lines show literals as written; locals, request and message hide them.
    values = json.dumps([ticket.message, ticket.request, [f["locals"] for f in ticket.frames]])
    for secret in ("hunter2hunter2", "topsecrettoken", "pw-in-struct", "zzzzzzzzzz"):
        assert secret not in values


async def test_a_secret_value_in_a_message_and_a_url_password(tmp_path: Any) -> None:
    app = App(settings=Config())
    tickets = Tickets("memory://", app=app)

    @app.get("/leak")
    async def leak() -> None:
        url = "redis://user:other-pass-5678@cache/0"
        raise ValueError(
            f"cannot sign with s3cr3t-signing-key-value nor reach {url} (db-pass-1234)"
        )

    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        await client.get("/leak")
        ticket = await _only_ticket(tickets)
    assert "s3cr3t-signing-key-value" not in ticket.message
    assert "db-pass-1234" not in ticket.message  # the password inside WAREHOUSE_URL
    assert "other-pass-5678" not in ticket.message  # any URL's password
    assert "other-pass-5678" not in json.dumps(ticket.frames)


async def test_the_release_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CELERIS_RELEASE", "2026.12.1")
    app, tickets = make_app()
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        await client.get("/orders/1")
        ticket = await _only_ticket(tickets)
    assert ticket.release == "2026.12.1"


async def test_no_release_without_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CELERIS_RELEASE", raising=False)
    app, tickets = make_app()
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        await client.get("/orders/1")
        ticket = await _only_ticket(tickets)
    assert ticket.release is None


async def test_the_user_comes_from_request_state() -> None:
    app, tickets = make_app()
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        assert (await client.get("/who")).status_code == 500
        ticket = await _only_ticket(tickets)
    assert ticket.user is not None
    assert ticket.user["id"] == 7
    assert ticket.user["email"] == "ada@example.com"
    assert "argon2" not in json.dumps(ticket.user)
    assert ticket.exc_type == "KeyError"


async def test_a_form_read_by_the_handler_is_kept_with_its_secrets_masked() -> None:
    app, tickets = make_app()
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        response = await client.post("/form", data={"email": "a@b.c", "password": "pw-123456"})
        assert response.status_code == 500
        ticket = await _only_ticket(tickets)
    assert ticket.request is not None
    assert ticket.request["data"] == [["email", "a@b.c"], ["password", MASK]]


async def test_routes_that_answer_and_http_errors_make_no_ticket() -> None:
    app, tickets = make_app()
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        assert (await client.get("/fine")).status_code == 200
        assert (await client.get("/teapot")).status_code == 418
        deliberate = await client.get("/deliberate")
        assert deliberate.status_code == 500
        assert "ticket" not in deliberate.json()
        assert (await client.get("/nowhere")).status_code == 404
        assert await tickets.flush(5)
        assert await tickets.count() == 0
        assert tickets.pending == 0


async def test_a_browser_sees_the_ticket_on_the_500_page() -> None:
    app, tickets = make_app()
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        response = await client.get("/orders/5", headers={"accept": "text/html"})
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("text/html")
        ticket = await _only_ticket(tickets)
    assert ticket.id in response.text
    assert "order 5 failed" not in response.text  # the detail of a 500 is never shown


async def test_debug_pages_show_the_ticket_and_its_redacted_locals() -> None:
    app, tickets = make_app()
    app.debug = True
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        page = await client.get("/orders/5", headers={"accept": "text/html"})
        problem = await client.get("/orders/6")
    assert page.status_code == problem.status_code == 500
    body = problem.json()
    assert len(body["ticket"]) == 32
    assert body["detail"].startswith("RuntimeError: order 6 failed")
    assert any(frame["locals"].get("password") == MASK for frame in body["frames"])
    assert "Ticket <code>" in page.text
    assert "sk_live_abcdefghijkl" not in page.text


async def test_the_apps_own_500_handler_still_answers_with_the_ticket_at_hand() -> None:
    app, tickets = make_app()

    @app.exception_handler(500)
    async def mine(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"oops": request.state.ticket}, status_code=500)

    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        response = await client.get("/orders/9")
        ticket = await _only_ticket(tickets)
    assert response.json() == {"oops": ticket.id}
    assert response.headers["x-ticket"] == ticket.id


async def test_capture_by_hand_outside_a_request() -> None:
    tickets = Tickets("memory://")
    try:
        raise LookupError("in a job")
    except LookupError as error:
        ticket = tickets.capture(error)
    assert ticket is not None
    assert ticket.request is None
    assert await tickets.flush(5)
    assert (await tickets.ticket(ticket.id)) is not None
    await tickets.close()


async def test_an_error_template_shows_the_ticket(tmp_path: Any) -> None:
    (tmp_path / "errors").mkdir()
    (tmp_path / "errors" / "500.html").write_text(
        "<h1>Sorry</h1><p>Quote ticket {{ request.state.ticket }}</p>"
    )
    app, tickets = make_app()
    app.add_exception_handler(500, Templates(tmp_path).error_handler())
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        page = await client.get("/orders/3", headers={"accept": "text/html"})
        ticket = await _only_ticket(tickets)
    assert page.status_code == 500
    assert f"Quote ticket {ticket.id}" in page.text


def test_secret_headers_are_masked_as_fields_and_as_raw_asgi_pairs() -> None:
    redactor = Redactor()
    assert redactor.header("Sec-WebSocket-Protocol", "graphql-ws, eyJhbGciOi.token") == MASK
    assert redactor.header("Sec-WebSocket-Version", "13") == "13"
    scope = {
        "type": "websocket",
        "headers": [
            (b"cookie", b"session=cookie-value-1"),
            (b"sec-websocket-protocol", b"access_token, protocol-token-2"),
            ("Authorization", "Digestive raw-auth-value-3"),
            (b"x-request-id", b"r-9"),
        ],
    }
    shown = redactor.repr(scope)  # NOTE: what a frame's ``scope`` local becomes
    for secret in ("cookie-value-1", "protocol-token-2", "raw-auth-value-3"):
        assert secret not in shown
    assert f"(b'cookie', {MASK})" in shown
    assert "(b'x-request-id', b'r-9')" in shown
