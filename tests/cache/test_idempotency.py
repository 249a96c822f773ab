"""Idempotency keys on memory and on the local Redis: replay, 409, 422, 400, 503."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import Any

import pytest

from celeris import App, Request
from celeris.cache import REPLAYED_HEADER, Cache, Idempotency
from celeris.core.responses import Response, StreamingResponse
from celeris.testing import AsyncTestClient


def _app(cache: Cache, *, required: bool = False) -> tuple[App, dict[str, Any]]:
    app = App()
    seen: dict[str, Any] = {"runs": 0, "gate": None}
    idempotency = Idempotency(cache=cache, required=required)

    @app.post("/orders", steps=[idempotency], status_code=201)
    async def create(order: dict[str, Any]) -> dict[str, Any]:
        seen["runs"] += 1
        gate = seen["gate"]
        if gate is not None:
            await asyncio.wait_for(gate.wait(), 10)
        return {"order": seen["runs"], **order}

    @app.post("/cookie", steps=[idempotency])
    async def cookie() -> Response:
        seen["runs"] += 1
        return Response(b"ok", headers={"set-cookie": "s=1", "x-kept": "yes"})

    @app.post("/boom", steps=[idempotency])
    async def boom() -> dict[str, int]:
        seen["runs"] += 1
        if seen["runs"] == 1:
            raise RuntimeError("first run fails")
        return {"runs": seen["runs"]}

    @app.post("/stream", steps=[idempotency])
    async def stream() -> StreamingResponse:
        seen["runs"] += 1

        async def body() -> Any:
            yield b"x"

        return StreamingResponse(body())

    @app.get("/orders", steps=[idempotency])
    async def listing(request: Request) -> dict[str, int]:
        seen["runs"] += 1
        return {"runs": seen["runs"]}

    return app, seen


def key() -> dict[str, str]:
    return {"idempotency-key": f'"{uuid.uuid4()}"'}


async def test_a_retry_returns_the_first_response(cache: Cache) -> None:
    app, seen = _app(cache)
    headers = key()
    async with AsyncTestClient(app) as client:
        first = await client.post("/orders", json={"sku": "a"}, headers=headers)
        again = await client.post("/orders", json={"sku": "a"}, headers=headers)
        other = await client.post("/orders", json={"sku": "a"}, headers=key())
        plain = await client.post("/orders", json={"sku": "a"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json() == {"order": 1, "sku": "a"}
    assert REPLAYED_HEADER not in first.headers
    assert again.headers[REPLAYED_HEADER] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert other.json()["order"] == 2  # another key acts
    assert plain.json()["order"] == 3  # no key: no idempotency (not required)
    assert seen["runs"] == 3


async def test_a_bare_token_key_works_too(cache: Cache) -> None:
    app, seen = _app(cache)
    headers = {"idempotency-key": uuid.uuid4().hex}
    async with AsyncTestClient(app) as client:
        for _ in range(3):
            r = await client.post("/orders", json={}, headers=headers)
            assert r.json() == {"order": 1}
    assert seen["runs"] == 1


async def test_a_different_body_with_the_same_key_is_422(cache: Cache) -> None:
    app, seen = _app(cache)
    headers = key()
    async with AsyncTestClient(app) as client:
        await client.post("/orders", json={"sku": "a"}, headers=headers)
        r = await client.post("/orders", json={"sku": "b"}, headers=headers)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert "different request" in r.json()["detail"]
    assert seen["runs"] == 1


async def test_a_concurrent_retry_is_409_and_the_handler_runs_once(cache: Cache) -> None:
    app, seen = _app(cache)
    seen["gate"] = gate = asyncio.Event()
    headers = key()
    async with AsyncTestClient(app) as client:
        first = asyncio.create_task(client.post("/orders", json={"n": 1}, headers=headers))
        for _ in range(200):  # wait until the first request is inside the handler
            if seen["runs"]:
                break
            await asyncio.sleep(0.01)
        assert seen["runs"] == 1
        retries = await asyncio.gather(
            *(client.post("/orders", json={"n": 1}, headers=headers) for _ in range(5))
        )
        gate.set()
        done = await asyncio.wait_for(first, 10)
        after = await client.post("/orders", json={"n": 1}, headers=headers)
    assert [r.status_code for r in retries] == [409] * 5
    problem = retries[0].json()
    assert problem["status"] == 409
    assert "still being processed" in problem["detail"]
    assert retries[0].headers["retry-after"] == "1"
    assert done.status_code == 201
    assert after.json() == done.json()
    assert after.headers[REPLAYED_HEADER] == "true"
    assert seen["runs"] == 1


async def test_required_key_missing_or_malformed_is_400(cache: Cache) -> None:
    app, seen = _app(cache, required=True)
    async with AsyncTestClient(app) as client:
        missing = await client.post("/orders", json={})
        bad = await client.post("/orders", json={}, headers={"idempotency-key": '"a\\"b"'})
        long = await client.post("/orders", json={}, headers={"idempotency-key": "k" * 256})
        get = await client.get("/orders")  # GET is safe: not concerned
    for r in (missing, bad, long):
        assert r.status_code == 400
        assert r.headers["content-type"] == "application/problem+json"
    assert "needs an Idempotency-Key header" in missing.json()["detail"]
    assert get.status_code == 200
    assert seen["runs"] == 1


async def test_set_cookie_is_not_replayed_other_headers_are(cache: Cache) -> None:
    app, seen = _app(cache)
    headers = key()
    async with AsyncTestClient(app) as client:
        first = await client.post("/cookie", headers=headers)
        again = await client.post("/cookie", headers=headers)
    assert first.headers["set-cookie"] == "s=1"
    assert "set-cookie" not in again.headers
    assert again.headers["x-kept"] == "yes"
    assert again.content == b"ok"
    assert seen["runs"] == 1


async def test_a_5xx_is_not_stored_and_the_retry_runs_again(cache: Cache) -> None:
    app, seen = _app(cache)
    headers = key()
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        first = await client.post("/boom", headers=headers)
        again = await client.post("/boom", headers=headers)
        third = await client.post("/boom", headers=headers)
    assert first.status_code == 500
    assert again.status_code == 200
    assert REPLAYED_HEADER not in again.headers
    assert third.json() == {"runs": 2}
    assert third.headers[REPLAYED_HEADER] == "true"


async def test_401_and_429_are_not_stored(cache: Cache) -> None:
    app = App()
    answers = [401, 429, 200]

    @app.post("/try", steps=[Idempotency(cache=cache)])
    async def attempt() -> Response:
        return Response(b"", answers.pop(0))

    headers = key()
    async with AsyncTestClient(app) as client:
        statuses = [(await client.post("/try", headers=headers)).status_code for _ in range(4)]
    assert statuses == [401, 429, 200, 200]  # the last one replayed
    assert answers == []


async def test_a_streamed_response_releases_the_key(
    cache: Cache, caplog: pytest.LogCaptureFixture
) -> None:
    app, seen = _app(cache)
    headers = key()
    async with AsyncTestClient(app) as client:
        await client.post("/stream", headers=headers)
        await client.post("/stream", headers=headers)
    assert seen["runs"] == 2
    assert "not stored for idempotency" in caplog.text


async def test_keys_are_scoped_by_the_caller(cache: Cache) -> None:
    app, seen = _app(cache)
    headers = key()
    async with AsyncTestClient(app) as client:
        alice = {**headers, "authorization": "Bearer alice"}
        bob = {**headers, "authorization": "Bearer bob"}
        a = await client.post("/orders", json={}, headers=alice)
        b = await client.post("/orders", json={}, headers=bob)
        a2 = await client.post("/orders", json={}, headers=alice)
    assert a.json() == {"order": 1}
    assert b.json() == {"order": 2}
    assert a2.json() == {"order": 1}
    assert a2.headers[REPLAYED_HEADER] == "true"


async def test_the_record_expires_after_ttl(cache_url: str, namespace: str) -> None:
    async with Cache(url=cache_url, namespace=namespace) as cache:
        app = App()
        runs = []

        @app.post("/x", steps=[Idempotency(cache=cache, ttl=0.2)])
        async def x() -> int:
            runs.append(1)
            return len(runs)

        headers = key()
        async with AsyncTestClient(app) as client:
            assert (await client.post("/x", headers=headers)).json() == 1
            assert (await client.post("/x", headers=headers)).json() == 1
            await asyncio.sleep(0.35)
            assert (await client.post("/x", headers=headers)).json() == 2
        await cache.clear()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_cache_outage_is_503_and_never_runs_the_handler() -> None:
    # NOTE: a Redis URL on a closed port: the store is away (redis-py is a dev dependency)
    cache = Cache(url=f"redis://127.0.0.1:{_closed_port()}/0", timeout=0.5, retry_after=3)
    app = App()
    runs = []

    @app.post("/pay", steps=[Idempotency(cache=cache)])
    async def pay() -> str:
        runs.append(1)
        return "paid"

    async with AsyncTestClient(app) as client:
        first = await client.post("/pay", headers=key())
        second = await client.post("/pay", headers=key())  # skipped quickly: marked down
        unkeyed = await client.post("/pay")
    for r in (first, second):
        assert r.status_code == 503
        assert r.headers["retry-after"] == "3"
        assert r.headers["content-type"] == "application/problem+json"
        assert "the request was not run" in r.json()["detail"]
    assert unkeyed.status_code == 200  # not keyed: the store is not needed
    assert runs == [1]


async def test_app_wide_step_skips_routes_without_unsafe_methods(cache: Cache) -> None:
    app = App()
    Idempotency(app, cache=cache)

    @app.get("/a")
    async def a() -> str:
        return "a"

    @app.post("/b")
    async def b() -> str:
        return "b"

    async with AsyncTestClient(app) as client:
        assert (await client.get("/a")).status_code == 200
        route_a = next(r for r in app._compiled().routes if r.path == "/a")
        route_b = next(r for r in app._compiled().routes if r.path == "/b")
    assert route_a.flow is None  # the GET-only route pays nothing
    assert route_b.flow is not None
