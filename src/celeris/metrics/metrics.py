"""``Metrics``: ``/metrics`` in the Prometheus text format, on prometheus_client.

Requests are counted and timed by a pipeline step specialised per route, labelled by the
route's *template* (``/items/{item_id}``, not ``/items/42``), method and status, so the fast
lane is measured like any other route and the label cardinality stays that of the route
table. The numbers are plain ints per process (see ``stats.py``), written as exposition text
when scraped.

Under ``--workers N`` set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before the
server starts: each worker writes its numbers there and whichever worker answers
``/metrics`` reports the whole server, with process metrics per worker ``pid``. The app's own
prometheus_client metrics use prometheus_client's multiprocess mode in the same directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from typing import Any, Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    ProcessCollector,
    generate_latest,
    multiprocess,
)

from celeris.core.responses import Response
from celeris.metrics.stats import Snapshot, Stats, exposition, read_snapshots, write_snapshot
from celeris.metrics.step import UNMATCHED, RequestMetrics, WebSocketConnections

__all__ = ["DEFAULT_BUCKETS", "Metrics", "multiprocess_dir"]

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


def multiprocess_dir() -> str | None:
    """Return PROMETHEUS_MULTIPROC_DIR when it names a directory (multiprocess mode)."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    return path if path and os.path.isdir(path) else None


class Metrics:
    """Serve ``/metrics`` and measure every route; ``Metrics(app=app)`` attaches it.

    ``metrics.registry`` takes the app's own collectors (``Counter(..., registry=...)``).
    ``exclude``: route templates not measured (``/metrics`` itself always). ``path=None``
    serves no route: answer ``metrics.endpoint()`` from your own, behind its dependencies.
    """

    def __init__(
        self,
        app: Any = None,
        *,
        path: str | None = "/metrics",
        prefix: str = "celeris",
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        exclude: Sequence[str] = (),
        snapshot_interval: float = 1.0,
    ) -> None:
        self.path = path
        self.prefix = prefix
        self.directory = multiprocess_dir()
        self.snapshot_interval = snapshot_interval
        self.stats = Stats(buckets)
        self.registry = CollectorRegistry(auto_describe=True)
        if self.directory is None:
            ProcessCollector(registry=self.registry)
        excluded = frozenset(exclude) if path is None else frozenset({path, *exclude})
        self._step = RequestMetrics(self.stats, UNMATCHED, excluded)
        self._task: asyncio.Task[None] | None = None
        self.app = app
        if app is not None:
            self.install(app)

    def install(self, app: Any) -> None:
        """Measure every route of ``app`` and serve ``path`` (unless it is None)."""
        self.app = app
        app.state.metrics = self
        app.add_step(self._step)
        # NOTE: WebSocket routes run no steps; they meet this middleware (for HTTP it is a
        # step that no route keeps, so it costs nothing there)
        app.add_middleware(WebSocketConnections, stats=self.stats)
        if self.path is not None:
            self._add_route(app, self.path)
        if self.directory is not None:
            app.on_startup(self._start_snapshots)
            app.on_shutdown(self._stop_snapshots)

    def _add_route(self, app: Any, path: str) -> None:
        app.add_route(
            path,
            self.endpoint,
            ["GET"],
            name="metrics",
            tags=["observability"],
            summary="Prometheus metrics",
            include_in_schema=False,
        )

    # --- scraping ----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Return this process's numbers, with those of the app's cache and jobs batteries."""
        snapshot = self.stats.snapshot()
        state = getattr(self.app, "state", None)
        if state is None:
            return snapshot
        counters: dict[str, float] = {}
        caches = state.get("caches")
        if caches:
            counters["cache_hits_total"] = sum(cache.hits for cache in caches)
            counters["cache_misses_total"] = sum(cache.misses for cache in caches)
        gauges: dict[str, float] = {"websocket_connections": self.stats.websockets}
        jobs = state.get("jobs")
        if jobs is not None:
            for kind, n in jobs.metrics.counts.items():
                counters[f"jobs_{kind}_total"] = n
            gauges["jobs_running"] = jobs.metrics.running
        snapshot.counters = counters
        snapshot.gauges = gauges
        return snapshot

    def render(self) -> bytes:
        """Return the metrics in the Prometheus text format (the whole server's, if multiprocess)."""
        stats = self.stats
        directory = self.directory
        if directory is None:
            own = exposition(
                self.prefix, stats.bounds, iter([(self.snapshot(), True)]), per_pid=False
            )
            return own + generate_latest(self.registry)
        snapshots = read_snapshots(directory, self.snapshot())
        own = exposition(self.prefix, stats.bounds, snapshots, per_pid=True)
        # NOTE: the app's own prometheus_client metrics, in its multiprocess mode
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
        return own + generate_latest(merged)

    async def endpoint(self) -> Response:
        """``GET /metrics``."""
        return Response(self.render(), media_type=CONTENT_TYPE_LATEST)

    # --- multiprocess mode -------------------------------------------------------------------

    def write_snapshot(self) -> None:
        """Write this worker's numbers for the worker that answers the next scrape."""
        if self.directory is not None:
            with contextlib.suppress(OSError):
                write_snapshot(self.directory, self.snapshot())

    async def _start_snapshots(self) -> None:
        self.write_snapshot()
        self._task = asyncio.create_task(self._refresh())

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.snapshot_interval)
            self.write_snapshot()

    async def _stop_snapshots(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.write_snapshot()  # NOTE: its counters stay counted after it exits
        if self.directory is not None:
            multiprocess.mark_process_dead(os.getpid(), self.directory)  # type: ignore[no-untyped-call]
