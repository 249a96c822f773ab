"""Metrics hooks: every change of a job's state as an event, and running counters.

``jobs.on_event(callback)`` registers a plain function called with each ``JobEvent`` (keep it
cheap: it runs on the worker's loop); ``jobs.metrics`` keeps the counts the observability
battery exports (queued, started, done, retried, failed, cancelled, running, latency).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec

__all__ = ["JobEvent", "Listener", "Metrics"]

log = logging.getLogger("celeris.jobs")

KINDS = ("queued", "started", "done", "retried", "failed", "cancelled")


class JobEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One state change of one job."""

    kind: str  # one of KINDS
    id: str
    name: str
    queue: str
    attempt: int = 0
    latency: float | None = None  # started: seconds from due (run_at) to start
    duration: float | None = None  # done / retried / failed: seconds the attempt ran
    error: str | None = None


Listener = Callable[[JobEvent], None]


class Metrics:
    """Counters of the events this process saw, plus the jobs running in it now."""

    __slots__ = ("counts", "latency_count", "latency_total", "listeners", "running")

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.running = 0
        self.latency_total = 0.0
        self.latency_count = 0
        self.listeners: list[Listener] = []

    def emit(self, event: JobEvent) -> None:
        """Count ``event`` and hand it to every listener (whose errors are logged, not raised)."""
        self.counts[event.kind] += 1
        if event.kind == "started":
            self.running += 1
            if event.latency is not None:
                self.latency_total += event.latency
                self.latency_count += 1
        elif event.kind in ("done", "retried", "failed") and event.duration is not None:
            self.running -= 1
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:
                log.exception("jobs event listener %r failed", listener)

    def snapshot(self) -> dict[str, float]:
        """Return the counters as one flat mapping."""
        out: dict[str, float] = {**self.counts, "running": self.running}
        out["latency_avg"] = self.latency_total / self.latency_count if self.latency_count else 0.0
        return out
