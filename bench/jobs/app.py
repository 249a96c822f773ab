"""The benchmark's app: a handler that enqueues, a no-op job and a 10 ms job."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from celeris import App
from celeris.jobs import Jobs

app = App()
jobs = Jobs(
    os.environ.get("JOBS_URL"),
    app=app,
    queue=os.environ.get("BENCH_QUEUE", "bench"),
    root_path=os.environ.get("BENCH_ROOT") or None,  # where a broker's records (jobs.db) go
)


@app.on_startup
async def ready() -> None:
    """In the worker process: tell the benchmark it is up (harness.start_worker)."""
    path = os.environ.get("BENCH_READY_FILE")
    if path:
        Path(path).write_text(str(os.getpid()))


@jobs.job(retries=0, name="bench.noop")
async def noop(n: int) -> int:
    return n


@jobs.job(retries=0, name="bench.sleep")
async def sleep10(n: int) -> int:
    await asyncio.sleep(0.01)
    return n


@app.post("/enqueue/{kind}/{n}")
async def enqueue(kind: str, n: int) -> dict[str, str]:
    job = noop if kind == "noop" else sleep10
    handle = await job.enqueue(n)
    return {"id": handle.id}
