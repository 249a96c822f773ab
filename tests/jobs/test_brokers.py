"""The same jobs on RabbitMQ, Redis streams and NATS JetStream (taskiq), records in SQLite."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from celeris.db import Database
from celeris.jobs import JobFailed, Jobs, JobsConfigError, State
from celeris.jobs.broker import make_broker
from tests.db.tcp_proxy import TCPProxy
from tests.jobs.conftest import delete_queue


@pytest.fixture
async def broker_jobs(broker_url: str, tmp_path: Path) -> AsyncIterator[Jobs]:
    queue = f"t{uuid.uuid4().hex[:10]}"
    db = Database(f"sqlite:///{tmp_path / 'records.db'}", root_path=tmp_path)
    jobs = Jobs(broker_url, db=db, queue=queue, poll=0.05, lease=1.0, root_path=tmp_path)
    yield jobs
    await jobs.close()
    await db.disconnect()
    await delete_queue(broker_url, queue)


async def start(jobs: Jobs, **options: object) -> tuple[object, asyncio.Task[None]]:
    worker = jobs.worker(**options)  # type: ignore[arg-type]
    return worker, asyncio.create_task(worker.run())


async def test_enqueue_run_retry_and_delay(broker_jobs: Jobs) -> None:
    jobs = broker_jobs
    calls: list[int] = []

    @jobs.job(retries=2, backoff=0.05)
    async def flaky(n: int) -> int:
        calls.append(n)
        if calls.count(n) < 2:
            raise RuntimeError("first attempt fails")
        return n * 10

    @jobs.job(retries=0)
    async def broken() -> None:
        raise ValueError("always")

    async with jobs:
        assert jobs.backend.url.split("://")[0] in ("amqp", "redis", "nats")
        worker, task = await start(jobs)
        handles = [await flaky.enqueue(n) for n in range(5)]
        later = await flaky.enqueue(99, delay=0.5)
        assert [await h.result(timeout=20) for h in handles] == [0, 10, 20, 30, 40]
        assert await later.result(timeout=20) == 990
        with pytest.raises(JobFailed, match="always"):
            await (await broken.enqueue()).result(timeout=20)
        assert sorted(calls) == sorted([*range(5), *range(5), 99, 99])
        counts = await jobs.counts()
        assert counts[State.DONE] == 6
        assert counts[State.FAILED] == 1
        worker.stop()  # type: ignore[attr-defined]
        await task


async def test_duplicate_messages_run_the_job_once(broker_jobs: Jobs) -> None:
    jobs = broker_jobs
    runs: list[str] = []

    @jobs.job()
    async def once(tag: str) -> None:
        runs.append(tag)

    async with jobs:
        handle = await once.enqueue("x")
        record = await handle.record()
        for _ in range(3):  # the broker delivers it four times in all
            await jobs.backend._kick(record)  # type: ignore[attr-defined]
        worker, task = await start(jobs)
        await handle.result(timeout=20)
        await asyncio.sleep(0.5)
        assert runs == ["x"]
        worker.stop()  # type: ignore[attr-defined]
        await task


async def test_a_dead_workers_job_is_delivered_again(broker_jobs: Jobs) -> None:
    jobs = broker_jobs

    @jobs.job(retries=3)
    async def work(n: int) -> int:
        return n + 1

    async with jobs:
        handle = await work.enqueue(1)
        # another worker process takes the job and dies: no outcome, no ack, connection gone
        doomed = Jobs(jobs.url, db=jobs._database, queue=jobs.queue, poll=0.05, lease=0.5)
        async with doomed:
            deadline = asyncio.get_running_loop().time() + 20
            claimed: list[object] = []
            while not claimed and asyncio.get_running_loop().time() < deadline:
                claimed = await doomed.backend.claim(None, "doomed", 1, 0.5)
            assert claimed
            doomed.backend._acks.clear()  # type: ignore[attr-defined]
        await asyncio.sleep(0.6)  # its lease expires
        worker, task = await start(jobs)  # the reaper requeues it, the relay republishes it
        assert await handle.result(timeout=20) == 2
        record = await handle.record()
        assert record.attempts == 2
        assert "lease expired" in (record.error or "")
        worker.stop()  # type: ignore[attr-defined]
        await task


def test_a_missing_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "taskiq_nats", None)
    with pytest.raises(JobsConfigError, match=r"pip install 'celeris\[jobs-nats\]'"):
        make_broker("nats://x", "q", consumer=False, prefetch=1)


async def test_transactional_enqueue_through_the_broker(broker_url: str, tmp_path: Path) -> None:
    from sqlalchemy import Column, Integer, MetaData, String, Table
    from sqlalchemy.ext.asyncio import AsyncSession

    from celeris import App, Depends, HTTPError
    from celeris.testing import AsyncTestClient

    metadata = MetaData()
    orders = Table(
        "orders", metadata, Column("id", Integer, primary_key=True), Column("ref", String)
    )
    app = App()
    db = Database(f"sqlite:///{tmp_path / 'app.db'}", app=app, metadata=metadata, create_all=True)
    queue = f"t{uuid.uuid4().hex[:10]}"
    jobs = Jobs(broker_url, app=app, queue=queue, poll=0.05, embedded_worker=True)
    shipped: list[str] = []

    @jobs.job()
    async def ship(ref: str) -> None:
        shipped.append(ref)

    @app.post("/orders/{ref}")
    async def order(
        ref: str, fail: bool = False, session: AsyncSession = Depends(db.session)
    ) -> dict:
        await session.execute(orders.insert().values(ref=ref))
        handle = await ship.enqueue(ref, session=session)
        if fail:
            raise HTTPError(400, "no")
        return {"id": handle.id}

    try:
        async with AsyncTestClient(app) as client:
            assert jobs.backend.records_url.endswith("app.db")  # type: ignore[attr-defined]
            ok = await client.post("/orders/a1")
            await jobs.handle(ok.json()["id"]).result(timeout=20)
            assert (await client.post("/orders/b2", params={"fail": "true"})).status_code == 400
            await asyncio.sleep(0.3)
            assert shipped == ["a1"]
            assert sum((await jobs.counts()).values()) == 1
    finally:
        await delete_queue(broker_url, queue)


async def test_cron_ticks_and_hand_backs_go_through_the_relay(broker_jobs: Jobs) -> None:
    jobs = broker_jobs
    ticked = asyncio.Event()
    started = asyncio.Event()

    @jobs.cron("* * * * * *")
    async def every_second() -> None:
        ticked.set()

    @jobs.job()
    async def long(n: int) -> int:
        started.set()
        await asyncio.sleep(60)
        return n

    async with jobs:
        worker, task = await start(jobs, grace=0.1)
        await asyncio.wait_for(ticked.wait(), 20)
        handle = await long.enqueue(5)
        await asyncio.wait_for(started.wait(), 20)
        worker.stop()  # type: ignore[attr-defined]
        await task  # past its grace the job is handed back, unfinished
        assert (await handle.record()).state is State.QUEUED
        assert (await handle.record()).attempts == 0


async def test_rabbitmq_cut_and_restored_while_jobs_flow(rabbitmq_url: str, tmp_path: Path) -> None:
    parts = urlsplit(rabbitmq_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    port = await proxy.start()
    through = urlunsplit(
        parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{port}")
    )
    queue = f"t{uuid.uuid4().hex[:10]}"
    db = Database(f"sqlite:///{tmp_path / 'records.db'}", root_path=tmp_path)
    jobs = Jobs(through, db=db, queue=queue, poll=0.05, lease=2.0, root_path=tmp_path)
    ran: list[int] = []

    @jobs.job(retries=5)
    async def step(n: int) -> int:
        ran.append(n)
        await asyncio.sleep(0.01)
        return n

    try:
        async with jobs:
            worker, task = await start(jobs, concurrency=5)
            handles = [await step.enqueue(n) for n in range(40)]
            while len(ran) < 5:
                await asyncio.sleep(0.01)
            await proxy.cut()  # RabbitMQ is gone: publishing and delivery stop
            t0 = time.monotonic()
            during = [await step.enqueue(n) for n in range(40, 60)]  # stored, sent later
            assert time.monotonic() - t0 < 10  # enqueueing does not hang on a missing broker
            await asyncio.sleep(2.0)
            await proxy.restore()
            results = [await h.result(timeout=60) for h in [*handles, *during]]
            assert results == list(range(60))
            worker.stop()  # type: ignore[attr-defined]
            await task
    finally:
        await jobs.close()
        await proxy.close()
        await db.disconnect()
        await delete_queue(rabbitmq_url, queue)


async def test_starts_without_the_broker_and_publishes_once_it_is_back(
    rabbitmq_url: str, tmp_path: Path
) -> None:
    parts = urlsplit(rabbitmq_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 5672)
    port = await proxy.start()
    await proxy.cut()
    through = urlunsplit(
        parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{port}")
    )
    queue = f"t{uuid.uuid4().hex[:10]}"
    db = Database(f"sqlite:///{tmp_path / 'records.db'}", root_path=tmp_path)
    jobs = Jobs(through, db=db, queue=queue, poll=0.05, root_path=tmp_path)

    @jobs.job()
    async def hello() -> str:
        return "hi"

    try:
        async with jobs:  # RabbitMQ is away: start anyway
            handle = await hello.enqueue()
            await proxy.restore()
            worker, task = await start(jobs)
            assert await handle.result(timeout=30) == "hi"
            worker.stop()  # type: ignore[attr-defined]
            await task
    finally:
        await proxy.close()
        await db.disconnect()
        await delete_queue(rabbitmq_url, queue)


async def test_enqueues_published_in_the_background_are_flushed_at_close(
    broker_jobs: Jobs, tmp_path: Path
) -> None:
    """``enqueue`` returns once the record is stored; closing waits for the publishes in flight,
    so a worker that starts later gets every job from the broker, none from the relay."""
    jobs = broker_jobs

    @jobs.job(name="flushed")
    async def flushed(n: int) -> int:
        return n

    async with jobs:
        handles = await asyncio.gather(*(flushed.enqueue(n) for n in range(300)))
        # NOTE: some publishes are usually still in flight here; a close() that did not wait
        # for them would shut the publisher under them, and they would be marked unsent.
    assert not jobs.backend._sending  # type: ignore[attr-defined]
    unsent = await jobs.list(state=State.QUEUED, limit=400)
    assert len(unsent) == 300
    assert all(r.sent_at is not None for r in unsent)  # each handed over (none marked unsent)
    async with jobs:
        # NOTE: a relay pass would republish only jobs sent more than resend_after ago
        jobs.backend.resend_after = 3600  # type: ignore[attr-defined]
        worker, task = await start(jobs, concurrency=50)
        assert [await h.result(timeout=30) for h in handles] == list(range(300))
        worker.stop()  # type: ignore[attr-defined]
        await asyncio.wait_for(task, 10)


async def test_jobs_enqueued_together_share_messages_and_each_runs_once(
    broker_jobs: Jobs, broker_url: str
) -> None:
    """Jobs stored in one loop iteration go out in few messages (up to 32 ids each); each job
    runs once, and each message is acknowledged after its last job (none left on the broker)."""
    jobs = broker_jobs
    runs: list[int] = []
    published: list[int] = []

    @jobs.job(name="together")
    async def together(n: int) -> int:
        runs.append(n)
        return n

    async with jobs:
        backend = jobs.backend
        publish = backend._publish  # type: ignore[attr-defined]

        async def counting(queue: str, priority: int, ids: list[str]) -> None:
            published.append(len(ids))
            await publish(queue, priority, ids)

        backend._publish = counting  # type: ignore[attr-defined]
        handles = await asyncio.gather(*(together.enqueue(n) for n in range(100)))
        worker, task = await start(jobs, concurrency=10)
        results = await asyncio.gather(*(h.result(timeout=20) for h in handles))
        assert results == list(range(100))
        await asyncio.sleep(0.3)  # any duplicate would run now
        assert sorted(runs) == list(range(100))
        assert sum(published) == 100
        assert len(published) < 100
        assert max(published) <= 32
        worker.stop()  # type: ignore[attr-defined]
        await task
    if broker_url.startswith("amqp"):
        import aio_pika

        connection = await aio_pika.connect(broker_url)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(f"celeris.jobs.{jobs.queue}", passive=True)
            assert queue.declaration_result.message_count == 0  # every message acknowledged
