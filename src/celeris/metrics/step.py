"""``RequestMetrics``: the pipeline step that counts and times each request of one route."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Final

from celeris.core.pipeline import Step
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.metrics.stats import Stats, Timing
from celeris.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from celeris.core.routing import Route

__all__ = ["UNMATCHED", "RequestMetrics", "WebSocketConnections"]

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


class WebSocketConnections:
    """ASGI middleware counting the WebSocket connections open now in ``stats.websockets``.

    WebSocket routes run no pipeline steps, but they meet the app's middleware in its ASGI
    form. For HTTP this class offers ``as_step``: a step that runs nowhere, so a route pays
    nothing for it (unless an ASGI-only middleware added earlier keeps it in ASGI form).
    """

    def __init__(self, app: ASGIApp, *, stats: Stats) -> None:
        self.app = app
        self.stats = stats

    @classmethod
    def as_step(cls, **options: Any) -> Step:
        """The HTTP side: nothing to do."""
        return Step()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        stats = self.stats
        accepted = False

        async def sending(message: Message) -> None:
            nonlocal accepted
            if not accepted and message["type"] == "websocket.accept":
                accepted = True
                stats.websockets += 1
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            if accepted:
                stats.websockets -= 1
