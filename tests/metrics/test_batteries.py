"""The batteries' numbers on /metrics: WebSocket connections, cache hits and misses, jobs."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from celeris import App, WebSocket
from celeris.cache import Cache
from celeris.jobs import Jobs
from celeris.metrics import Metrics
from celeris.metrics.stats import Snapshot, exposition
from celeris.server.workers import empty_metrics_dir
from celeris.testing import AsyncTestClient


def values(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if not sample.labels:
                found[sample.name] = sample.value
    return found


async def test_websocket_connections_gauge() -> None:
    app = App()
    Metrics(app=app)

    @app.websocket("/ws")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        async for message in ws.iter_text():
            await ws.send_text(message)

    @app.websocket("/refuse")
    async def refuse(ws: WebSocket) -> None:
        await ws.close(1008)

    @app.get("/plain")
    async def plain() -> str:
        return "x"

    async with AsyncTestClient(app) as client:
        assert values((await client.get("/metrics")).text)["celeris_websocket_connections"] == 0
        async with client.websocket_connect("/ws") as one, client.websocket_connect("/ws") as two:
            await one.send_text("a")
            assert await one.receive_text() == "a"
            await two.send_text("b")
            assert await two.receive_text() == "b"
            text = (await client.get("/metrics")).text
            assert values(text)["celeris_websocket_connections"] == 2
        for _ in range(100):  # the handlers finish once the closes arrive
            text = (await client.get("/metrics")).text
            if values(text)["celeris_websocket_connections"] == 0:
                break
            await asyncio.sleep(0.01)
        assert values(text)["celeris_websocket_connections"] == 0
        try:
            async with client.websocket_connect("/refuse"):
                pass
        except Exception:
            pass  # refused before accept: never counted
        assert values((await client.get("/metrics")).text)["celeris_websocket_connections"] == 0
        # the HTTP side of the middleware is a step no route keeps: it costs nothing there
        plain_route = next(r for r in app._compiled().routes if r.path == "/plain")
        assert plain_route.flow is not None
        assert all(type(step).__name__ == "RequestMetrics" for step in plain_route.flow.steps)


async def test_cache_hits_and_misses_and_jobs(tmp_path: Path) -> None:
    app = App()
    Metrics(app=app)
    cache = Cache(app=app)
    jobs = Jobs("memory://", app=app, poll=0.02, embedded_worker=True, root_path=tmp_path)

    @jobs.job(name="ok", retries=0)
    async def ok() -> None:
        return None

    @jobs.job(name="bad", retries=0)
    async def bad() -> None:
        raise ValueError("bad")

    async with AsyncTestClient(app) as client:
        await cache.set("a", 1)
        await cache.get("a")
        await cache.get("b")
        await cache.get_many(["a", "b", "c"])
        await cache.get_or_set("a", lambda: asyncio.sleep(0, 1))
        await cache.get_or_set("d", lambda: asyncio.sleep(0, 1))
        await (await ok.enqueue()).result(timeout=10)
        handle = await bad.enqueue()
        for _ in range(500):
            if (await handle.status()).value == "failed":
                break
            await asyncio.sleep(0.01)
        found = values((await client.get("/metrics")).text)
    assert found["celeris_cache_hits_total"] == 3  # a, a (of many), a (get_or_set)
    assert found["celeris_cache_misses_total"] == 4  # b, b, c, d
    assert found["celeris_jobs_queued_total"] == 2
    assert found["celeris_jobs_done_total"] == 1
    assert found["celeris_jobs_failed_total"] == 1
    assert found["celeris_jobs_running"] == 0


def test_battery_counters_sum_over_workers_and_gauges_over_the_living() -> None:
    def snap(pid: int, hits: int, ws: int) -> Snapshot:
        return Snapshot(
            pid, [], [], 0, 0.0, 0, 0.0, {"cache_hits_total": hits}, {"websocket_connections": ws}
        )

    text = exposition(
        "celeris",
        [0.1],
        iter([(snap(1, 3, 2), True), (snap(2, 4, 5), False)]),
        per_pid=True,
    ).decode()
    found = values(text)
    assert found["celeris_cache_hits_total"] == 7  # the exited worker's hits still count
    assert found["celeris_websocket_connections"] == 2  # its connections do not


def test_old_snapshots_without_battery_numbers_still_decode() -> None:
    import msgspec

    old = msgspec.json.encode([7, [], [], 0, 0.0, 0, 0.0])
    snapshot = msgspec.json.decode(old, type=Snapshot)
    assert snapshot.counters == {}
    assert snapshot.gauges == {}


def test_empty_metrics_dir_removes_the_files_of_dead_pids_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    dead = 4_194_305  # above the largest pid_max (2**22): never alive
    live = os.getpid()
    names = [
        f"celeris-{dead}.json",
        f"celeris-{dead}.tmp",
        f"counter_{dead}.db",
        f"gauge_livesum_{dead}.db",
        f"celeris-{live}.json",
        f"histogram_{live}.db",
        "x.txt",
        "notes.db",
    ]
    for name in names:
        (tmp_path / name).write_text("x")
    (tmp_path / f"counter_{dead + 1}.db").mkdir()
    with caplog.at_level(logging.WARNING, logger="celeris.error"):
        assert empty_metrics_dir(str(tmp_path)) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [
            f"celeris-{live}.json",
            f"histogram_{live}.db",
            "x.txt",
            "notes.db",
            f"counter_{dead + 1}.db",
        ]
    )
    assert f"running processes {live}" in caplog.text
    assert empty_metrics_dir(None) == 0
    assert empty_metrics_dir(str(tmp_path / "missing")) == 0
