"""``/healthz`` and ``/readyz``: the registry of battery checks, timeouts, 503 + Retry-After."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import msgspec

from celeris import App
from celeris.channels import Channels
from celeris.health import Health, add_health_route, register_check
from celeris.testing import AsyncTestClient

from .db.tcp_proxy import TCPProxy


class Probe(msgspec.Struct):
    status: str
    backend: str = "probe"
    error: str | None = None


def app_with(**checks) -> App:
    app = App()
    for name, check in checks.items():
        register_check(app, name, check)
    return app


async def test_healthz_answers_without_asking_backends() -> None:
    calls = []

    async def never() -> Probe:
        calls.append(1)
        return Probe("unavailable")

    app = app_with(broken=never)
    Health(app=app)
    async with AsyncTestClient(app) as client:
        r = await client.get("/healthz")
        assert r.status_code == 200
        assert r.json() == {"status": "ok"}
    assert calls == []


async def test_readyz_ok_lists_every_check() -> None:
    async def ok() -> Probe:
        return Probe("ok", backend="redis")

    async def silent() -> None:
        return None

    app = app_with(cache=ok, mail=silent)
    add_health_route(app)
    async with AsyncTestClient(app) as client:
        r = await client.get("/readyz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["checks"]["cache"]["status"] == "ok"
    assert body["checks"]["cache"]["detail"] == {"backend": "redis"}
    assert body["checks"]["mail"]["status"] == "ok"
    assert isinstance(body["checks"]["mail"]["latency_ms"], float)


async def test_readyz_503_names_what_failed() -> None:
    async def ok() -> Probe:
        return Probe("ok")

    async def down() -> Probe:
        return Probe("unavailable", error="connection refused")

    async def raises() -> Probe:
        raise OSError("no route to host")

    async def hangs() -> Probe:
        await asyncio.sleep(60)
        return Probe("ok")

    app = app_with(cache=ok, mail=down, storage=raises, jobs=hangs)
    Health(app=app, timeout=0.2, retry_after=9)
    async with AsyncTestClient(app) as client:
        started = asyncio.get_running_loop().time()
        r = await client.get("/readyz")
        elapsed = asyncio.get_running_loop().time() - started
    assert elapsed < 2  # each check is bounded; they run concurrently
    assert r.status_code == 503
    assert r.headers["retry-after"] == "9"
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["detail"] == "Not ready: jobs, mail, storage unavailable."
    checks = body["checks"]
    assert checks["cache"]["status"] == "ok"
    assert checks["mail"]["error"] == "connection refused"
    assert checks["storage"]["error"] == "OSError: no route to host"
    assert checks["jobs"]["error"] == "timed out after 0.2 s"


async def test_register_check_keeps_every_name() -> None:
    app = App()

    async def a() -> None:
        return None

    assert register_check(app, "cache", a) == "cache"
    assert register_check(app, "cache", a) == "cache-2"
    assert list(app.state.health_checks) == ["cache", "cache-2"]
    assert register_check(object(), "x", a) == "x"  # not an App: nothing to register with


async def test_checks_given_to_health_join_the_registry() -> None:
    async def extra() -> Probe:
        return Probe("ok")

    app = App()
    health = Health(app=app, checks={"database": extra}, live_path="/live", ready_path="/ready")
    assert list(health.checks) == ["database"]
    async with AsyncTestClient(app) as client:
        assert (await client.get("/live")).status_code == 200
        assert (await client.get("/ready")).json()["checks"]["database"]["status"] == "ok"


async def test_readyz_follows_a_real_redis_outage(redis_url) -> None:
    parts = urlsplit(redis_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    port = await proxy.start()
    app = App()
    Channels(app=app, url=f"redis://127.0.0.1:{port}/0", timeout=0.5)
    Health(app=app, timeout=1.0)
    try:
        async with AsyncTestClient(app) as client:
            assert (await client.get("/readyz")).status_code == 200
            await proxy.cut()
            r = await client.get("/readyz")
            assert r.status_code == 503
            assert r.json()["checks"]["channels"]["status"] == "unavailable"
            assert (await client.get("/healthz")).status_code == 200  # alive all the same
            await proxy.restore()
            for _ in range(50):
                r = await client.get("/readyz")
                if r.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert r.status_code == 200
            assert r.json()["checks"]["channels"]["detail"] == {"channels": "redis"}
    finally:
        await proxy.close()


async def test_health_routes_are_documented() -> None:
    app = App()
    Health(app=app)
    async with AsyncTestClient(app) as client:
        paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths) >= {"/healthz", "/readyz"}
    assert "503" in paths["/readyz"]["get"]["responses"]


async def test_every_battery_and_the_database_register_their_checks(tmp_path) -> None:
    from celeris.cache import Cache
    from celeris.db import Database
    from celeris.jobs import Jobs
    from celeris.mail import Mailer
    from celeris.storage import Storage

    app = App()
    Database(f"sqlite+aiosqlite:///{tmp_path}/app.db", app=app)
    Jobs(app=app)  # on the app's database
    Cache(app=app)
    Mailer(app=app, url="memory://")
    Storage(app=app, url="memory://", secret="test")
    Health(app=app)
    async with AsyncTestClient(app) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    checks = ready.json()["checks"]
    assert set(checks) == {"database", "jobs", "cache", "mail", "storage"}
    assert {c["status"] for c in checks.values()} == {"ok"}


async def test_readyz_is_503_while_the_database_is_away(postgres_url) -> None:
    from celeris.db import Database

    parts = urlsplit(postgres_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await proxy.start()
    app = App()
    Database(postgres_url.replace(f":{parts.port or 5432}", f":{port}"), app=app)
    Health(app=app, timeout=1.0)
    try:
        async with AsyncTestClient(app) as client:
            assert (await client.get("/readyz")).status_code == 200
            await proxy.cut()
            down = await client.get("/readyz")
            assert down.status_code == 503
            assert "retry-after" in down.headers
            assert down.json()["checks"]["database"]["status"] == "unavailable"
            await proxy.restore()
            for _ in range(50):
                up = await client.get("/readyz")
                if up.status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert up.status_code == 200
    finally:
        await proxy.close()
