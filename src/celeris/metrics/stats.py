"""The request numbers of one process, kept as plain Python ints, and their merge across
worker processes.

PERF: prometheus_client's values take a lock and its histogram walks the buckets for each
observation (five locked updates a request: counter, histogram sum and bucket, gauge up and
down). A request here costs one dict update, one ``bisect`` and a few adds, on the event
loop thread only (no lock needed). The numbers become Prometheus exposition text
when scraped (``exposition``).

Under ``--workers N`` each worker writes a snapshot of its cumulative numbers to
``<PROMETHEUS_MULTIPROC_DIR>/celeris-<pid>.json`` every ``interval`` seconds and when it
stops; the worker that answers ``/metrics`` sums every snapshot (its own live numbers in
place of its file). Counters of workers that exited stay counted, as Prometheus expects of
counters; gauges (in flight, process metrics) come only from workers still alive.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Final

import msgspec

__all__ = ["Snapshot", "Stats", "Timing", "exposition", "read_snapshots", "write_snapshot"]

_PAGE_SIZE: Final = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class Timing:
    """A latency histogram: one count per bucket (the last is +Inf), a sum, a count."""

    __slots__ = ("buckets", "count", "total")

    def __init__(self, size: int) -> None:
        self.buckets = [0] * size
        self.total = 0.0
        self.count = 0


class Stats:
    """Every request number of this process, by route template."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds: tuple[float, ...] = tuple(sorted(bounds))
        self.requests: dict[tuple[str, str, int], int] = {}  # (route, method, status) -> n
        self.timings: dict[tuple[str, str], Timing] = {}  # (route, method) -> histogram
        self.in_progress = 0
        self.websockets = 0  # WebSocket connections open now (``WebSocketConnections``)

    def timing(self, route: str, method: str) -> Timing:
        """Return the histogram of ``route`` and ``method`` (made on first use)."""
        key = (route, method)
        timing = self.timings.get(key)
        if timing is None:
            timing = self.timings[key] = Timing(len(self.bounds) + 1)
        return timing

    def observe(self, timing: Timing, seconds: float) -> None:
        """Add one observation to ``timing``."""
        timing.buckets[bisect_left(self.bounds, seconds)] += 1
        timing.total += seconds
        timing.count += 1

    def snapshot(self) -> Snapshot:
        """Return this process's numbers, and its process metrics, as one record."""
        usage = resource.getrusage(resource.RUSAGE_SELF)
        rss = 0
        with (
            contextlib.suppress(OSError, ValueError, IndexError),
            open("/proc/self/statm", "rb") as statm,
        ):
            rss = int(statm.read().split()[1]) * _PAGE_SIZE
        return Snapshot(
            pid=os.getpid(),
            requests=[[r, m, s, n] for (r, m, s), n in self.requests.items()],
            timings=[[r, m, t.buckets, t.total, t.count] for (r, m), t in self.timings.items()],
            in_progress=self.in_progress,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            resident_bytes=rss,
            start_time=_START_TIME,
        )


_START_TIME: Final = time.time()


class Snapshot(msgspec.Struct, array_like=True):
    """One process's cumulative numbers, as written to its file."""

    pid: int
    requests: list[list[Any]]  # [route, method, status, n]
    timings: list[list[Any]]  # [route, method, buckets, sum, count]
    in_progress: int
    cpu_seconds: float
    resident_bytes: int
    start_time: float
    #: the batteries' numbers by metric name (cache hits, jobs queued...): summed over every
    #: worker that ever wrote one (counters) or over those alive (gauges)
    counters: dict[str, float] = {}
    gauges: dict[str, float] = {}


_encode: Final = msgspec.json.encode
_decode_snapshot: Final = msgspec.json.Decoder(Snapshot).decode


