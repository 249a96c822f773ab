"""The span hooks the batteries call: free until ``celeris.tracing.Tracing`` is attached.

The cache, jobs and mail batteries test ``telemetry.tracer is None`` (one attribute load) and
only then go through OpenTelemetry, so an app without tracing never imports it. ``Tracing``
sets ``tracer`` when it is installed on an app and clears it when it stops.

- ``cache_span``: a CLIENT span per cache operation (``cache get``, ``cache set``...).
- ``traced_push``: an enqueue is a PRODUCER span (``enqueue <job>``) whose context travels
  with the job: its W3C ``traceparent`` is written into the job's stored arguments under the
  key ``"celeris.trace"`` (no Python parameter can have that name; the arguments' decoder
  ignores it).
- ``run_job``: running the job is a CONSUMER span (``run <job>``), a child of the enqueue.
- ``mail_span``: a CLIENT span per outgoing mail (``mail send``).
- ``request_span``: the request's span for the access log's ``trace_id`` and ``span_id``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final

import msgspec

__all__ = [
    "TRACE_KEY",
    "cache_span",
    "log_ids",
    "mail_span",
    "request_span",
    "run_job",
    "traced_push",
    "tracer",
]

#: The OpenTelemetry tracer while a ``Tracing`` is attached; None costs nothing.
tracer: Any = None

#: The stored-arguments key that carries an enqueuing span's context into its job.
TRACE_KEY: Final = "celeris.trace"

#: The SERVER span of the request being answered (set by ``celeris.tracing``'s step).
request_span: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "celeris.request_span", default=None
)


class _Carrier(msgspec.Struct):
    trace: dict[str, str] | None = msgspec.field(default=None, name=TRACE_KEY)


_carrier: Final = msgspec.json.Decoder(_Carrier)


@contextmanager
def cache_span(operation: str, backend: str) -> Iterator[Any]:
    """A CLIENT span around one cache operation (``tracer`` must be set)."""
    from opentelemetry.trace import SpanKind

    with tracer.start_as_current_span(
        f"cache {operation}",
        kind=SpanKind.CLIENT,
        attributes={"db.system.name": backend, "db.operation.name": operation},
    ) as span:
        yield span


@contextmanager
def mail_span(backend: str, recipients: int) -> Iterator[Any]:
    """A CLIENT span around one outgoing mail (``tracer`` must be set)."""
    from opentelemetry.trace import SpanKind

    with tracer.start_as_current_span(
        "mail send",
        kind=SpanKind.CLIENT,
        attributes={"mail.backend": backend, "mail.recipients": recipients},
    ) as span:
        yield span


def traced_push(push: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """Wrap ``Jobs.push``: a PRODUCER span whose context is written into the job's arguments."""
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    async def pushed(record: Any, **options: Any) -> Any:
        with tracer.start_as_current_span(
            f"enqueue {record.name}",
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.operation.type": "send",
                "messaging.destination.name": record.queue,
                "messaging.message.id": record.id,
                "celeris.job.name": record.name,
            },
        ):
            headers: dict[str, str] = {}
            propagate.inject(headers)
            if headers:
                carried = msgspec.json.encode({TRACE_KEY: headers}).decode()
                args = record.args.strip()
                # NOTE: spliced in, not re-encoded: the arguments stay as the job encoded them
                record.args = carried if args == "{}" else carried[:-1] + "," + args[1:]
            return await push(record, **options)

    return pushed


async def run_job(record: Any, running: Awaitable[Any]) -> Any:
    """Await ``running`` inside a CONSUMER span continuing the enqueue's trace."""
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    try:
        carried = _carrier.decode(record.args).trace
    except (msgspec.DecodeError, msgspec.ValidationError):
        carried = None
    parent = propagate.extract(carried) if carried else None
    with tracer.start_as_current_span(
        f"run {record.name}",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.operation.type": "process",
            "messaging.destination.name": record.queue,
            "messaging.message.id": record.id,
            "celeris.job.name": record.name,
            "celeris.job.attempt": record.attempts,
        },
    ):
        return await running


def log_ids() -> tuple[str, str] | None:
    """Return ``(trace_id, span_id)`` in hex of the request's span, or None."""
    span = request_span.get()
    if span is None:
        return None
    context = span.get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")
