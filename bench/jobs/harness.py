"""The same load for every system: requests to an ASGI app that enqueues, then wait until done.

Standard library only: it runs in celeris's venv and in the peers' venv alike. Each system's
app is called in process through the same minimal ASGI caller (no HTTP client, no sockets), so
the enqueue latency is the handler's (the framework's routing plus the enqueue itself) and
nothing of a client library's.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ASGIApp = Callable[..., Awaitable[None]]


class Lifespan:
    """Run an ASGI app's lifespan startup and shutdown (what a server does)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Lifespan:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.create_task(self.app(scope, self._inbox.get, self._outbox.put))
        await self._inbox.put({"type": "lifespan.startup"})
        message = await asyncio.wait_for(self._outbox.get(), 30)
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"startup failed: {message}")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self._inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(self._outbox.get(), 30)
        assert self._task is not None
        await asyncio.wait_for(self._task, 30)


async def post(app: ASGIApp, path: str) -> int:
    """POST ``path`` with an empty body; return the status code."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"content-length", b"0")],
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    status = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # a disconnect never comes
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])

    await app(scope, receive, send)
    return status


async def load(
    app: ASGIApp,
    kind: str,
    total: int,
    clients: int,
    done: Callable[[], Awaitable[int]],
    timeout: float = 170.0,
) -> dict[str, float]:
    """Send ``total`` enqueues from ``clients`` concurrent callers; wait until ``done() == total``."""
    latencies: list[float] = []
    numbers = iter(range(total))

    async def client() -> None:
        for n in numbers:
            t0 = time.perf_counter()
            status = await post(app, f"/enqueue/{kind}/{n}")
            latencies.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"enqueue answered {status}")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    enqueued = time.perf_counter()
    deadline = enqueued + timeout
    while (count := await done()) < total:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{count}/{total} jobs done after {timeout}s")
        await asyncio.sleep(0.01)
    finished = time.perf_counter()
    latencies.sort()
    return {
        "jobs": total,
        "jobs_per_s": total / (finished - started),
        "enqueue_per_s": total / (enqueued - started),
        "enqueue_p50_ms": 1000 * statistics.median(latencies),
        "enqueue_p99_ms": 1000 * latencies[max(0, int(len(latencies) * 0.99) - 1)],
    }


def start_worker(
    command: list[str], ready_file: Path, env: dict[str, str]
) -> subprocess.Popen[bytes]:
    """Start a worker process; return once it wrote ``ready_file`` (its start-up hook)."""
    ready_file.unlink(missing_ok=True)
    process = subprocess.Popen(
        command,
        env={**os.environ, **env, "BENCH_READY_FILE": str(ready_file)},
        stdout=subprocess.DEVNULL,
        stderr=open(ready_file.with_suffix(".log"), "wb"),  # noqa: SIM115 -- the child's
        cwd=Path(__file__).resolve().parent,
    )
    deadline = time.monotonic() + 30
    while not ready_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            log = ready_file.with_suffix(".log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"worker {command} did not start:\n{log}")
        time.sleep(0.02)
    time.sleep(0.2)  # its consumers subscribe right after the start-up hook
    return process


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after 20 s."""
    process.terminate()
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def report(result: dict[str, Any]) -> None:
    """Print the driver's result, one JSON line, for compare.py."""
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()
