"""``RequestSpans``: the pipeline step that wraps each request of one route in a server span."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context, propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from celeris import telemetry
from celeris.core.pipeline import Step
from celeris.core.requests import Request
from celeris.core.responses import Response

if TYPE_CHECKING:
    from celeris.core.routing import Route

__all__ = ["RequestSpans"]

_STATE: Final = "celeris.tracing.span"


class RequestSpans(Step):
    """Open a SERVER span named ``"METHOD /route/{template}"`` around the handler.

    The incoming ``traceparent`` is honoured, the span is the current one while the handler
    and its dependencies run (so db, cache and job spans are its children), and a 5xx marks
    it as an error.
    """

    def __init__(
        self, tracer: trace.Tracer, template: str | None, exclude: frozenset[str] = frozenset()
    ) -> None:
        self.tracer = tracer
        self.template = template
        self.exclude = exclude
        self._names: dict[str, str] = {}  # PERF: the span name of each method, made once

    def for_route(self, route: Route) -> Step | None:
        """Return the step of ``route``, naming its spans by its template (None: excluded)."""
        if route.path in self.exclude:
            return None
        return RequestSpans(self.tracer, route.path, self.exclude)

    async def before(self, request: Request) -> Response | None:
        method = request.method
        template = self.template
        name = self._names.get(method)
        if name is None:
            # NOTE: no template (no route matched): the method alone, never the raw path,
            # keeps span names low in cardinality.
            name = self._names[method] = f"{method} {template}" if template else method
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "url.path": request.path,
            "url.scheme": request.conn.scheme,
        }
        if template:
            attributes["http.route"] = template
        client = request.conn.client
        if client is not None:
            attributes["client.address"] = client[0]
        parent = propagate.extract(request.headers)
        span = self.tracer.start_span(name, parent, SpanKind.SERVER, attributes)
        token = context.attach(trace.set_span_in_context(span, parent))
        request.conn.state[_STATE] = (span, token)
        # NOTE: outlives the detach in after(): the access line is written once it is sent
        telemetry.request_span.set(span)
        return None

    async def after(self, request: Request, response: Response) -> None:
        opened = request.conn.state.pop(_STATE, None)
        if opened is None:
            return
        span, token = opened
        status = response.status_code
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()
        try:
            context.detach(token)
        except ValueError:  # NOTE: the handler ran in another context (a streamed body)
            pass
