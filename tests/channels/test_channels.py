"""Channels on every backend: delivery, resuming, presence, slow subscribers, bad input."""

from __future__ import annotations

import asyncio
import logging

import pytest

from celeris.channels import Channels, ChannelsUnavailable, SlowSubscriber


async def take(sub, n: int, timeout: float = 5.0) -> list:
    """Return the next ``n`` values of ``sub`` (failing the test if they do not come)."""

    async def gather() -> list:
        return [await sub.__anext__() for _ in range(n)]

    return await asyncio.wait_for(gather(), timeout)


async def test_publish_reaches_every_subscriber(options, channel) -> None:
    async with Channels(**options) as channels:
        async with channels.subscribe(channel) as a, channels.subscribe(channel) as b:
            for i in range(3):
                await channels.publish(channel, {"n": i})
            assert await take(a, 3) == [{"n": 0}, {"n": 1}, {"n": 2}]
            assert await take(b, 3) == [{"n": 0}, {"n": 1}, {"n": 2}]
        await channels.publish(channel, "nobody listens")  # no subscriber: no error


async def test_other_channels_are_not_delivered(options, channel) -> None:
    async with Channels(**options) as channels, channels.subscribe(channel) as sub:
        await channels.publish(channel + ":other", 1)
        await channels.publish(channel, 2)
        assert await take(sub, 1) == [2]


async def test_ids_follow_the_backend(options, channel) -> None:
    async with Channels(**options) as channels, channels.subscribe(channel) as sub:
        first = await channels.publish(channel, "a")
        second = await channels.publish(channel, "b")
        got = [m async for m in _first(sub.messages(), 2)]
    if options["history"]:
        assert [m.id for m in got] == [first, second]
        assert sub.last_id == second
    else:
        assert first is second is None
        assert [m.id for m in got] == [None, None]
    assert [m.data for m in got] == ["a", "b"]


async def _first(iterator, n: int):
    async for item in iterator:
        yield item
        n -= 1
        if n == 0:
            return


async def test_resume_gets_what_was_missed_then_live(resumable, channel) -> None:
    async with Channels(**resumable) as channels:
        async with channels.subscribe(channel) as sub:
            await channels.publish(channel, 1)
            await channels.publish(channel, 2)
            assert await take(sub, 2) == [1, 2]
            seen = sub.last_id
        for n in (3, 4, 5):  # published while the client is away
            await channels.publish(channel, n)
        async with channels.subscribe(channel, last_id=seen) as back:
            await channels.publish(channel, 6)
            assert await take(back, 4) == [3, 4, 5, 6]


async def test_resume_is_not_confused_by_live_traffic(resumable, channel) -> None:
    async with (
        Channels(**resumable) as channels,
        channels.subscribe(channel) as watcher,  # keeps the channel listened to
    ):
        first = await channels.publish(channel, 0)
        for n in range(1, 20):
            await channels.publish(channel, n)
        async with channels.subscribe(channel, last_id=first) as back:
            await channels.publish(channel, 20)
            assert await take(back, 20) == list(range(1, 21))  # each once, in order
        assert await take(watcher, 21) == list(range(21))


async def test_across_two_processes_on_redis(redis_url, channel) -> None:
    # NOTE: two Channels on one Redis are two workers or two machines: nothing is shared but Redis
    for history in (0, 100):
        async with (
            Channels(url=redis_url, history=history) as node_a,
            Channels(url=redis_url, history=history) as node_b,
            node_a.subscribe(channel) as sub,
        ):
            await node_b.publish(channel, {"from": "b", "history": history})
            assert await take(sub, 1) == [{"from": "b", "history": history}]


async def test_presence(options, channel) -> None:
    async with Channels(**options) as channels:
        assert await channels.presence(channel) == []
        async with (
            channels.subscribe(channel, member="bob"),
            channels.subscribe(channel, member="alice"),
        ):
            async with channels.subscribe(channel, member="alice"):  # two tabs, one name
                assert await channels.presence(channel) == ["alice", "bob"]
            assert await channels.presence(channel) == ["alice", "bob"]
            async with channels.subscribe(channel):  # anonymous: not listed
                assert await channels.presence(channel) == ["alice", "bob"]
        assert await channels.presence(channel) == []


