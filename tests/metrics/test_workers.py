"""Under ``celeris serve --workers 2`` with PROMETHEUS_MULTIPROC_DIR, any worker's /metrics
reports the whole server's requests, and each worker's process metrics (by pid); the app's
own prometheus_client metrics are merged in prometheus_client's multiprocess mode."""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from celeris.metrics.stats import Snapshot

pytestmark = pytest.mark.e2e

APP = textwrap.dedent(
    """
    import os
    from celeris import App
    from celeris.metrics import Metrics

    from prometheus_client import Counter

    app = App()
    metrics = Metrics(app=app)
    hits = Counter("shop_hits", "Hits.", registry=metrics.registry)

    @app.get("/pid/{n}")
    async def pid(n: int) -> str:
        hits.inc()
        return str(os.getpid())
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_metrics_are_the_whole_servers(tmp_path: Path) -> None:
    (tmp_path / "metrics_app.py").write_text(APP)
    prom = tmp_path / "prom"
    prom.mkdir()
    # a previous run's files: the supervisor empties the directory before the workers start
    stale = Snapshot(4_194_305, [["/pid/{n}", "GET", 200, 1000]], [], 0, 1.0, 1, 1.0)
    (prom / "celeris-4194305.json").write_bytes(msgspec.json.encode(stale))
    (prom / "counter_4194305.db").write_bytes(b"stale")
    (prom / "keep.txt").write_text("not a metrics file")
    port = free_port()
    src = Path(__file__).resolve().parents[2] / "src"
    env = {
        **os.environ,
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{src}",
        "PROMETHEUS_MULTIPROC_DIR": str(prom),
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celeris",
            "serve",
            "metrics_app:app",
            "--workers",
            "2",
            "--port",
            str(port),
            "--no-access-log",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(port, "/pid/0")
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail("the server did not start")
                time.sleep(0.1)
        pids = set()
        sent = 1  # the probe above
        for n in range(200):
            status, body = get(port, f"/pid/{n}")
            assert status == 200
            pids.add(body)
            sent += 1
            if len(pids) == 2 and n >= 59:
                break
        assert len(pids) == 2, "SO_REUSEPORT never spread the connections"
        time.sleep(1.5)  # NOTE: the other worker's numbers are at most snapshot_interval (1 s) old
        totals = []
        seen_pids = set()
        for _ in range(6):  # each scrape may land on either worker: all say the same
            status, text = get(port, "/metrics")
            assert status == 200
            total = own = 0.0
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if (
                        sample.name == "celeris_http_requests_total"
                        and sample.labels["route"] == "/pid/{n}"
                    ):
                        total += sample.value
                    if sample.name == "shop_hits_total":
                        own += sample.value
                    if sample.name == "process_resident_memory_bytes":
                        seen_pids.add(sample.labels["pid"])
                        assert sample.value > 1_000_000
            totals.append((total, own))
        assert totals == [(float(sent), float(sent))] * 6
        assert seen_pids == pids  # both workers' process metrics, by pid
        assert not (prom / "celeris-4194305.json").exists()
        assert not (prom / "counter_4194305.db").exists()
        assert (prom / "keep.txt").exists()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
