"""``Tracing``: OpenTelemetry spans per request, named by route template, exported by OTLP.

A pipeline step specialised per route opens each request's SERVER span, so the fast lane is
traced like any other path. Exporting: an ``exporter`` given (tests use the SDK's
``InMemorySpanExporter``), else OTLP over HTTP to ``endpoint`` / OTEL_EXPORTER_OTLP_ENDPOINT
when either is set, else none (spans still propagate ``traceparent``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)

from celeris import telemetry
from celeris.settings import app_setting
from celeris.tracing.step import RequestSpans

__all__ = ["Tracing", "otlp_exporter"]

logger = logging.getLogger("celeris.tracing")


def otlp_exporter(endpoint: str | None) -> SpanExporter:
    """Return the OTLP/HTTP exporter to ``endpoint`` (the collector's base URL, port 4318)."""
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:  # NOTE: loaded only when OTLP export is configured
        raise RuntimeError(
            "OTLP export needs opentelemetry-exporter-otlp: pip install 'celeris[tracing]'"
        ) from exc
    if endpoint is None:
        return OTLPSpanExporter()  # NOTE: reads OTEL_EXPORTER_OTLP_* itself
    return OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")


class Tracing:
    """Trace every request of an app; ``Tracing(app=app)`` attaches it.

    ``service_name`` defaults to OTEL_SERVICE_NAME, then the app's title. ``db``: a
    ``celeris.db.Database`` whose queries become child spans (SQLAlchemy instrumentation).
    ``batch=False`` exports each span as it ends (tests); the default batches in a thread.
    ``exclude``: route templates not traced (probes and scrapes: ``["/healthz", "/metrics"]``).
    """

    def __init__(
        self,
        app: Any = None,
        *,
        service_name: str | None = None,
        endpoint: str | None = None,
        exporter: SpanExporter | None = None,
        provider: TracerProvider | None = None,
        batch: bool = True,
        db: Any = None,
        set_global: bool = True,
        exclude: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.db = db
        if provider is None:
            name = (
                service_name
                or os.environ.get("OTEL_SERVICE_NAME")
                or getattr(app, "title", None)
                or "celeris"
            )
            provider = TracerProvider(resource=Resource.create({"service.name": name}))
        self.provider = provider
        endpoint = endpoint or app_setting(app, "OTEL_EXPORTER_OTLP_ENDPOINT")
        if exporter is None and endpoint:
            exporter = otlp_exporter(endpoint)
        self.exporter = exporter
        if exporter is not None:
            processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
            provider.add_span_processor(processor)
        if set_global and isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            # NOTE: only when nobody set one: OpenTelemetry allows setting it once per process
            trace.set_tracer_provider(provider)
        self.tracer = provider.get_tracer("celeris")
        self._step = RequestSpans(self.tracer, None, frozenset(exclude))
        self._instrumented: list[Any] = []
        if app is not None:
            self.install(app)

    def install(self, app: Any) -> None:
        """Trace every route of ``app``; instrument the database at start-up."""
        self.app = app
        app.state.tracing = self
        app.add_step(self._step)
        # NOTE: the cache, jobs and mail batteries open their spans while this is set
        telemetry.tracer = self.tracer
        app.on_startup(self.start)
        app.on_shutdown(self.stop)

    async def start(self) -> None:
        """Instrument the database's engine, if one was given."""
        if self.app is not None:
            telemetry.tracer = self.tracer  # NOTE: again, after another app's stop cleared it
        if self.db is not None and not self._instrumented:
            self.instrument_engine(self.db.engine)

    def instrument_engine(self, engine: Any) -> None:
        """Make every query on ``engine`` (sync or async SQLAlchemy) a child span."""
        try:
            from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
        except ImportError as exc:  # NOTE: loaded only when a database is traced
            raise RuntimeError(
                "tracing a database needs opentelemetry-instrumentation-sqlalchemy: "
                "pip install 'celeris[tracing]'"
            ) from exc
        sync_engine = getattr(engine, "sync_engine", engine)
        # NOTE: skip_dep_check: the instrumentation declares "sqlalchemy < 2.1" while it works
        # on 2.1 (its events are unchanged); tests/tracing proves it on the installed version.
        SQLAlchemyInstrumentor().instrument(
            engine=sync_engine, tracer_provider=self.provider, skip_dep_check=True
        )
        self._instrumented.append(sync_engine)

    def flush(self, timeout_ms: int = 5000) -> bool:
        """Export every ended span now; False if the exporter did not finish in time."""
        return bool(self.provider.force_flush(timeout_ms))

    async def stop(self) -> None:
        """Flush and shut the exporters down; undo the database instrumentation."""
        if self._instrumented:
            from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

            # NOTE: the instrumentor is a process-wide singleton that instruments once
            SQLAlchemyInstrumentor().uninstrument()
            self._instrumented.clear()
        if telemetry.tracer is self.tracer:
            telemetry.tracer = None
        self.provider.shutdown()
