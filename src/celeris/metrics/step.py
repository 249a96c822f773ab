"""``RequestMetrics``: the pipeline step that counts and times each request of one route."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from celeris.core.pipeline import Step
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.metrics.stats import Stats, Timing

if TYPE_CHECKING:
    from celeris.core.routing import Route

__all__ = ["UNMATCHED", "RequestMetrics"]

#: The ``route`` label of requests no route matched (404s, mounted apps, static files):
#: one value, so that scanners probing random paths cannot blow up the label cardinality.
UNMATCHED: Final = "<unmatched>"

_START: Final = "celeris.metrics.start"
_clock: Final = time.perf_counter


class RequestMetrics(Step):
    """Count, time and track in flight the requests of one route template."""

    def __init__(self, stats: Stats, template: str, exclude: frozenset[str]) -> None:
        self.stats = stats
        self.template = template
        self.exclude = exclude
        self._timings: dict[str, Timing] = {}  # PERF: each method's histogram, found once

    def for_route(self, route: Route) -> Step | None:
        """Return the step of ``route``, labelled by its template (None for excluded paths)."""
        if route.path in self.exclude:
            return None
        return RequestMetrics(self.stats, route.path, self.exclude)

    async def before(self, request: Request) -> Response | None:
        request.conn.state[_START] = _clock()
        self.stats.in_progress += 1
        return None

    async def after(self, request: Request, response: Response) -> None:
        conn = request.conn
        started = conn.state.pop(_START, None)
        if started is None:  # NOTE: an earlier step answered before ours ran
            return
        elapsed = _clock() - started
        stats = self.stats
        stats.in_progress -= 1
        method = conn.method  # PERF: the parsed str, not Request.method's property
        key = (self.template, method, response.status_code)
        requests = stats.requests
        requests[key] = requests.get(key, 0) + 1
        timing = self._timings.get(method)
        if timing is None:
            timing = self._timings[method] = stats.timing(self.template, method)
        stats.observe(timing, elapsed)
