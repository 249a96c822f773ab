"""``Metrics``: ``/metrics`` in the Prometheus text format, on prometheus_client.

Requests are counted and timed by a pipeline step specialised per route, labelled by the
route's *template* (``/items/{item_id}``, not ``/items/42``), method and status, so the fast
lane is measured like any other and the label cardinality stays that of the route table.

Under ``--workers N`` set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before the
server starts: every worker then writes its samples there (prometheus_client's multiprocess
mode) and whichever worker answers ``/metrics`` reports the whole server. Process metrics,
which that mode drops, are kept as per-worker gauges labelled by ``pid``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from collections.abc import Sequence
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from celeris.core.responses import Response
from celeris.metrics.step import UNMATCHED, RequestMetrics

__all__ = ["DEFAULT_BUCKETS", "Metrics"]

#: Latency buckets in seconds: a fast framework's requests take well under 5 ms.
DEFAULT_BUCKETS: Final = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

_PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def multiprocess_dir() -> str | None:
    """Return PROMETHEUS_MULTIPROC_DIR when it names a directory (multiprocess mode)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path if path and os.path.isdir(path) else None


class Metrics:
    """Serve ``/metrics`` and measure every route; ``Metrics(app=app)`` attaches it.

    ``metrics.registry`` takes the app's own collectors (``Counter(..., registry=...)``).
    ``exclude``: route templates not measured (``/metrics`` itself by default).
    """

    def __init__(
        self,
        app: Any = None,
        *,
        path: str = "/metrics",
        prefix: str = "celeris",
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        exclude: Sequence[str] = (),
        process_interval: float = 5.0,
    ) -> None:
        self.path = path
        self.directory = multiprocess_dir()
        self.registry = CollectorRegistry(auto_describe=True)
        self.process_interval = process_interval
        self.requests = Counter(
            f"{prefix}_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.duration = Histogram(
            f"{prefix}_http_request_duration_seconds",
            "Time from the pipeline's first step to the response, by route template and method.",
            ("route", "method"),
            buckets=tuple(buckets),
            registry=self.registry,
        )
        self.in_progress = Gauge(
            f"{prefix}_http_requests_in_progress",
            "HTTP requests being answered now.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self._step = RequestMetrics(self, UNMATCHED, frozenset({path, *exclude}))
        self._process: tuple[Gauge, Gauge, Gauge] | None = None
        self._task: asyncio.Task[None] | None = None
        if self.directory is not None:
            # NOTE: multiprocess mode drops process_* metrics; each worker writes its own,
            # labelled by pid, removed when it stops (mark_process_dead).
            self._process = (
                Gauge(
                    "process_cpu_seconds",
                    "CPU time of the worker, user and system.",
                    registry=None,
                    multiprocess_mode="liveall",
                ),
                Gauge(
                    "process_resident_memory_bytes",
                    "Resident memory of the worker.",
                    registry=None,
                    multiprocess_mode="liveall",
                ),
                Gauge(
                    "process_start_time_seconds",
                    "Start time of the worker since the epoch.",
                    registry=None,
                    multiprocess_mode="liveall",
                ),
            )
        self.app = app
        if app is not None:
            self.install(app)

    def install(self, app: Any) -> None:
        """Measure every route of ``app`` and serve ``path``."""
        self.app = app
        app.state.metrics = self
        app.add_step(self._step)
        app.add_route(
            self.path,
            self.endpoint,
            ["GET"],
            name="metrics",
            tags=["observability"],
            summary="Prometheus metrics",
            include_in_schema=False,
        )
        if self._process is not None:
            app.on_startup(self._start_process_metrics)
            app.on_shutdown(self._stop_process_metrics)

    # --- scraping ----------------------------------------------------------------------------

    def render(self) -> bytes:
        """Return the metrics in the Prometheus text format (the whole server's, if multiprocess)."""
        if self.directory is None:
            return generate_latest(self.registry)
        self._sample_process()
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=self.directory)  # type: ignore[no-untyped-call]
        return generate_latest(merged)

    async def endpoint(self) -> Response:
        """``GET /metrics``."""
        return Response(self.render(), media_type=CONTENT_TYPE_LATEST)

    # --- per-worker process metrics in multiprocess mode ------------------------------------

    def _sample_process(self) -> None:
        gauges = self._process
        if gauges is None:
            return
        cpu, rss, started = gauges
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu.set(usage.ru_utime + usage.ru_stime)
        with (
            contextlib.suppress(OSError, ValueError, IndexError),
            open("/proc/self/statm", "rb") as statm,
        ):
            rss.set(int(statm.read().split()[1]) * _PAGE_SIZE)
        if not self._started_at:
            self._started_at = time.time()
            started.set(self._started_at)

    _started_at: float = 0.0

    async def _start_process_metrics(self) -> None:
        self._sample_process()
        self._task = asyncio.create_task(self._refresh())

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.process_interval)
            self._sample_process()

    async def _stop_process_metrics(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.directory is not None:
            multiprocess.mark_process_dead(os.getpid(), self.directory)  # type: ignore[no-untyped-call]
