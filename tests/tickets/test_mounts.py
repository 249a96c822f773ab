"""Tickets on a parent app records the errors of the celeris Apps it mounts, once each."""

from __future__ import annotations

from typing import Any

import pytest

from celeris import App, Request, Response, WebSocket, WebSocketDisconnect
from celeris.testing import AsyncTestClient
from celeris.tickets import Ticket, Tickets
from celeris.tickets.redact import MASK


def make_sub() -> App:
    sub = App()

    @sub.route("/boom/{n}")
    async def boom(n: int) -> str:
        raise RuntimeError(f"sub broke {n}")

    @sub.route("/fine")
    async def fine() -> str:
        return "fine"

    @sub.websocket("/ws/{room}")
    async def room(ws: WebSocket, room: str) -> None:
        await ws.accept()
        await ws.receive_text()
        raise LookupError(f"room {room} broke")

    return sub


def make_parent(*, middleware: bool = False) -> tuple[App, Tickets, App]:
    parent = App()
    tickets = Tickets(app=parent, url="memory://")
    sub = make_sub()
    inner = App()  # NOTE: two levels down: the nearest app with a handler is the grandparent
    inner.mount("/deeper", make_sub())
    parent.mount("/sub", sub)
    parent.mount("/inner", inner)
    if middleware:  # NOTE: then the parent's pipeline wraps the mount (celeris.core.bridge)

        @parent.middleware
        async def passing(request: Request, call_next: Any) -> Response:
            response: Response = await call_next(request)
            return response

    return parent, tickets, sub


async def _websocket_fails(client: AsyncTestClient, path: str, **headers: str) -> tuple[int, str]:
    context = client.websocket_connect(path, headers=headers)
    try:
        ws = await context.__aenter__()
        await ws.send_text("hi")
        with pytest.raises(WebSocketDisconnect) as info:
            await ws.receive_text()
    finally:
        await context.session.close()  # NOTE: waits for the app, which tells Tickets
    return info.value.code, info.value.reason


async def _tickets(tickets: Tickets) -> list[Ticket]:
    assert await tickets.flush(5)
    found = []
    for group in await tickets.list():
        full = await tickets.get(group.id)
        assert full is not None
        found.extend(full.samples)
    return found


@pytest.mark.parametrize("middleware", [False, True], ids=["direct", "through-middleware"])
async def test_a_mounted_apps_500_makes_one_ticket_on_the_parent(middleware: bool) -> None:
    parent, tickets, _ = make_parent(middleware=middleware)
    async with AsyncTestClient(parent, raise_server_exceptions=False) as client:
        assert (await client.get("/sub/fine")).text == "fine"
        response = await client.get("/sub/boom/7", headers={"authorization": "Bearer abcdef-123"})
        assert response.status_code == 500
        ticket_id = response.json()["ticket"]
        deeper = await client.get("/inner/deeper/boom/8")
        assert deeper.status_code == 500
        assert "ticket" in deeper.json()
        found = await _tickets(tickets)
    assert sorted((t.message, t.route) for t in found) == [
        ("sub broke 7", "/sub/boom/{n}"),
        ("sub broke 8", "/inner/deeper/boom/{n}"),
    ]
    ticket = next(t for t in found if t.id == ticket_id)
    assert ticket.request is not None
    assert ticket.request["path"] == "/sub/boom/7"
    assert ticket.request["headers"]["authorization"] == MASK


async def test_a_mounted_apps_websocket_error_makes_a_ticket_on_the_parent() -> None:
    parent, tickets, _ = make_parent()
    async with AsyncTestClient(parent) as client:
        seen = await _websocket_fails(
            client, "/sub/ws/lobby", **{"sec-websocket-protocol": "bearer, token-in-protocol-1"}
        )
        assert seen == (1011, "internal error")  # as without Tickets
        assert await _websocket_fails(client, "/inner/deeper/ws/attic") == (1011, "internal error")
        found = await _tickets(tickets)
    assert sorted((t.exc_type, t.message, t.route) for t in found) == [
        ("LookupError", "room attic broke", "/inner/deeper/ws/{room}"),
        ("LookupError", "room lobby broke", "/sub/ws/{room}"),
    ]
    lobby = next(t for t in found if t.message == "room lobby broke")
    assert lobby.request is not None
    assert lobby.request["method"] == "WEBSOCKET"
    assert lobby.request["headers"]["sec-websocket-protocol"] == MASK
    assert "token-in-protocol-1" not in repr(lobby)


async def test_a_mounted_app_with_its_own_tickets_keeps_its_errors_no_double_ticket() -> None:
    parent, tickets, sub = make_parent()
    own = Tickets(app=sub, url="memory://")
    async with AsyncTestClient(parent, raise_server_exceptions=False) as client:
        response = await client.get("/sub/boom/1")
        assert response.status_code == 500
        assert await _websocket_fails(client, "/sub/ws/a") == (1011, "internal error")
        assert (await client.get("/inner/deeper/boom/2")).status_code == 500  # no Tickets there
        mine, parents = await _tickets(own), await _tickets(tickets)
    assert sorted((t.message, t.route) for t in mine) == [
        ("room a broke", "/ws/{room}"),  # NOTE: its own routes, as the sub-app sees them
        ("sub broke 1", "/boom/{n}"),
    ]
    assert mine[0].id == response.json()["ticket"] or mine[1].id == response.json()["ticket"]
    assert [(t.message, t.route) for t in parents] == [("sub broke 2", "/inner/deeper/boom/{n}")]
