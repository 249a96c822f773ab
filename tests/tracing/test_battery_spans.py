"""Cache, job and mail spans (the real SDK, an in-memory exporter) and trace ids in the JSON
access log; without Tracing the batteries never import OpenTelemetry."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from celeris import App, telemetry
from celeris.cache import Cache
from celeris.db import Database
from celeris.jobs import Jobs
from celeris.mail import Mailer
from celeris.testing import AsyncTestClient
from celeris.tracing import Tracing

from ..server.support import raw, serving

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(params=["memory", "redis"])
def cache_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    yield exporter
    telemetry.tracer = None  # NOTE: a Tracing whose app never stopped must not leak


def tracing(app: App, exporter: InMemorySpanExporter) -> Tracing:
    return Tracing(
        app=app, exporter=exporter, batch=False, provider=TracerProvider(), set_global=False
    )


def by_name(exporter: InMemorySpanExporter) -> dict[str, list[ReadableSpan]]:
    spans: dict[str, list[ReadableSpan]] = {}
    for span in exporter.get_finished_spans():
        spans.setdefault(span.name, []).append(span)
    return spans


async def test_cache_operations_are_client_spans_of_the_request(
    exporter: InMemorySpanExporter, cache_url: str
) -> None:
    app = App()
    tracing(app, exporter)
    cache = Cache(app=app, url=cache_url, namespace="test:spans:")

    @app.get("/c")
    async def c() -> dict[str, Any]:
        before = await cache.get("k")
        await cache.set("k", 1, ttl=5)
        await cache.incr("n", ttl=5)
        return {"before": before, "after": await cache.get("k")}

    async with AsyncTestClient(app) as client:
        assert (await client.get("/c", headers={"traceparent": TRACEPARENT})).json() == {
            "before": None,
            "after": 1,
        }
        await cache.clear()
    spans = by_name(exporter)
    request = spans["GET /c"][0]
    gets = spans["cache get"]
    assert [g.attributes["cache.hit"] for g in gets] == [False, True]
    for span in [*gets, spans["cache set"][0], spans["cache incr"][0]]:
        assert span.kind is SpanKind.CLIENT
        assert span.parent is not None
        assert span.parent.span_id == request.context.span_id
        assert format(span.context.trace_id, "032x") == TRACE_ID
        assert span.attributes["db.system.name"] == cache.backend.name
    assert gets[0].attributes["db.operation.name"] == "get"


@pytest.fixture(params=["sqlite", "memory"])
def jobs_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    return None if request.param == "sqlite" else "memory://"


async def test_a_job_continues_the_trace_of_the_request_that_enqueued_it(
    exporter: InMemorySpanExporter, tmp_path: Path, jobs_url: str | None
) -> None:
    app = App()
    tracing(app, exporter)
    if jobs_url is None:  # the record, its arguments and trace context stored in SQLite
        Database(f"sqlite:///{tmp_path / 'jobs.db'}", root_path=tmp_path).install(app)
    jobs = Jobs(jobs_url, app=app, poll=0.02, embedded_worker=True, root_path=tmp_path)

    @jobs.job(name="double", retries=0)
    async def double(n: int) -> int:
        return 2 * n

    @jobs.job(name="nothing", retries=0)
    async def nothing() -> None:
        return None

    @app.post("/double/{n}")
    async def start(n: int) -> dict[str, str]:
        await nothing.enqueue()
        return {"id": (await double.enqueue(n)).id}

    async with AsyncTestClient(app) as client:
        r = await client.post("/double/21", headers={"traceparent": TRACEPARENT})
        assert await jobs.handle(r.json()["id"]).result(timeout=10) == 42
        stored = await jobs.get(r.json()["id"])
        assert stored is not None
        assert json.loads(stored.args)["n"] == 21  # the arguments are intact
        for _ in range(200):
            if "run nothing" in by_name(exporter) and "run double" in by_name(exporter):
                break
            await asyncio.sleep(0.01)
    spans = by_name(exporter)
    request = spans["POST /double/{n}"][0]
    enqueue = spans["enqueue double"][0]
    run = spans["run double"][0]
    assert enqueue.kind is SpanKind.PRODUCER
    assert enqueue.parent is not None
    assert enqueue.parent.span_id == request.context.span_id
    assert run.kind is SpanKind.CONSUMER
    assert run.parent is not None
    assert run.parent.span_id == enqueue.context.span_id
    assert format(run.context.trace_id, "032x") == TRACE_ID
    assert run.attributes["celeris.job.name"] == enqueue.attributes["celeris.job.name"]
    assert spans["run nothing"][0].parent.span_id == spans["enqueue nothing"][0].context.span_id  # type: ignore[union-attr]


async def test_the_trace_crosses_rabbitmq_to_the_worker(
    exporter: InMemorySpanExporter, tmp_path: Path, rabbitmq_url: str
) -> None:
    from tests.jobs.conftest import delete_queue

    app = App()
    tracing(app, exporter)
    queue = f"t{uuid.uuid4().hex[:10]}"
    db = Database(f"sqlite:///{tmp_path / 'records.db'}", root_path=tmp_path)
    jobs = Jobs(rabbitmq_url, db=db, queue=queue, poll=0.05, lease=5.0, root_path=tmp_path)
    jobs.install(app)

    @jobs.job(name="traced", retries=0)
    async def traced(n: int) -> int:
        return n + 1

    @app.post("/go")
    async def go() -> str:
        return (await traced.enqueue(1)).id

    try:
        async with AsyncTestClient(app) as client:
            job_id = (await client.post("/go", headers={"traceparent": TRACEPARENT})).text
            worker = jobs.worker()
            task = asyncio.create_task(worker.run())
            try:
                assert await jobs.handle(job_id).result(timeout=20) == 2
            finally:
                worker.stop()
                await asyncio.wait_for(task, 20)
    finally:
        await db.disconnect()
        await delete_queue(rabbitmq_url, queue)
    spans = by_name(exporter)
    run, enqueue = spans["run traced"][0], spans["enqueue traced"][0]
    assert run.parent is not None
    assert run.parent.span_id == enqueue.context.span_id
    assert format(run.context.trace_id, "032x") == TRACE_ID


async def test_a_failing_job_marks_its_span_as_an_error(exporter: InMemorySpanExporter) -> None:
    app = App()
    tracing(app, exporter)
    jobs = Jobs("memory://", app=app, poll=0.02, embedded_worker=True)

    @jobs.job(name="fail", retries=0)
    async def fail() -> None:
        raise ValueError("no")

    async with AsyncTestClient(app):
        handle = await fail.enqueue()
        with pytest.raises(Exception, match="no"):
            await handle.result(timeout=10)
    run = by_name(exporter)["run fail"][0]
    assert run.status.status_code is StatusCode.ERROR
    assert run.parent is not None  # the enqueue span, outside any request
    assert "enqueue fail" in by_name(exporter)


async def test_outgoing_mail_is_a_span(exporter: InMemorySpanExporter) -> None:
    app = App()
    tracing(app, exporter)
    mailer = Mailer(app=app, url="memory://", default_from="shop@example.org")

    @app.post("/welcome")
    async def welcome() -> str:
        await mailer.send(to=["a@example.org", "b@example.org"], subject="Hi", text="hello")
        return "sent"

    async with AsyncTestClient(app) as client:
        await client.post("/welcome")
    spans = by_name(exporter)
    mail = spans["mail send"][0]
    assert mail.kind is SpanKind.CLIENT
    assert mail.attributes["mail.recipients"] == 2
    assert mail.attributes["mail.backend"] == "memory"
    assert mail.parent is not None
    assert mail.parent.span_id == spans["POST /welcome"][0].context.span_id
    assert len(mailer.outbox) == 1


async def test_the_json_access_log_carries_the_request_span_ids(
    exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    app = App()
    tracing_ = Tracing(
        app=app,
        exporter=exporter,
        batch=False,
        provider=TracerProvider(),
        set_global=False,
        exclude=["/healthz"],
    )

    @app.get("/items/{n}")
    async def item(n: int) -> int:
        return n

    @app.get("/healthz")
    async def healthz() -> str:
        return "ok"

    with caplog.at_level(logging.INFO, logger="celeris.access"):
        async with serving(app, access_log=True, access_log_format="json") as (_, port):
            await raw(
                port,
                b"GET /items/1 HTTP/1.1\r\nHost: a\r\ntraceparent: "
                + TRACEPARENT.encode()
                + b"\r\n\r\nGET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"
                b"GET /items/2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            )
    tracing_.flush()
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "celeris.access"]
    assert [line["path"] for line in lines] == ["/items/1", "/healthz", "/items/2"]
    spans = {
        span.attributes["url.path"]: span
        for span in exporter.get_finished_spans()
        if span.name == "GET /items/{n}"
    }
    first, untraced, second = lines
    assert first["trace_id"] == TRACE_ID
    assert first["span_id"] == format(spans["/items/1"].context.span_id, "016x")
    assert "trace_id" not in untraced  # excluded: no span, no ids (not the previous request's)
    assert second["trace_id"] == format(spans["/items/2"].context.trace_id, "032x")
    assert second["trace_id"] != TRACE_ID


def test_without_tracing_the_batteries_never_import_opentelemetry(tmp_path: Path) -> None:
    script = f"""
import asyncio, sys
from celeris import App
from celeris.cache import Cache
from celeris.jobs import Jobs
from celeris.mail import Mailer
from celeris.testing import AsyncTestClient

app = App()
cache = Cache(app=app)
jobs = Jobs("memory://", app=app, poll=0.02, embedded_worker=True, root_path={str(tmp_path)!r})
mailer = Mailer(app=app, url="memory://", default_from="a@example.org")

@jobs.job()
async def job(n: int) -> int:
    return n

@app.post("/")
async def index() -> int:
    await cache.set("k", 1)
    await mailer.send(to=["b@example.org"], subject="s", text="t")
    return await (await job.enqueue(await cache.get("k"))).result(timeout=10)

async def main():
    async with AsyncTestClient(app) as client:
        assert (await client.post("/")).json() == 1

asyncio.run(main())
print(sorted(m for m in sys.modules if m.startswith("opentelemetry")))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