async def test_presence_across_processes(redis_url, channel) -> None:
    async with (
        Channels(url=redis_url) as node_a,
        Channels(url=redis_url) as node_b,
        node_a.subscribe(channel, member="ann"),
    ):
        async with node_b.subscribe(channel, member="ben"):
            assert await node_a.presence(channel) == ["ann", "ben"]
        assert await node_b.presence(channel) == ["ann"]


async def test_slow_subscriber_is_dropped_not_the_publisher(options, channel, caplog) -> None:
    caplog.set_level(logging.WARNING, "celeris.channels")
    async with (
        Channels(**options, maxsize=5) as channels,
        channels.subscribe(channel) as slow,
        channels.subscribe(channel, maxsize=100) as fast,
    ):
        for n in range(20):  # the slow one never reads
            await channels.publish(channel, n)
        assert await take(fast, 20) == list(range(20))  # the others get everything
        with pytest.raises(SlowSubscriber) as raised:
            await take(slow, 1)
        assert raised.value.code == 1013
        assert slow.dropped
        assert len(slow._buffer) <= 5  # memory stayed bounded
        assert channels.dropped == 1
    assert "dropped a slow subscriber" in caplog.text


async def test_publisher_does_not_wait_for_subscribers(options, channel) -> None:
    async with Channels(**options, maxsize=10_000) as channels, channels.subscribe(channel):
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in range(200):
            await channels.publish(channel, n)
        assert loop.time() - started < 5.0  # nobody reads: publishing never blocks


async def test_bad_last_id_is_a_value_error(resumable) -> None:
    channels = Channels(**resumable)
    with pytest.raises(ValueError, match="message id"):
        channels.subscribe("x", last_id="nope")
    await channels.stop()


async def test_unknown_scheme_names_the_fix() -> None:
    with pytest.raises(RuntimeError, match=r"channels\.E001"):
        await Channels(url="kafka://localhost").start()


async def test_url_from_settings() -> None:
    from celeris import App

    class Config:
        CHANNELS_URL = "memory://"

    app = App(settings=Config())
    channels = Channels(app=app)
    await channels.start()
    assert channels.url == "memory://"
    assert app.state.channels is channels
    assert "channels" in app.state.health_checks
    assert (await app.state.health_checks["channels"]()).status == "ok"
    await channels.stop()


async def test_unreachable_redis_is_503_on_publish() -> None:
    channels = Channels(url="redis://127.0.0.1:9/0", timeout=0.5)  # nothing listens there
    try:
        with pytest.raises(ChannelsUnavailable) as raised:
            await channels.publish("x", 1)
        assert raised.value.status == 503
        health = await channels.check()
        assert health.status == "unavailable"
        assert health.channels == "redis"
    finally:
        await channels.stop()


def test_the_memory_default_loads_no_redis() -> None:
    import subprocess
    import sys

    code = "import sys, celeris.channels; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_presence_of_a_dead_process_expires_and_live_ones_are_refreshed(
    redis_url, channel
) -> None:
    import time

    import redis.asyncio as aioredis

    async with Channels(url=redis_url, presence_ttl=0.3) as node:
        client = aioredis.from_url(redis_url)
        try:
            key = f"celeris:channels:presence:{channel}"
            await client.zadd(key, {"deadbeef:ghost": time.time() - 1})  # a crashed process's
            async with node.subscribe(channel, member="ann"):
                await asyncio.sleep(0.7)  # over two TTLs: only the refresh keeps ann present
                assert await node.presence(channel) == ["ann"]
        finally:
            await client.delete(f"celeris:channels:presence:{channel}")
            await client.aclose()


async def test_an_id_of_another_backend_resumes_from_what_it_says(resumable, channel) -> None:
    # NOTE: a client may come back with an id in another backend's form ("7-0", "7"): never a 500
    async with Channels(**resumable) as channels:
        async with channels.subscribe(channel, last_id="0-0") as sub:
            await channels.publish(channel, "x")
            assert await take(sub, 1) == ["x"]
        async with channels.subscribe(channel, last_id="99999999999999") as sub:
            await channels.publish(channel, "y")
            assert await take(sub, 1) == ["y"]


async def test_stop_ends_every_subscription(options, channel) -> None:
    channels = Channels(**options)
    await channels.start()
    async with channels.subscribe(channel) as sub:
        waiting = asyncio.ensure_future(sub.__anext__())
        await asyncio.sleep(0.05)
        await channels.stop()  # the app shuts down: consumers stop, nothing hangs
        with pytest.raises(StopAsyncIteration):
            await asyncio.wait_for(waiting, 5)


