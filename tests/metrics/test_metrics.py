"""``Metrics``: counts and latency by route template, method and status; in flight; /metrics."""

from __future__ import annotations

import asyncio

from prometheus_client.parser import text_string_to_metric_families

from celeris import App, HTTPError, Router
from celeris.metrics import UNMATCHED, Metrics
from celeris.testing import AsyncTestClient


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse the exposition text into {(sample name, sorted labels): value}."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def count(found, route: str, method: str, status: str) -> float:
    key = (
        "celeris_http_requests_total",
        (("method", method), ("route", route), ("status", status)),
    )
    return found.get(key, 0.0)


def build() -> tuple[App, Metrics]:
    app = App()
    metrics = Metrics(app=app)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict:
        if item_id == 0:
            raise HTTPError(404, "no such item")
        return {"id": item_id}

    @app.post("/items")
    async def create() -> dict:
        return {}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    api = Router(prefix="/api")

    @api.get("/users/{name}")
    async def user(name: str) -> str:
        return name

    app.include_router(api)
    return app, metrics


async def test_requests_are_labelled_by_template_method_and_status() -> None:
    app, _ = build()
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        for n in (1, 2, 3):
            assert (await client.get(f"/items/{n}")).status_code == 200
        assert (await client.get("/items/0")).status_code == 404
        assert (await client.get("/items/x")).status_code == 422
        assert (await client.post("/items")).status_code == 200
        assert (await client.get("/boom")).status_code == 500
        assert (await client.get("/api/users/ann")).status_code == 200
        for n in range(5):
            assert (await client.get(f"/random/probe/{n}")).status_code == 404
        r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    found = samples(r.text)
    assert count(found, "/items/{item_id}", "GET", "200") == 3
    assert count(found, "/items/{item_id}", "GET", "404") == 1
    assert count(found, "/items/{item_id}", "GET", "422") == 1
    assert count(found, "/items", "POST", "200") == 1
    assert count(found, "/boom", "GET", "500") == 1
    assert count(found, "/api/users/{name}", "GET", "200") == 1
    assert count(found, UNMATCHED, "GET", "404") == 5  # one label value, whatever the paths
    routes = {
        dict(labels).get("route") for (name, labels) in found if name.startswith("celeris_http")
    }
    assert "/metrics" not in routes  # scrapes are not counted
    assert not any(route and route.startswith("/items/1") for route in routes)
    hist = (
        "celeris_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/items/{item_id}")),
    )
    assert found[hist] == 5
    assert found["celeris_http_requests_in_progress", ()] == 0


async def test_in_progress_counts_requests_being_answered() -> None:
    app = App()
    metrics = Metrics(app=app)
    release = asyncio.Event()

    @app.get("/wait")
    async def wait() -> str:
        await release.wait()
        return "done"

    async with AsyncTestClient(app) as client:
        pending = [asyncio.create_task(client.get("/wait")) for _ in range(3)]
        for _ in range(100):
            if samples(metrics.render().decode())["celeris_http_requests_in_progress", ()] == 3:
                break
            await asyncio.sleep(0.01)
        assert samples(metrics.render().decode())["celeris_http_requests_in_progress", ()] == 3
        release.set()
        await asyncio.gather(*pending)
        assert (
            samples((await client.get("/metrics")).text)["celeris_http_requests_in_progress", ()]
            == 0
        )


async def test_exclude_and_custom_path() -> None:
    app = App()
    metrics = Metrics(app=app, path="/_prom", exclude=["/healthz"])

    @app.get("/healthz")
    async def healthz() -> str:
        return "ok"

    async with AsyncTestClient(app) as client:
        await client.get("/healthz")
        text = (await client.get("/_prom")).text
    assert "/healthz" not in text
    assert 'route="/_prom"' not in text
    assert "celeris_http_requests_in_progress 0.0" in metrics.render().decode()


async def test_two_apps_keep_their_own_numbers() -> None:
    app_a, _ = build()
    app_b, _ = build()
    async with AsyncTestClient(app_a) as a, AsyncTestClient(app_b) as b:
        await a.get("/items/1")
        assert count(samples((await b.get("/metrics")).text), "/items/{item_id}", "GET", "200") == 0
        assert count(samples((await a.get("/metrics")).text), "/items/{item_id}", "GET", "200") == 1


async def test_custom_collectors_on_the_registry() -> None:
    from prometheus_client import Counter

    app = App()
    metrics = Metrics(app=app)
    signups = Counter("shop_signups", "Accounts created.", registry=metrics.registry)
    signups.inc(2)
    async with AsyncTestClient(app) as client:
        assert samples((await client.get("/metrics")).text)["shop_signups_total", ()] == 2


async def test_metrics_route_is_not_in_openapi() -> None:
    app, _ = build()
    async with AsyncTestClient(app) as client:
        assert "/metrics" not in (await client.get("/openapi.json")).json()["paths"]


async def test_metrics_behind_your_own_route_and_dependency() -> None:
    from celeris import Depends, Response, Unauthorized

    app = App()
    metrics = Metrics(app=app, path=None, exclude=["/internal/metrics"])

    def scraper(token: str | None = None) -> None:
        if token != "s3cret":
            raise Unauthorized("scrapers only")

    @app.get("/internal/metrics", dependencies=[Depends(scraper)])
    async def scrape() -> Response:
        return await metrics.endpoint()

    async with AsyncTestClient(app) as client:
        assert (await client.get("/metrics")).status_code == 404  # no public route
        assert (await client.get("/internal/metrics")).status_code == 401
        r = await client.get("/internal/metrics", params={"token": "s3cret"})
    assert r.status_code == 200
    found = samples(r.text)
    assert count(found, UNMATCHED, "GET", "404") == 1
    assert not any(dict(labels).get("route") == "/internal/metrics" for _, labels in found)
