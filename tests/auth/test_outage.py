"""The user store goes away: signed-in routes answer 503 with Retry-After, then recover."""

from __future__ import annotations

from urllib.parse import urlsplit

from celeris.db import PoolOptions
from celeris.testing import AsyncTestClient

from ..db.tcp_proxy import TCPProxy
from .conftest import MakeApp, alogin, asignup


async def test_postgres_outage_is_503_and_recovers(make_app: MakeApp, fresh_postgres: str) -> None:
    parts = urlsplit(fresh_postgres)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await proxy.start()
    url = fresh_postgres.replace(f"{parts.hostname}:{parts.port or 5432}", f"127.0.0.1:{port}")
    app, auth, _ = make_app(url=url)
    auth.db.pool = PoolOptions(connect_timeout=1.0, size=2)
    try:
        async with AsyncTestClient(app) as client:
            await asignup(client)
            token = (await client.post("/auth/tokens", json={})).json()["token"]
            api = AsyncTestClient(app)
            await proxy.cut()
            for request in (
                client.get("/me"),
                api.get("/me", headers={"authorization": f"Bearer {token}"}),
                alogin(client),
            ):
                r = await request
                assert r.status_code == 503, r.text
                assert r.headers["retry-after"]
                assert r.headers["content-type"] == "application/problem+json"
            await proxy.restore()
            assert (await client.get("/me")).status_code == 200
    finally:
        await proxy.close()