async def test_a_silent_channels_history_expires_on_redis(redis_url, channel) -> None:
    import redis.asyncio as aioredis

    async with Channels(url=redis_url, history=10, retention=60) as channels:
        for n in range(300):
            await channels.publish(channel, n)
    client = aioredis.from_url(redis_url)
    try:
        key = f"celeris:channels:{channel}"
        assert 0 < await client.pttl(key) <= 60_000
        # NOTE: MAXLEN ~ trims whole stream nodes (100 entries): capped near the history
        assert await client.xlen(key) <= 10 + 100
    finally:
        await client.delete(key)
        await client.aclose()


async def test_concurrent_first_subscribers_fail_together(options, channel) -> None:
    # NOTE: the second subscriber waits for the first one's listen; if it fails, both do
    async def join(channels: Channels) -> None:
        async with channels.subscribe(channel):
            pass

    channels = Channels(url="redis://127.0.0.1:9/0", timeout=0.5)  # nothing listens there
    try:
        results = await asyncio.gather(join(channels), join(channels), return_exceptions=True)
        assert [type(r) for r in results] == [ChannelsUnavailable, ChannelsUnavailable]
        assert channels._subs == {}
        assert channels._listening == {}
    finally:
        await channels.stop()
    async with Channels(**options) as working:  # on a backend that answers, both get it
        a, b = working.subscribe(channel), working.subscribe(channel)
        await asyncio.gather(a.__aenter__(), b.__aenter__())  # joining at the same time
        try:
            await working.publish(channel, "both")
            assert await take(a, 1) == await take(b, 1) == ["both"]
        finally:
            await a.__aexit__(None, None, None)
            await b.__aexit__(None, None, None)


async def test_fan_out_to_a_thousand_subscribers(options, channel) -> None:
    async with Channels(**options) as channels:
        subs = [channels.subscribe(channel) for _ in range(1000)]
        for sub in subs:
            await sub.__aenter__()
        try:
            for n in range(20):
                await channels.publish(channel, {"n": n})
            got = await asyncio.gather(*(take(sub, 20, timeout=20) for sub in subs))
            assert all(values == [{"n": n} for n in range(20)] for values in got)
            assert channels.dropped == 0
        finally:
            for sub in subs:
                await sub.__aexit__(None, None, None)
        assert channels._subs == {}


async def test_resuming_from_beyond_the_history_is_flagged_as_a_gap(channel) -> None:
    async with Channels(history=3) as channels:
        ids = [await channels.publish(channel, n) for n in range(10)]
        async with channels.subscribe(channel, last_id=ids[1]) as sub:  # 2..6 are gone
            assert sub.gap
            assert await take(sub, 3) == [7, 8, 9]
        async with channels.subscribe(channel, last_id=ids[7]) as sub:
            assert not sub.gap
            assert await take(sub, 2) == [8, 9]
        async with channels.subscribe(channel, last_id=ids[9]) as sub:
            assert not sub.gap


async def test_gaps_on_redis_streams(redis_url, channel) -> None:
    async with Channels(url=redis_url, history=10) as channels:
        ids = [await channels.publish(channel, n) for n in range(300)]
        async with channels.subscribe(channel, last_id=ids[0]) as sub:
            assert sub.gap  # MAXLEN ~ 10 trimmed the oldest nodes
        async with channels.subscribe(channel, last_id=ids[-2]) as sub:
            assert not sub.gap
            assert await take(sub, 1) == [299]
    expired = f"{channel}:expired"  # a stream that expired since the client saw an id
    async with (
        Channels(url=redis_url, history=10) as channels,
        channels.subscribe(expired, last_id="1-0") as sub,
    ):
        assert sub.gap


def test_a_message_makes_its_websocket_event_once_for_every_subscriber() -> None:
    from celeris.channels import Message

    message = Message("room:1", "7", b'{"text":"hi"}')
    event = message.send_event()
    assert event == {
        "type": "websocket.send",
        "text": '{"channel":"room:1","id":"7","data":{"text":"hi"}}',
    }
    assert message.send_event() is event  # NOTE: shared by every local subscriber's send
