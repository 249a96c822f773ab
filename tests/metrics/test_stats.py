"""The plain-int numbers of a process and their merge across workers' snapshots."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from celeris.metrics.stats import Stats, exposition, read_snapshots, write_snapshot


def parsed(text: bytes) -> dict:
    """Parse with prometheus_client's own parser: the text must be valid exposition."""
    found = {}
    for family in text_string_to_metric_families(text.decode()):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


def test_histogram_buckets_are_cumulative_with_le_semantics() -> None:
    stats = Stats([0.1, 1.0])
    timing = stats.timing("/a", "GET")
    for seconds in (0.05, 0.1, 0.5, 1.0, 3.0):
        stats.observe(timing, seconds)
    stats.requests["/a", "GET", 200] = 5
    found = parsed(exposition("x", stats.bounds, iter([(stats.snapshot(), True)]), per_pid=False))
    bucket = "x_http_request_duration_seconds_bucket"
    labels = (("method", "GET"), ("route", "/a"))
    assert found[bucket, (("le", "0.1"), *labels)] == 2  # 0.05 and 0.1 (<= the bound)
    assert found[bucket, (("le", "1.0"), *labels)] == 4
    assert found[bucket, (("le", "+Inf"), *labels)] == 5
    assert found["x_http_request_duration_seconds_count", labels] == 5
    assert found["x_http_request_duration_seconds_sum", labels] == 4.65


def test_dead_workers_keep_their_counters_but_not_their_gauges(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # NOTE: a pid that no longer runs
    other = Stats([1.0])
    other.requests["/a", "GET", 200] = 7
    other.in_progress = 3
    snapshot = other.snapshot()
    snapshot.pid = dead.pid
    write_snapshot(str(tmp_path), snapshot)
    (tmp_path / "celeris-123.json").write_text("garbage")  # a torn or foreign file is skipped
    mine = Stats([1.0])
    mine.requests["/a", "GET", 200] = 2
    mine.in_progress = 1
    found = parsed(
        exposition("x", mine.bounds, read_snapshots(str(tmp_path), mine.snapshot()), per_pid=True)
    )
    assert (
        found["x_http_requests_total", (("method", "GET"), ("route", "/a"), ("status", "200"))] == 9
    )
    assert found["x_http_requests_in_progress", ()] == 1  # the dead one's 3 are not in flight
    pids = {dict(labels)["pid"] for name, labels in found if name == "process_cpu_seconds"}
    assert pids == {str(os.getpid())}


def test_route_templates_are_escaped() -> None:
    stats = Stats([1.0])
    odd = '/a\\b/"q"/\n'
    stats.requests[odd, "GET", 200] = 1
    stats.observe(stats.timing(odd, "GET"), 0.5)
    found = parsed(exposition("x", stats.bounds, iter([(stats.snapshot(), True)]), per_pid=False))
    assert (
        found["x_http_requests_total", (("method", "GET"), ("route", odd), ("status", "200"))] == 1
    )
