"""``celeris.security.RateLimiter``: the same tests on memory and real Redis."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest

from celeris import App, Request, Step
from celeris.security import RateLimiter
from celeris.testing import AsyncTestClient, TestClient

from ..db.tcp_proxy import TCPProxy


@pytest.fixture(params=["memory", "redis"])
def storage_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue("redis_url")


class FakeAuth(Step):
    async def before(self, request: Request) -> None:
        user = request.headers.get("x-user")
        if user:
            request.state.user = user


def make_app(url: str, prefix: str | None = None) -> tuple[App, RateLimiter]:
    app = App()
    app.add_step(FakeAuth())  # an auth step runs before the limiter: key="user" sees its user
    limiter = RateLimiter(app=app, url=url, prefix=prefix or f"test-{uuid.uuid4().hex}")

    @app.get("/decorated")
    @limiter.limit("3/minute")
    async def decorated() -> str:
        return "ok"

    @app.get("/dependency", dependencies=[limiter.limit("2/minute")])
    async def dependency() -> str:
        return "ok"

    def api_key(request: Request) -> str:
        return request.headers.get("x-api-key", "anonymous")

    @app.get("/by-key")
    @limiter.limit("1/minute", key=api_key)
    async def by_key() -> str:
        return "ok"

    @app.get("/by-user")
    @limiter.limit("1/minute", key="user")
    async def by_user(request: Request) -> str:
        return "ok"

    @app.get("/free")
    async def free() -> str:
        return "free"

    return app, limiter


def test_limit_then_429(storage_url: str) -> None:
    app, _ = make_app(storage_url)
    with TestClient(app) as client:
        for remaining in (2, 1, 0):
            r = client.get("/decorated")
            assert r.status_code == 200
            assert r.headers["ratelimit-limit"] == "3"
            assert r.headers["ratelimit-remaining"] == str(remaining)
            assert 0 < int(r.headers["ratelimit-reset"]) <= 60
        r = client.get("/decorated")
        assert r.status_code == 429
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 429
        assert 0 < int(r.headers["retry-after"]) <= 60
        assert r.headers["ratelimit-remaining"] == "0"
        assert r.headers["ratelimit-limit"] == "3"
        assert client.get("/free").status_code == 200
        assert "ratelimit-limit" not in client.get("/free").headers


def test_dependency_form(storage_url: str) -> None:
    app, _ = make_app(storage_url)
    with TestClient(app) as client:
        assert [client.get("/dependency").status_code for _ in range(3)] == [200, 200, 429]


def test_callable_and_user_keys(storage_url: str) -> None:
    app, _ = make_app(storage_url)
    with TestClient(app) as client:
        assert client.get("/by-key", headers={"x-api-key": "a"}).status_code == 200
        assert client.get("/by-key", headers={"x-api-key": "a"}).status_code == 429
        assert client.get("/by-key", headers={"x-api-key": "b"}).status_code == 200
        assert client.get("/by-user", headers={"x-user": "ann"}).status_code == 200
        assert client.get("/by-user", headers={"x-user": "ann"}).status_code == 429
        assert client.get("/by-user", headers={"x-user": "bob"}).status_code == 200


def test_spoofed_forwarded_for_does_not_change_the_key(storage_url: str) -> None:
    app, _ = make_app(storage_url)
    with TestClient(app) as client:
        codes = [
            client.get("/decorated", headers={"x-forwarded-for": f"10.0.0.{i}"}).status_code
            for i in range(5)
        ]
        assert codes == [200, 200, 200, 429, 429]


def test_two_app_instances_share_the_limit_on_redis(redis_url: str) -> None:
    prefix = f"cluster-{uuid.uuid4().hex}"
    first, _ = make_app(redis_url, prefix)
    second, _ = make_app(redis_url, prefix)  # another worker: same code, same Redis
    with TestClient(first) as one, TestClient(second) as two:
        codes = [(one if i % 2 else two).get("/decorated").status_code for i in range(6)]
    assert codes == [200, 200, 200, 429, 429, 429]  # 3/minute in all, not 3 per worker


def test_memory_storage_is_per_process() -> None:
    first, _ = make_app("memory://", "same")
    second, _ = make_app("memory://", "same")
    with TestClient(first) as one, TestClient(second) as two:
        assert [one.get("/by-key").status_code, two.get("/by-key").status_code] == [200, 200]


def test_openapi_shows_the_limits() -> None:
    app, _ = make_app("memory://")
    with TestClient(app) as client:
        spec = client.get("/openapi.json").json()
    responses = spec["paths"]["/decorated"]["get"]["responses"]
    assert "429" in responses
    assert "3/minute per client address" in responses["429"]["description"]
    assert "429" in spec["paths"]["/dependency"]["get"]["responses"]
    assert "429" not in spec["paths"]["/free"]["get"]["responses"]


def test_bad_arguments() -> None:
    limiter = RateLimiter()
    with pytest.raises(ValueError, match="key="):
        limiter.limit("1/minute", key="nobody")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strategy="):
        RateLimiter(strategy="leaky")  # type: ignore[arg-type]
    app = App()
    RateLimiter(app=app, url="mongodb://x")
    with pytest.raises(RuntimeError, match="security.E003"), TestClient(app):
        pass


async def test_redis_outage_is_503_and_recovers(redis_url: str) -> None:
    parts = urlsplit(redis_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    port = await proxy.start()
    app, limiter = make_app(f"redis://127.0.0.1:{port}{parts.path or '/0'}")
    try:
        async with AsyncTestClient(app) as client:
            assert (await client.get("/decorated")).status_code == 200
            await proxy.cut()
            r = await client.get("/decorated")
            assert r.status_code == 503
            assert r.headers["retry-after"] == "5"
            assert (await client.get("/free")).status_code == 200
            with pytest.raises(ConnectionError):
                await limiter.check()
            await proxy.restore()
            r = await client.get("/decorated")
            assert r.status_code == 200
            assert r.headers["ratelimit-remaining"] == "1"
            await limiter.check()
    finally:
        await proxy.close()
