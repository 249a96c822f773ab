"""The peers' side of the jobs benchmark: Celery on RabbitMQ, arq and SAQ on Redis.

Imported only in the peers' venv (bench/.venv-jobs-peers). Each peer has the same two jobs as
bench/jobs/app.py (a no-op returning its argument, and a 10 ms sleep), a worker configuration
(one process, concurrency 50: ``BENCH_CONCURRENCY``) and a bare ASGI app whose
``POST /enqueue/{kind}/{n}`` enqueues one job, as a request handler would.

Settings, each peer's usual production ones, with a stored result per job as celeris has:

- Celery 5 (``celery worker --pool threads --concurrency 50``): broker RabbitMQ (amqp, durable
  queue, persistent messages), ``task_acks_late=True`` (acknowledged after the task ran, as
  celeris does), results in Redis (``celery-task-meta-<id>``, db 5), prefetch multiplier 4 (its
  default). The jobs are sync functions (Celery's model); the 10 ms job is ``time.sleep``.
- arq 0.28: ``max_jobs=50``, ``poll_delay=0.01`` (its default 0.5 s caps it at 100 jobs/s with
  50 slots), results kept (``keep_result=3600``, ``arq:result:<id>``), db 6.
- SAQ 0.26: ``concurrency=50``, results kept in the job hash (its default ttl), db 7.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

REDIS = os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379")
AMQP = os.environ.get("BENCH_AMQP", "amqp://guest:guest@127.0.0.1:5672//")
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "50"))
CELERY_DB, ARQ_DB, SAQ_DB = 5, 6, 7
CELERY_QUEUE = "celeris-bench-celery"
ARQ_QUEUE = "celeris-bench-arq"


def _ready(*_args: Any, **_kwargs: Any) -> None:
    """Tell the benchmark that this worker process is up."""
    path = os.environ.get("BENCH_READY_FILE")
    if path:
        Path(path).write_text(str(os.getpid()))


async def _aready(_ctx: Any) -> None:
    _ready()


# --- Celery ---------------------------------------------------------------------------------

from celery import Celery  # noqa: E402
from celery.signals import worker_ready  # noqa: E402

celery_app = Celery("bench", broker=AMQP, backend=f"{REDIS}/{CELERY_DB}")
celery_app.conf.update(
    task_acks_late=True,
    task_default_queue=CELERY_QUEUE,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=3600,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    worker_send_task_events=False,
)
worker_ready.connect(_ready)


@celery_app.task(name="bench.noop")
def celery_noop(n: int) -> int:
    return n


@celery_app.task(name="bench.sleep")
def celery_sleep(n: int) -> int:
    time.sleep(0.01)
    return n


# --- arq ------------------------------------------------------------------------------------

from arq import create_pool  # noqa: E402
from arq.connections import RedisSettings  # noqa: E402
from arq.worker import func  # noqa: E402

ARQ_REDIS = RedisSettings(host="127.0.0.1", port=6379, database=ARQ_DB)


async def arq_noop(_ctx: Any, n: int) -> int:
    return n


async def arq_sleep(_ctx: Any, n: int) -> int:
    await asyncio.sleep(0.01)
    return n


class ArqSettings:
    functions = [func(arq_noop, name="noop"), func(arq_sleep, name="sleep")]  # type: ignore[arg-type]
    redis_settings = ARQ_REDIS
    queue_name = ARQ_QUEUE
    max_jobs = CONCURRENCY
    poll_delay = 0.01
    keep_result = 3600
    on_startup = _aready


# --- SAQ ------------------------------------------------------------------------------------

from saq import Queue  # noqa: E402

saq_queue = Queue.from_url(f"{REDIS}/{SAQ_DB}", name="celeris-bench-saq")


async def saq_noop(_ctx: Any, *, n: int) -> int:
    return n


async def saq_sleep(_ctx: Any, *, n: int) -> int:
    await asyncio.sleep(0.01)
    return n


saq_settings = {
    "queue": saq_queue,
    "functions": [("noop", saq_noop), ("sleep", saq_sleep)],
    "concurrency": CONCURRENCY,
    "startup": _aready,
}


# --- the apps that enqueue ------------------------------------------------------------------


class EnqueueApp:
    """A bare ASGI app: ``POST /enqueue/{kind}/{n}`` calls ``enqueue(kind, n)``, answers its id."""

    def __init__(self, enqueue: Any, startup: Any = None, shutdown: Any = None) -> None:
        self.enqueue = enqueue
        self.startup = startup
        self.shutdown = shutdown

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    if self.startup is not None:
                        await self.startup()
                    await send({"type": "lifespan.startup.complete"})
                else:
                    if self.shutdown is not None:
                        await self.shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        _, _, kind, n = scope["path"].split("/")
        job_id = await self.enqueue(kind, int(n))
        body = json.dumps({"id": job_id}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})


class Peer:
    """One peer: its app, its worker command, how many of its jobs are done, its cleanup."""

    name: str
    app: EnqueueApp

    def worker_command(self, python_bin: Path) -> list[str]:
        raise NotImplementedError

    async def reset(self) -> None:
        """Start from an empty queue and no results."""

    async def done(self) -> int:
        raise NotImplementedError


def _redis(db: int) -> Any:
    import redis.asyncio as redis

    return redis.from_url(f"{REDIS}/{db}")


class CeleryPeer(Peer):
    name = "Celery on RabbitMQ"

    def __init__(self) -> None:
        self.results = _redis(CELERY_DB)
        tasks = {"noop": celery_noop, "sleep": celery_sleep}

        async def enqueue(kind: str, n: int) -> str:
            # NOTE: delay() is a blocking publish; called as Celery's users call it from a
            # handler. Wrapping it in a thread would add a hop per enqueue.
            return str(tasks[kind].delay(n).id)

        self.app = EnqueueApp(enqueue)

    def worker_command(self, python_bin: Path) -> list[str]:
        return [
            str(python_bin / "celery"),
            "-A",
            "peers:celery_app",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(CONCURRENCY),
            "-Q",
            CELERY_QUEUE,
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]

    async def reset(self) -> None:
        await self.results.flushdb()
        with celery_app.connection_for_write() as connection:
            channel = connection.default_channel
            channel.queue_declare(CELERY_QUEUE, durable=True, auto_delete=False)
            channel.queue_purge(CELERY_QUEUE)

    async def done(self) -> int:
        return int(await self.results.dbsize())


class ArqPeer(Peer):
    name = "arq on Redis"

    def __init__(self) -> None:
        self.redis = _redis(ARQ_DB)
        self.pool: Any = None

        async def startup() -> None:
            self.pool = await create_pool(ARQ_REDIS, default_queue_name=ARQ_QUEUE)

        async def shutdown() -> None:
            await self.pool.aclose()

        async def enqueue(kind: str, n: int) -> str:
            job = await self.pool.enqueue_job(kind, n)
            return str(job.job_id)

        self.app = EnqueueApp(enqueue, startup, shutdown)

    def worker_command(self, python_bin: Path) -> list[str]:
        return [str(python_bin / "arq"), "peers.ArqSettings"]

    async def reset(self) -> None:
        await self.redis.flushdb()

    async def done(self) -> int:
        count = 0
        async for _ in self.redis.scan_iter(match="arq:result:*", count=1000):
            count += 1
        return count


class SaqPeer(Peer):
    name = "SAQ on Redis"

    def __init__(self) -> None:
        self.redis = _redis(SAQ_DB)
        self.total = 0
        self.enqueued = 0

        async def enqueue(kind: str, n: int) -> str:
            job = await saq_queue.enqueue(kind, n=n)
            assert job is not None
            self.enqueued += 1
            return str(job.id)

        self.app = EnqueueApp(enqueue, saq_queue.connect, saq_queue.disconnect)

    def worker_command(self, python_bin: Path) -> list[str]:
        return [str(python_bin / "saq"), "peers.saq_settings", "--workers", "1"]

    async def reset(self) -> None:
        await self.redis.flushdb()

    async def done(self) -> int:
        # NOTE: SAQ keeps queued and active jobs in its "incomplete" set: every enqueued job
        # not in it has finished (the harness asks only once all were enqueued).
        return self.enqueued - int(await saq_queue.count("incomplete"))


PEERS = {"celery": CeleryPeer, "arq": ArqPeer, "saq": SaqPeer}
