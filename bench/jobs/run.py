"""Jobs end to end: enqueue from a request handler, then run by a `celeris worker` process.

    .venv/bin/python bench/jobs/run.py [--jobs 2000] [--concurrency 50] [--url sqlite|amqp://...]

Measures the enqueue latency (the request that enqueues, in process through AsyncTestClient,
``--clients`` of them at a time) and
the jobs/s from the first enqueue to the last job done, for the no-op and the 10 ms job. The
worker runs in its own process, started before the jobs are enqueued. A smoke figure on a
shared machine: no peers (Celery, arq) in this run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


async def measure(
    kind: str,
    total: int,
    url: str,
    concurrency: int,
    clients: int,
    workdir: Path,
    embedded: bool,
) -> dict[str, float]:
    queue = f"bench{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        "JOBS_URL": url,
        "BENCH_QUEUE": queue,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(HERE)]),
    }
    os.environ.update({"JOBS_URL": url, "BENCH_QUEUE": queue})
    sys.path.insert(0, str(HERE))
    import importlib

    import app as bench_app

    bench_app = importlib.reload(bench_app)
    from celeris.jobs import State
    from celeris.testing import AsyncTestClient

    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celeris",
            "worker",
            "app:app",
            "--concurrency",
            str(concurrency),
            "--status-interval",
            "0",
        ],
        cwd=workdir,
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    assert worker.stderr is not None
    worker.stderr.readline()  # the banner: ready
    latencies = []
    async with AsyncTestClient(bench_app.app) as client:
        numbers = iter(range(total))

        async def client_loop() -> None:
            for n in numbers:
                t0 = time.perf_counter()
                response = await client.post(f"/enqueue/{kind}/{n}")
                latencies.append(time.perf_counter() - t0)
                assert response.status_code == 200

        started = time.perf_counter()
        await asyncio.gather(*(client_loop() for _ in range(clients)))
        enqueued = time.perf_counter()
        while (await bench_app.jobs.counts())[State.DONE] < total:
            await asyncio.sleep(0.01)
        finished = time.perf_counter()
        await bench_app.jobs.purge([State.DONE])
    if worker is not None:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    latencies.sort()
    return {
        "jobs_per_s": total / (finished - started),
        "enqueue_per_s": total / (enqueued - started),
        "enqueue_p50_ms": 1000 * statistics.median(latencies),
        "enqueue_p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--url", default="sqlite")
    parser.add_argument("--clients", type=int, default=32, help="concurrent enqueuing requests")
    parser.add_argument(
        "--embedded", action="store_true", help="run the worker inside the app's process"
    )
    options = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="celeris-bench-jobs-"))
    url = f"sqlite:///{workdir / 'jobs.db'}" if options.url == "sqlite" else options.url
    where = "embedded worker" if options.embedded else "worker process"
    print(f"{where}, {options.clients} enqueuing clients, worker concurrency {options.concurrency}")
    print("| backend | job | jobs | jobs/s end to end | enqueues/s | enqueue p50 ms | p99 ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for kind in ("noop", "sleep"):
        result = asyncio.run(
            measure(
                kind,
                options.jobs,
                url,
                options.concurrency,
                options.clients,
                workdir,
                options.embedded,
            )
        )
        print(
            f"| {options.url.split('://')[0]} | {kind} | {options.jobs} | {result['jobs_per_s']:,.0f} "
            f"| {result['enqueue_per_s']:,.0f} | {result['enqueue_p50_ms']:.2f} "
            f"| {result['enqueue_p99_ms']:.2f} |"
        )


if __name__ == "__main__":
    main()