def write_snapshot(directory: str, snapshot: Snapshot) -> None:
    """Write ``snapshot`` to its process's file, atomically (readers never see half a file)."""
    path = Path(directory) / f"celeris-{snapshot.pid}.json"
    partial = path.with_suffix(".tmp")
    partial.write_bytes(_encode(snapshot))
    partial.replace(path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_snapshots(directory: str, own: Snapshot) -> Iterator[tuple[Snapshot, bool]]:
    """Yield every worker's snapshot with whether it is alive; ``own`` replaces our file."""
    yield own, True
    for path in Path(directory).glob("celeris-*.json"):
        try:
            snapshot = _decode_snapshot(path.read_bytes())
        except (OSError, msgspec.DecodeError):
            continue  # NOTE: a file being replaced or from an older format: skip this scrape
        if snapshot.pid != own.pid:
            yield snapshot, _alive(snapshot.pid)


_HELP: Final = {
    "cache_hits_total": "Cache lookups that found a value.",
    "cache_misses_total": "Cache lookups that found nothing (or a value that no longer decodes).",
    "websocket_connections": "WebSocket connections open now (accepted, not yet closed).",
    "jobs_queued_total": "Jobs enqueued.",
    "jobs_started_total": "Job attempts started.",
    "jobs_done_total": "Jobs finished successfully.",
    "jobs_retried_total": "Job attempts that failed and were scheduled again.",
    "jobs_failed_total": "Jobs that failed for good (dead-lettered).",
    "jobs_cancelled_total": "Jobs cancelled.",
    "jobs_running": "Jobs running now.",
}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return repr(float(value))


def exposition(
    prefix: str,
    bounds: Sequence[float],
    snapshots: Iterator[tuple[Snapshot, bool]],
    *,
    per_pid: bool,
) -> bytes:
    """Sum the snapshots and return them in the Prometheus text format (0.0.4).

    PERF: written here rather than through prometheus_client's ``generate_latest``, which
    validates and escapes every label of every sample (~30 us a sample: 120 ms for 100
    routes). The route templates are the only free text and are escaped once each.
    """
    requests: dict[tuple[str, str, int], int] = {}
    timings: dict[tuple[str, str], tuple[list[int], float, int]] = {}
    in_progress = 0
    processes: list[Snapshot] = []
    counters: dict[str, float] = {}
    gauges: dict[str, float] = {}
    for snapshot, alive in snapshots:
        for metric, value in snapshot.counters.items():
            counters[metric] = counters.get(metric, 0) + value
        for route, method, status, n in snapshot.requests:
            key = (route, method, status)
            requests[key] = requests.get(key, 0) + n
        for route, method, buckets, total, count in snapshot.timings:
            seen = timings.get((route, method))
            if seen is None:
                timings[route, method] = (list(buckets), total, count)
            else:
                merged = [a + b for a, b in zip(seen[0], buckets, strict=True)]
                timings[route, method] = (merged, seen[1] + total, seen[2] + count)
        if alive:
            in_progress += snapshot.in_progress
            processes.append(snapshot)
            for metric, value in snapshot.gauges.items():
                gauges[metric] = gauges.get(metric, 0) + value
    escaped: dict[str, str] = {}
    lines: list[str] = []
    out = lines.append
    name = f"{prefix}_http_requests_total"
    out(f"# HELP {name} HTTP requests answered, by route template, method and status.")
    out(f"# TYPE {name} counter")
    for (route, method, status), n in sorted(requests.items()):
        label = escaped.get(route)
        if label is None:
            label = escaped[route] = _label(route)
        out(f'{name}{{route="{label}",method="{method}",status="{status}"}} {_number(n)}')
    name = f"{prefix}_http_request_duration_seconds"
    out(f"# HELP {name} Time from the pipeline's first step to the response, by route and method.")
    out(f"# TYPE {name} histogram")
    edges = [_number(b) for b in bounds] + ["+Inf"]
    for (route, method), (buckets, total, count) in sorted(timings.items()):
        label = escaped.get(route)
        if label is None:
            label = escaped[route] = _label(route)
        labels = f'route="{label}",method="{method}"'
        running = 0
        for edge, n in zip(edges, buckets, strict=True):
            running += n
            out(f'{name}_bucket{{{labels},le="{edge}"}} {_number(running)}')
        out(f"{name}_sum{{{labels}}} {_number(total)}")
        out(f"{name}_count{{{labels}}} {_number(count)}")
    name = f"{prefix}_http_requests_in_progress"
    out(f"# HELP {name} HTTP requests being answered now.")
    out(f"# TYPE {name} gauge")
    out(f"{name} {_number(in_progress)}")
    for kind, values in (("counter", counters), ("gauge", gauges)):
        for metric, value in sorted(values.items()):
            name = f"{prefix}_{metric}"
            out(f"# HELP {name} {_HELP.get(metric, metric.replace('_', ' ') + '.')}")
            out(f"# TYPE {name} {kind}")
            out(f"{name} {_number(value)}")
    if per_pid:
        for metric, doc, field in (
            ("process_cpu_seconds", "CPU time of the worker, user and system.", "cpu_seconds"),
            ("process_resident_memory_bytes", "Resident memory of the worker.", "resident_bytes"),
            (
                "process_start_time_seconds",
                "Start time of the worker since the epoch.",
                "start_time",
            ),
        ):
            out(f"# HELP {metric} {doc}")
            out(f"# TYPE {metric} gauge")
            for snapshot in processes:
                out(f'{metric}{{pid="{snapshot.pid}"}} {_number(getattr(snapshot, field))}')
    out("")
    return "\n".join(lines).encode()
