"""One measurement: ``drive.py SYSTEM KIND --jobs N``, run by compare.py in the system's venv.

Starts the system's worker process, sends the enqueues through its app (harness.load), waits
until every job is done by its result, stops the worker and prints one ``RESULT {json}`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
if sys.argv[1:2] and sys.argv[1].startswith("celeris"):
    sys.path.insert(
        0, str(HERE.parents[1] / "src")
    )  # this checkout's celeris, not an installed one

import harness  # noqa: E402

CELERIS_URLS = {
    "celeris-sqlite": None,  # a jobs.db in a fresh directory
    "celeris-amqp": "amqp://guest:guest@127.0.0.1:5672/",
    "celeris-redis": "redis://127.0.0.1:6379/4",
    "celeris-nats": "nats://127.0.0.1:4222",
}


async def drive_celeris(system: str, kind: str, options: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="celeris-bench-jobs-"))
    url = CELERIS_URLS[system] or f"sqlite:///{workdir / 'jobs.db'}"
    queue = f"bench{uuid.uuid4().hex[:8]}"
    env = {
        "JOBS_URL": url,
        "BENCH_QUEUE": queue,
        "BENCH_ROOT": str(workdir),
        # NOTE: celeris's defaults: on SQLite an idle worker's poll backs off to poll=0.5 s
        # and claims again at once while it finds jobs; a broker worker waits on the broker.
        "PYTHONPATH": os.pathsep.join([str(HERE.parents[1] / "src"), str(HERE)]),
    }
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    import app as bench_app

    from celeris.jobs import State

    command = [sys.executable, "-m", "celeris", "worker", "app:app"]
    command += ["--concurrency", str(options.concurrency), "--status-interval", "0"]
    worker = harness.start_worker(command, workdir / "ready", env)
    try:
        async with harness.Lifespan(bench_app.app):

            async def done() -> int:
                return (await bench_app.jobs.counts())[State.DONE]

            result = await harness.load(bench_app.app, kind, options.jobs, options.clients, done)
    finally:
        harness.stop_worker(worker)
    if url.startswith("amqp"):
        import aio_pika

        connection = await aio_pika.connect(url)
        async with connection:
            channel = await connection.channel()
            await channel.queue_delete(f"celeris.jobs.{queue}")
    elif url.startswith("redis"):
        import redis.asyncio as redis

        client = redis.from_url(url)
        await client.delete(f"celeris.jobs.{queue}")
        await client.aclose()
    elif url.startswith("nats"):
        import nats

        client = await nats.connect(url)
        await client.jetstream().delete_stream(f"celeris_jobs_{queue}")
        await client.close()
    return result


async def drive_peer(system: str, kind: str, options: argparse.Namespace) -> dict[str, Any]:
    import peers

    peer = peers.PEERS[system]()
    await peer.reset()
    workdir = Path(tempfile.mkdtemp(prefix="celeris-bench-peer-"))
    command = peer.worker_command(Path(sys.executable).parent)
    worker = harness.start_worker(command, workdir / "ready", {"PYTHONPATH": str(HERE)})
    try:
        async with harness.Lifespan(peer.app):
            return await harness.load(peer.app, kind, options.jobs, options.clients, peer.done)
    finally:
        harness.stop_worker(worker)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("system")
    parser.add_argument("kind", choices=["noop", "sleep"])
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=50)
    options = parser.parse_args()
    os.environ["BENCH_CONCURRENCY"] = str(options.concurrency)
    drive = drive_celeris if options.system.startswith("celeris") else drive_peer
    result = asyncio.run(drive(options.system, options.kind, options))
    harness.report({"system": options.system, "kind": options.kind, **result})


if __name__ == "__main__":
    main()
