"""Channels through WebSockets and Server-Sent Events, published from HTTP routes."""

from __future__ import annotations

import asyncio

import pytest

from celeris import App, Request, WebSocket
from celeris.channels import Channels
from celeris.core.responses import ServerSentEvent
from celeris.core.websocket import WebSocketDisconnect
from celeris.testing import AsyncTestClient


def chat_app(**options) -> tuple[App, Channels]:
    app = App()
    channels = Channels(app=app, **options)

    @app.post("/rooms/{room}")
    async def say(room: str, request: Request) -> dict:
        message_id = await channels.publish(f"room:{room}", await request.json())
        return {"id": message_id}

    @app.websocket("/ws/{room}")
    async def listen(
        ws: WebSocket, room: str, name: str | None = None, last_id: str | None = None
    ) -> None:
        await channels.websocket(ws, f"room:{room}", member=name, last_id=last_id)

    @app.get("/rooms/{room}/who")
    async def who(room: str) -> list[str]:
        return await channels.presence(f"room:{room}")

    @app.get("/rooms/{room}/events")
    async def events(room: str, request: Request):
        return channels.events(f"room:{room}", request=request)

    return app, channels


async def test_websocket_gets_what_a_route_publishes(options, channel) -> None:
    app, channels = chat_app(**options)
    async with AsyncTestClient(app) as client:
        async with client.websocket_connect(f"/ws/{channel}?name=ann") as ws:
            await asyncio.sleep(0.05)
            assert (await client.get(f"/rooms/{channel}/who")).json() == ["ann"]
            r = await client.post(f"/rooms/{channel}", json={"text": "hi"})
            frame = await asyncio.wait_for(ws.receive_json(), 5)
            assert frame == {
                "channel": f"room:{channel}",
                "id": r.json()["id"],
                "data": {"text": "hi"},
            }
        await asyncio.sleep(0.05)
        assert (await client.get(f"/rooms/{channel}/who")).json() == []


async def test_slow_websocket_is_closed_with_1013(channel) -> None:
    app, channels = chat_app(maxsize=3)
    async with AsyncTestClient(app) as client, client.websocket_connect(f"/ws/{channel}") as ws:
        await asyncio.sleep(0.05)
        sub = next(iter(channels._subs[f"room:{channel}"]))
        sub.maxsize = 0  # the client's socket is not draining: the next message overflows
        await channels.publish(f"room:{channel}", 1)
        with pytest.raises(WebSocketDisconnect) as closed:
            await asyncio.wait_for(ws.receive(), 5)
        assert closed.value.code == 1013


async def test_server_sent_events_carry_ids_and_resume(resumable, channel) -> None:
    app, channels = chat_app(**resumable)
    async with AsyncTestClient(app):
        ids = [await channels.publish(f"room:{channel}", n) for n in range(3)]
        response = channels.events(f"room:{channel}", last_id=ids[0])
        events = response.body_iterator
        got: list[ServerSentEvent] = [await asyncio.wait_for(anext(events), 5) for _ in range(2)]
        assert [(e.id, e.data) for e in got] == [(ids[1], "1"), (ids[2], "2")]
        await channels.publish(f"room:{channel}", {"live": True})
        live = await asyncio.wait_for(anext(events), 5)
        assert live.data == '{"live":true}'
        assert live.encode().startswith(f"id: {live.id}\n".encode())
        await events.aclose()
        assert response.media_type == "text/event-stream"


async def test_bad_last_event_id_is_a_400(resumable) -> None:
    app, _ = chat_app(**resumable)
    async with AsyncTestClient(app) as client:
        r = await client.get("/rooms/1/events", headers={"Last-Event-ID": "not-an-id"})
        assert r.status_code == 400
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "Last-Event-ID" in r.json()["detail"]


async def test_bad_last_id_closes_the_websocket_1008(resumable) -> None:
    app = App()
    channels = Channels(app=app, **resumable)

    @app.websocket("/ws")
    async def ws_route(ws: WebSocket, last_id: str | None = None) -> None:
        await channels.websocket(ws, "room", last_id=last_id)

    async with AsyncTestClient(app) as client:
        with pytest.raises(WebSocketDisconnect) as refused:
            await client.websocket_connect("/ws?last_id=zzz")
        assert refused.value.code == 1008


async def test_subscriptions_are_authorised_by_route_dependencies(channel) -> None:
    from celeris import Depends, Forbidden

    app = App()
    channels = Channels(app=app)

    def member_of_room(token: str | None = None) -> str:
        # NOTE: a dependency cannot read the path's {room} yet (core: its plan is compiled
        # without the route's path parameters), so the check is on the token alone.
        if token != "secret-ann":
            raise Forbidden("not a member of this room")
        return "ann"

    @app.websocket("/ws/{room}")
    async def listen(ws: WebSocket, room: str, user: str = Depends(member_of_room)) -> None:
        await channels.websocket(ws, f"{channel}:{room}", member=user)

    async with AsyncTestClient(app) as client:
        with pytest.raises(WebSocketDisconnect) as refused:
            await client.websocket_connect("/ws/1?token=guess")
        assert refused.value.code == 1008
        assert channels._subs == {}  # refused before subscribing
        async with client.websocket_connect("/ws/1?token=secret-ann") as ws:
            await asyncio.sleep(0.05)
            assert await channels.presence(f"{channel}:1") == ["ann"]
            await channels.publish(f"{channel}:1", "welcome")
            assert (await asyncio.wait_for(ws.receive_json(), 5))["data"] == "welcome"


async def test_a_gap_is_announced_to_websocket_and_sse_clients(channel) -> None:
    app, channels = chat_app(history=2)
    async with AsyncTestClient(app) as client:
        ids = [await channels.publish(f"room:{channel}", n) for n in range(5)]
        async with client.websocket_connect(f"/ws/{channel}?last_id={ids[0]}") as ws:
            assert await asyncio.wait_for(ws.receive_json(), 5) == {
                "channel": f"room:{channel}",
                "id": None,
                "gap": True,
            }
            assert (await asyncio.wait_for(ws.receive_json(), 5))["data"] == 3
        events = channels.events(f"room:{channel}", last_id=ids[0]).body_iterator
        first = await asyncio.wait_for(anext(events), 5)
        assert first.event == "gap"
        assert [(await anext(events)).data for _ in range(2)] == ["3", "4"]
        await events.aclose()
