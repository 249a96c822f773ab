"""Redis cut and restored (through a TCP proxy): subscribers reconnect by themselves and, on
Streams, get everything published meanwhile; publishing answers 503 while cut."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import pytest

from celeris import App, WebSocket
from celeris.channels import Channels, ChannelsUnavailable
from celeris.testing import AsyncTestClient

from ..db.tcp_proxy import TCPProxy
from .test_channels import take


@pytest.fixture
async def proxy(redis_url):
    parts = urlsplit(redis_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    yield proxy
    await proxy.close()


def through(proxy: TCPProxy, redis_url: str) -> str:
    return f"redis://127.0.0.1:{proxy.port}{urlsplit(redis_url).path or '/0'}"


async def test_streams_subscriber_resumes_after_an_outage(proxy, redis_url, channel) -> None:
    # NOTE: the subscriber's node reaches Redis through the proxy; the publisher's directly,
    # as another machine would while this one is cut off.
    async with (
        Channels(url=through(proxy, redis_url), history=100, timeout=0.5) as cut_off,
        Channels(url=redis_url, history=100) as other_node,
        cut_off.subscribe(channel) as sub,
    ):
        await other_node.publish(channel, "before")
        assert await take(sub, 1) == ["before"]
        await proxy.cut()
        with pytest.raises(ChannelsUnavailable):
            await cut_off.publish(channel, "lost")  # 503 for a publishing route
        assert (await cut_off.check()).status == "unavailable"
        for n in range(5):
            await other_node.publish(channel, n)
        await asyncio.sleep(0.3)  # the reader notices and backs off
        await proxy.restore()
        await other_node.publish(channel, "after")
        assert await take(sub, 6, timeout=10) == [0, 1, 2, 3, 4, "after"]
        assert (await cut_off.check()).status == "ok"


async def test_pubsub_subscriber_reconnects_after_an_outage(proxy, redis_url, channel) -> None:
    async with (
        Channels(url=through(proxy, redis_url), timeout=0.5) as cut_off,
        Channels(url=redis_url) as other_node,
        cut_off.subscribe(channel) as sub,
    ):
        await other_node.publish(channel, "before")
        assert await take(sub, 1) == ["before"]
        await proxy.cut()
        await asyncio.sleep(0.3)
        await proxy.restore()

        # NOTE: pub/sub keeps nothing: publish until the re-subscribed reader gets one
        async def until_delivered() -> object:
            while True:
                await other_node.publish(channel, "after")
                try:
                    return await asyncio.wait_for(sub.__anext__(), 0.2)
                except TimeoutError:
                    continue

        assert await asyncio.wait_for(until_delivered(), 15) == "after"


async def test_websocket_clients_resume_with_last_id(proxy, redis_url, channel) -> None:
    app = App()
    channels = Channels(app=app, url=redis_url, history=100)

    @app.websocket("/ws/{room}")
    async def room(ws: WebSocket, room: str, last_id: str | None = None) -> None:
        await channels.websocket(ws, f"{channel}:{room}", last_id=last_id)

    async with AsyncTestClient(app) as client:
        async with client.websocket_connect("/ws/1") as ws:
            await asyncio.sleep(0.05)
            await channels.publish(f"{channel}:1", {"n": 1})
            first = await asyncio.wait_for(ws.receive_json(), 5)
        for n in (2, 3):  # the client is away
            await channels.publish(f"{channel}:1", {"n": n})
        async with client.websocket_connect(f"/ws/1?last_id={first['id']}") as ws:
            got = [await asyncio.wait_for(ws.receive_json(), 5) for _ in range(2)]
        assert [m["data"] for m in got] == [{"n": 2}, {"n": 3}]


async def test_nats_subscriber_resumes_after_an_outage(nats_url, channel) -> None:
    parts = urlsplit(nats_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 4222)
    port = await proxy.start()
    try:
        async with (
            Channels(url=f"nats://127.0.0.1:{port}", history=100, timeout=0.5) as cut_off,
            Channels(url=nats_url, history=100) as other_node,
            cut_off.subscribe(channel) as sub,
        ):
            await other_node.publish(channel, "before")
            assert await take(sub, 1) == ["before"]
            await proxy.cut()
            await asyncio.sleep(0.2)
            with pytest.raises(ChannelsUnavailable):
                await cut_off.publish(channel, "lost")
            assert (await cut_off.check()).status == "unavailable"
            for n in range(5):
                await other_node.publish(channel, n)
            await proxy.restore()
            await other_node.publish(channel, "after")
            assert await take(sub, 6, timeout=15) == [0, 1, 2, 3, 4, "after"]
            assert (await cut_off.check()).status == "ok"
    finally:
        await proxy.close()


async def test_nats_down_at_start_up_is_503_then_recovers(nats_url, channel) -> None:
    parts = urlsplit(nats_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 4222)
    port = await proxy.start()
    await proxy.cut()  # NATS is unreachable before the app starts
    app = App()
    channels = Channels(app=app, url=f"nats://127.0.0.1:{port}", history=100, timeout=0.5)

    @app.post("/say")
    async def say() -> dict:
        return {"id": await channels.publish(channel, "hi")}

    try:
        async with AsyncTestClient(app) as client:  # starts all the same
            r = await client.post("/say")
            assert r.status_code == 503
            assert r.headers["retry-after"] == "5"
            assert (await channels.check()).status == "unavailable"
            await proxy.restore()
            for _ in range(100):
                if (await channels.check()).status == "ok":
                    break
                await asyncio.sleep(0.1)
            r = await client.post("/say")
            assert r.status_code == 200
            assert r.json()["id"].isdigit()
    finally:
        await proxy.close()
