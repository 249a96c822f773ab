"""``Tracing``: a SERVER span per request named by route template, propagation, db child spans."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from celeris import App, Depends
from celeris.testing import AsyncTestClient
from celeris.tracing import Tracing


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


def traced(exporter: InMemorySpanExporter, **options) -> tuple[App, Tracing]:
    app = App(title="shop")
    tracing = Tracing(app=app, exporter=exporter, batch=False, set_global=False, **options)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict:
        with tracing.tracer.start_as_current_span("load item"):
            return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("bug")

    return app, tracing


async def test_span_per_request_named_by_template(exporter) -> None:
    app, _ = traced(exporter)
    async with AsyncTestClient(app) as client:
        assert (await client.get("/items/42")).status_code == 200
    spans = {span.name: span for span in exporter.get_finished_spans()}
    server = spans["GET /items/{item_id}"]
    assert server.kind is SpanKind.SERVER
    assert server.attributes["http.route"] == "/items/{item_id}"
    assert server.attributes["http.request.method"] == "GET"
    assert server.attributes["url.path"] == "/items/42"
    assert server.attributes["http.response.status_code"] == 200
    assert server.resource.attributes["service.name"] == "shop"
    child = spans["load item"]  # a span made in the handler is the request's child
    assert child.parent is not None
    assert child.parent.span_id == server.context.span_id
    assert child.context.trace_id == server.context.trace_id


async def test_incoming_traceparent_is_continued(exporter) -> None:
    app, _ = traced(exporter)
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent_id = "00f067aa0ba902b7"
    async with AsyncTestClient(app) as client:
        await client.get("/items/1", headers={"traceparent": f"00-{trace_id}-{parent_id}-01"})
    server = next(s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER)
    assert format(server.context.trace_id, "032x") == trace_id
    assert format(server.parent.span_id, "016x") == parent_id


async def test_errors_and_misses(exporter) -> None:
    app, _ = traced(exporter)
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        assert (await client.get("/boom")).status_code == 500
        assert (await client.get("/items/x")).status_code == 422
        assert (await client.get("/no/such/page/123")).status_code == 404
    spans = exporter.get_finished_spans()
    by_name = {span.name: span for span in spans}
    assert by_name["GET /boom"].status.status_code is StatusCode.ERROR
    assert by_name["GET /items/{item_id}"].status.status_code is StatusCode.UNSET  # 4xx: client's
    miss = by_name["GET"]  # no route: the method alone, never the raw path
    assert "http.route" not in miss.attributes
    assert miss.attributes["http.response.status_code"] == 404
    assert len(spans) == 3


async def test_database_queries_are_child_spans(exporter, tmp_path: Path) -> None:
    from sqlalchemy import text

    from celeris.db import AsyncSession, Database

    db = Database(f"sqlite:///{tmp_path}/t.db", root_path=tmp_path)
    app = App()
    tracing = Tracing(app=app, exporter=exporter, batch=False, set_global=False, db=db)
    db.install(app)

    @app.get("/count")
    async def count(session: AsyncSession = Depends(db.session)) -> int:
        return (await session.execute(text("SELECT 41 + 1"))).scalar_one()

    async with AsyncTestClient(app) as client:
        assert (await client.get("/count")).json() == 42
    spans = exporter.get_finished_spans()
    server = next(s for s in spans if s.name == "GET /count")
    queries = [s for s in spans if "SELECT" in s.name or s.attributes.get("db.statement")]
    assert queries, [s.name for s in spans]
    assert all(q.parent is not None and q.parent.span_id == server.context.span_id for q in queries)
    assert any("41 + 1" in str(q.attributes.get("db.statement", "")) for q in queries)
    assert tracing._instrumented == []  # uninstrumented at shutdown


def test_otlp_endpoint_makes_an_otlp_exporter() -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    tracing = Tracing(endpoint="http://collector:4318", set_global=False)
    assert isinstance(tracing.exporter, OTLPSpanExporter)
    assert tracing.exporter._endpoint == "http://collector:4318/v1/traces"
    tracing.provider.shutdown()
    assert Tracing(set_global=False).exporter is None  # nothing configured: nothing exported


async def test_excluded_routes_are_not_traced(exporter) -> None:
    app, _ = traced(exporter, exclude=["/healthz"])

    @app.get("/healthz")
    async def healthz() -> str:
        return "ok"

    async with AsyncTestClient(app) as client:
        await client.get("/healthz")
        await client.get("/items/1")
    assert sorted(s.name for s in exporter.get_finished_spans()) == [
        "GET /items/{item_id}",
        "load item",
    ]
