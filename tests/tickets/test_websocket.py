"""WebSocket handler errors become tickets; the client sees the same close as without Tickets."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from celeris import App, HTTPError, WebSocket, WebSocketDisconnect
from celeris.settings import Secret, Settings
from celeris.testing import AsyncTestClient
from celeris.tickets import Ticket, TicketGroup, Tickets
from celeris.tickets.redact import MASK
from tests.server.support import serving


class Config(Settings):
    SECRET_KEY: str = "s3cr3t-signing-key-value"
    FEED_KEY: Secret = Secret("feed-key-abcdefghij")
    RELEASE: str | None = "v2.0.1"


class _User:
    id = 9
    email = "grace@example.com"

    def __repr__(self) -> str:
        return "<User 9>"


def add_routes(app: App) -> None:
    @app.websocket("/ws/{room}")
    async def room(ws: WebSocket, room: str) -> None:
        await ws.accept()
        message = await ws.receive_text()
        ws.state.user = _User()
        api_token = "local-token-value"  # noqa: F841 - a local the ticket must mask
        raise RuntimeError(f"room {room} broke on {message!r} with {app.settings.FEED_KEY}")

    @app.websocket("/early")
    async def early(ws: WebSocket) -> None:
        raise LookupError("before accept")

    @app.websocket("/other")
    async def other(ws: WebSocket) -> None:
        await ws.accept()
        raise TypeError("another error")

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws.iter_text():
            await ws.send_text(message)

    @app.websocket("/bye")
    async def bye(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(4000, "done here")

    @app.websocket("/denied")
    async def denied(ws: WebSocket) -> None:
        raise HTTPError(403, "not for you")

    @app.websocket("/wait")
    async def wait(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()  # the client leaves: WebSocketDisconnect, not an error


def make_app(**options: Any) -> tuple[App, Tickets]:
    app = App(settings=Config())
    tickets = Tickets(app=app, **options)
    add_routes(app)
    return app, tickets


async def _close_seen(client: AsyncTestClient, path: str, text: str | None = "hi") -> Any:
    """Return the (code, reason) the client sees; waits until the app is done."""
    context = client.websocket_connect(path, headers={"authorization": "Bearer bearer-secret-1"})
    try:
        ws = await context.__aenter__()
        if text is not None:
            await ws.send_text(text)
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive_text()
    except WebSocketDisconnect as refused:  # NOTE: closed before accept
        return refused.code, refused.reason
    finally:
        await context.session.close()  # NOTE: waits for the app, which tells Tickets
    return info.value.code, info.value.reason


async def _only_ticket(tickets: Tickets) -> Ticket:
    assert await tickets.flush(5)
    (group,) = await tickets.list()
    full = await tickets.get(group.id)
    assert full is not None
    return full.samples[0]


async def test_a_failing_websocket_makes_a_ticket_of_its_handshake_with_secrets_masked() -> None:
    app, tickets = make_app(url="memory://")
    async with AsyncTestClient(app) as client:
        path = "/ws/lobby?token=query-secret-99&page=2"
        context = client.websocket_connect(
            path, headers={"authorization": "Bearer bearer-secret-1", "x-request-id": "r-7"}
        )
        async with context as ws:
            await ws.send_text("hello")
            with pytest.raises(WebSocketDisconnect) as info:
                await ws.receive_text()
        assert (info.value.code, info.value.reason) == (1011, "internal error")
        ticket = await _only_ticket(tickets)
    assert ticket.exc_type == "RuntimeError"
    assert ticket.message == f"room lobby broke on 'hello' with {MASK}"
    assert ticket.route == "/ws/{room}"
    assert ticket.release == "v2.0.1"
    frame = ticket.frames[-1]
    assert frame["function"].endswith("room")
    assert frame["in_app"] is True
    assert frame["locals"]["room"] == "'lobby'"
    assert frame["locals"]["message"] == "'hello'"
    assert frame["locals"]["api_token"] == MASK
    request = ticket.request
    assert request is not None
    assert request["method"] == "WEBSOCKET"
    assert request["path"] == "/ws/lobby"
    assert request["route"] == "/ws/{room}"
    assert ["token", MASK] in request["query"]
    assert ["page", "2"] in request["query"]
    assert "query-secret-99" not in request["url"]
    assert request["headers"]["authorization"] == MASK
    assert request["headers"]["upgrade"] == "websocket"
    assert request["headers"]["x-request-id"] == "r-7"
    assert request["client"] == "testclient:50000"
    assert "data" not in request  # messages are not kept
    assert ticket.user is not None
    assert ticket.user["id"] == 9
    assert "bearer-secret-1" not in repr(ticket)
    assert "feed-key-abcdefghij" not in repr(ticket)


async def test_the_client_sees_the_same_close_with_and_without_tickets() -> None:
    plain = App(settings=Config())
    add_routes(plain)
    assert plain.websocket_error_handlers == []  # NOTE: nothing to call: the core's old path
    app, tickets = make_app(url="memory://")
    paths = ["/ws/a", "/early", "/other", "/bye", "/denied"]
    async with AsyncTestClient(plain) as bare, AsyncTestClient(app) as client:
        for path in paths:
            assert await _close_seen(client, path) == await _close_seen(bare, path), path
        assert await _close_seen(client, "/ws/a") == (1011, "internal error")
        assert await _close_seen(client, "/early") == (1011, "internal error")
        assert await tickets.flush(5)
        assert sorted(g.exc_type for g in await tickets.list()) == [
            "LookupError",
            "RuntimeError",
            "TypeError",
        ]


async def test_normal_and_deliberate_closes_make_no_ticket() -> None:
    app, tickets = make_app(url="memory://")
    async with AsyncTestClient(app) as client:
        async with client.websocket_connect("/echo") as ws:
            await ws.send_text("ping")
            assert await ws.receive_text() == "ping"
        async with client.websocket_connect("/wait"):
            pass  # the client closes first
        assert await _close_seen(client, "/bye", None) == (4000, "done here")
        assert (await _close_seen(client, "/denied"))[0] == 1008
        assert await tickets.flush(5)
        assert await tickets.count() == 0
        assert tickets.pending == 0


async def test_repeats_group_and_are_stored(store_options: dict[str, Any]) -> None:
    app, tickets = make_app(**store_options)
    async with AsyncTestClient(app) as client:
        for room in ("a", "b", "c"):
            assert await _close_seen(client, f"/ws/{room}?token=t0k3n-{room}") == (
                1011,
                "internal error",
            )
        await _close_seen(client, "/other")
        assert await tickets.flush(10)
        groups = await tickets.list()
        assert [(g.exc_type, g.count, g.route) for g in groups] == [
            ("TypeError", 1, "/other"),
            ("RuntimeError", 3, "/ws/{room}"),
        ]
        full = await tickets.get(groups[1].id)
        assert full is not None
        newest = full.samples[0]
        assert newest.request is not None
        assert newest.request["path"] == "/ws/c"
        assert ["token", MASK] in newest.request["query"]
        assert newest.request["headers"]["authorization"] == MASK


async def _stored(tickets: Tickets, total: int) -> list[TicketGroup]:
    """Return the groups once ``total`` tickets are stored.

    NOTE: the server's app task tells Tickets after the close frame is out: the client may
    see the close first.
    """
    for _ in range(500):
        assert await tickets.flush(10)
        groups = await tickets.list()
        if sum(group.count for group in groups) >= total:
            return groups
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {total} tickets stored")


async def _served_close(port: int, path: str) -> Any:
    """Return what a real client sees: the close frame's (code, reason), or the HTTP refusal."""
    try:
        async with connect(
            f"ws://127.0.0.1:{port}{path}", additional_headers={"authorization": "Bearer b-9999"}
        ) as ws:
            try:
                await ws.send("hi")
                message = await ws.recv()
            except ConnectionClosed as closed:
                frame = closed.rcvd  # None: no close frame came
                return (frame.code, frame.reason) if frame is not None else None
    except InvalidStatus as refused:
        return refused.response.status_code
    raise AssertionError(f"{path} answered {message!r}")


@pytest.mark.parametrize("store_kind", ["postgresql"], indirect=True)
async def test_on_the_celeris_server_with_a_postgresql_store(
    store_options: dict[str, Any],
) -> None:
    plain = App(settings=Config())
    add_routes(plain)
    app, tickets = make_app(**store_options)
    async with serving(plain) as (_, bare), serving(app) as (_, port):
        for path in ("/ws/x?token=abcdef123", "/early", "/bye", "/denied", "/wait"):
            assert await _served_close(port, path) == await _served_close(bare, path), path
        assert await _served_close(port, "/ws/x") == (1011, "internal error")
        assert await _served_close(port, "/early") == 403  # closed before accept
        groups = await _stored(tickets, 4)
        assert sorted((g.exc_type, g.count) for g in groups) == [
            ("LookupError", 2),
            ("RuntimeError", 2),
        ]
        room = next(g for g in groups if g.exc_type == "RuntimeError")
        full = await tickets.get(room.id)
        assert full is not None
        request = full.samples[-1].request  # the oldest: the one with the token
        assert request is not None
        assert request["path"] == "/ws/x"
        assert ["token", MASK] in request["query"]
        assert request["headers"]["authorization"] == MASK
        assert request["client"].startswith("127.0.0.1:")
