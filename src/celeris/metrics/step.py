"""``RequestMetrics``: the pipeline step that counts and times each request of one route."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from celeris.core.pipeline import Step
from celeris.core.requests import Request
from celeris.core.responses import Response

if TYPE_CHECKING:
    from celeris.core.routing import Route
    from celeris.metrics.metrics import Metrics

__all__ = ["UNMATCHED", "RequestMetrics"]

#: The ``route`` label of requests no route matched (404s, mounted apps, static files):
#: one value, so that scanners probing random paths cannot blow up the label cardinality.
UNMATCHED: Final = "<unmatched>"

_START: Final = "celeris.metrics.start"
_clock: Final = time.perf_counter


class RequestMetrics(Step):
    """Count, time and track in flight the requests of one route template."""

    def __init__(self, metrics: Metrics, template: str, exclude: frozenset[str]) -> None:
        self.metrics = metrics
        self.template = template
        self.exclude = exclude
        # PERF: labelled children are looked up once per (method, status), not per request
        self._counted: dict[tuple[str, int], Any] = {}
        self._timed: dict[str, Any] = {}

    def for_route(self, route: Route) -> Step | None:
        """Return the step of ``route``, labelled by its template (None for excluded paths)."""
        if route.path in self.exclude:
            return None
        return RequestMetrics(self.metrics, route.path, self.exclude)

    async def before(self, request: Request) -> Response | None:
        request.conn.state[_START] = _clock()
        self.metrics.in_progress.inc()
        return None

    async def after(self, request: Request, response: Response) -> None:
        started = request.conn.state.pop(_START, None)
        if started is None:  # NOTE: an earlier step answered before ours ran
            return
        metrics = self.metrics
        metrics.in_progress.dec()
        method = request.method
        key = (method, response.status_code)
        counter = self._counted.get(key)
        if counter is None:
            counter = self._counted[key] = metrics.requests.labels(
                self.template, method, str(response.status_code)
            )
        counter.inc()
        timer = self._timed.get(method)
        if timer is None:
            timer = self._timed[method] = metrics.duration.labels(self.template, method)
        timer.observe(_clock() - started)
