"""Jobs on every backend: enqueue, run, results, retries, timeouts, dead letters, DI."""

from __future__ import annotations

import asyncio
import datetime
import threading
import time
from collections.abc import AsyncIterator

import msgspec
import pytest

from celeris import Depends
from celeris.jobs import (
    JobArgumentError,
    JobCancelled,
    JobFailed,
    Jobs,
    Permanent,
    State,
    backoff_delay,
)


class Point(msgspec.Struct):
    x: int
    y: int


async def run_worker(jobs: Jobs, **options: object) -> tuple[object, asyncio.Task[None]]:
    worker = jobs.worker(**options)  # type: ignore[arg-type]
    return worker, asyncio.create_task(worker.run())


async def stop(worker: object, task: asyncio.Task[None]) -> None:
    worker.stop()  # type: ignore[attr-defined]
    await asyncio.wait_for(task, 10)


async def test_enqueue_run_result(make_jobs) -> None:
    jobs = make_jobs()

    @jobs.job()
    async def add(a: int, b: int = 1) -> int:
        return a + b

    async with jobs:
        worker, task = await run_worker(jobs)
        handle = await add.enqueue(2, b=40)
        assert len(handle.id) == 32
        assert await handle.result(timeout=10) == 42
        assert await handle.status() is State.DONE
        await stop(worker, task)


async def test_typed_arguments_and_results_round_trip(make_jobs) -> None:
    jobs = make_jobs()

    @jobs.job()
    async def shift(p: Point, when: datetime.datetime) -> Point:
        return Point(p.x + when.day, p.y)

    async with jobs:
        worker, task = await run_worker(jobs)
        when = datetime.datetime(2024, 1, 5, tzinfo=datetime.UTC)
        handle = await shift.enqueue(Point(1, 2), when)
        assert await handle.result(timeout=10) == Point(6, 2)
        await stop(worker, task)


async def test_bad_arguments_fail_at_the_call_site(make_jobs) -> None:
    jobs = make_jobs()

    @jobs.job()
    async def greet(user_id: int) -> None: ...

    async with jobs:
        with pytest.raises(JobArgumentError, match="not JSON serialisable"):
            await greet.enqueue(object())
        with pytest.raises(JobArgumentError, match="Expected `int`, got `str`"):
            await greet.enqueue("nope")
        with pytest.raises(JobArgumentError, match="missing a required argument"):
            await greet.enqueue()
        assert await jobs.list() == []


async def test_retries_with_backoff_then_dead_letter(make_jobs) -> None:
    jobs = make_jobs()
    calls: list[float] = []

    @jobs.job(retries=2, backoff=0.05, max_backoff=0.1)
    async def flaky() -> None:
        calls.append(time.monotonic())
        raise RuntimeError("boom")

    async with jobs:
        worker, task = await run_worker(jobs)
        handle = await flaky.enqueue()
        with pytest.raises(JobFailed, match="boom"):
            await handle.result(timeout=10)
        record = await handle.record()
        assert record.state is State.FAILED
        assert record.attempts == 3
        assert "RuntimeError: boom" in (record.error or "")
        assert len(calls) == 3
        assert calls[1] - calls[0] >= 0.025  # half the first delay is fixed
        assert [r.id for r in await jobs.dead()] == [handle.id]
        # manual retry puts it back with fresh attempts
        assert await jobs.retry(handle.id)
        with pytest.raises(JobFailed):
            await handle.result(timeout=10)
        assert len(calls) == 6
        await stop(worker, task)


async def test_permanent_failures_skip_the_retries(make_jobs) -> None:
    jobs = make_jobs()
    calls: list[str] = []

    class Refused(Exception):
        pass

    @jobs.job(retries=5, backoff=0.01, dont_retry=Refused)
    async def send(kind: str) -> None:
        calls.append(kind)
        if kind == "permanent":
            raise Permanent("550 no such mailbox")
        if kind == "refused":
            raise Refused("refused for good")
        if calls.count("flaky") < 2:
            raise RuntimeError("try again")

    async with jobs:
        worker, task = await run_worker(jobs)
        permanent, refused, flaky = [
            await send.enqueue(k) for k in ("permanent", "refused", "flaky")
        ]
        with pytest.raises(JobFailed, match="550 no such mailbox"):
            await permanent.result(timeout=10)
        with pytest.raises(JobFailed, match="refused for good"):
            await refused.result(timeout=10)
        assert await flaky.result(timeout=10) is None  # any other error is retried
        assert (await permanent.record()).attempts == 1
        assert (await refused.record()).attempts == 1
        assert (await flaky.record()).attempts == 2
        assert calls.count("permanent") == calls.count("refused") == 1
        assert {r.id for r in await jobs.dead()} == {permanent.id, refused.id}
        await stop(worker, task)


async def test_a_retry_that_succeeds(make_jobs) -> None:
    jobs = make_jobs()
    calls = []

    @jobs.job(retries=3, backoff=0.01)
    async def second_time_lucky() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise ValueError("first")
        return "ok"

    async with jobs:
        worker, task = await run_worker(jobs)
        handle = await second_time_lucky.enqueue()
        assert await handle.result(timeout=10) == "ok"
        record = await handle.record()
        assert record.attempts == 2
        assert "ValueError: first" in (record.error or "")
        await stop(worker, task)


async def test_timeout_cancels_the_coroutine(make_jobs) -> None:
    jobs = make_jobs()
    cancelled = asyncio.Event()

    @jobs.job(timeout=0.2, retries=0)
    async def hang() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async with jobs:
        worker, task = await run_worker(jobs)
        handle = await hang.enqueue()
        with pytest.raises(JobFailed, match="ran past its timeout of 0.2s"):
            await handle.result(timeout=10)
        assert cancelled.is_set()
        await stop(worker, task)


async def test_unserialisable_result_is_dead_lettered_without_retries(make_jobs) -> None:
    jobs = make_jobs()
    calls = []

    @jobs.job(retries=5)
    async def returns_object() -> object:
        calls.append(1)
        return object()

    async with jobs:
        worker, task = await run_worker(jobs)
        handle = await returns_object.enqueue()
        with pytest.raises(JobFailed, match="not JSON serialisable"):
            await handle.result(timeout=10)
        assert calls == [1]
        await stop(worker, task)


async def test_sync_jobs_run_in_the_thread_pool(make_jobs) -> None:
    jobs = make_jobs()
    main = threading.get_ident()

    @jobs.job()
    def blocking(n: int) -> bool:
        time.sleep(0.01)
        return threading.get_ident() != main and n == 3

    async with jobs:
        worker, task = await run_worker(jobs)
        assert await (await blocking.enqueue(3)).result(timeout=10) is True
        await stop(worker, task)


async def test_delay_priority_and_queues(make_jobs) -> None:
    jobs = make_jobs()
    order: list[str] = []

    @jobs.job()
    async def note(tag: str) -> None:
        order.append(tag)

    async with jobs:
        later = await note.enqueue("later", delay=0.5)
        await note.enqueue("low", priority=0)
        await note.enqueue("high", priority=10)
        elsewhere = await note.enqueue("other", queue="other")
        worker, task = await run_worker(jobs, concurrency=1, queues=["default"])
        await later.result(timeout=10)
        assert order == ["high", "low", "later"]
        assert await elsewhere.status() is State.QUEUED
        await stop(worker, task)


async def test_at_schedules_a_job(make_jobs) -> None:
    jobs = make_jobs()

    @jobs.job()
    async def ping() -> float:
        return time.time()

    async with jobs:
        worker, task = await run_worker(jobs)
        at = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=0.4)
        ran = await (await ping.enqueue(at=at)).result(timeout=10)
        assert ran >= at.timestamp()
        await stop(worker, task)


async def test_unique_key_dedupes_live_jobs(make_jobs) -> None:
    jobs = make_jobs()

    @jobs.job()
    async def report(day: str) -> str:
        return day

    async with jobs:
        first = await report.enqueue("mon", unique_key="report:mon")
        again = await report.enqueue("mon", unique_key="report:mon")
        assert again.id == first.id
        worker, task = await run_worker(jobs)
        await first.result(timeout=10)
        third = await report.enqueue("mon", unique_key="report:mon")  # the key is free again
        assert third.id != first.id
        await third.result(timeout=10)
        await stop(worker, task)


async def test_cancel_a_queued_job(make_jobs) -> None:
    jobs = make_jobs()

    @jobs.job()
    async def never() -> None: ...

    async with jobs:
        handle = await never.enqueue(delay=60)
        assert await handle.cancel()
        assert await handle.status() is State.CANCELLED
        assert not await handle.cancel()
        with pytest.raises(JobCancelled):
            await handle.result(timeout=1)
        assert await jobs.purge([State.CANCELLED]) == 1
        assert await jobs.get(handle.id) is None


async def test_depends_in_jobs_cleanup_sees_the_outcome(make_jobs) -> None:
    jobs = make_jobs()
    log: list[str] = []

    def settings() -> dict[str, str]:
        return {"greeting": "hi"}

    async def unit_of_work(conf: dict[str, str] = Depends(settings)) -> AsyncIterator[str]:
        log.append("begin")
        try:
            yield conf["greeting"]
            log.append("commit")
        except Exception:
            log.append("rollback")
            raise

    @jobs.job(retries=0)
    async def greet(name: str, fail: bool = False, word: str = Depends(unit_of_work)) -> str:
        if fail:
            raise RuntimeError("nope")
        return f"{word} {name}"

    assert await greet("direct") == "hi direct"  # callable directly, dependencies solved
    assert log == ["begin", "commit"]
    async with jobs:
        worker, task = await run_worker(jobs)
        assert await (await greet.enqueue("ann")).result(timeout=10) == "hi ann"
        with pytest.raises(JobFailed):
            await (await greet.enqueue("bob", fail=True)).result(timeout=10)
        assert log[2:] == ["begin", "commit", "begin", "rollback"]
        await stop(worker, task)


def test_dependencies_that_need_a_request_are_refused() -> None:
    jobs = Jobs("memory://")

    def token(x_token: str) -> str:
        return x_token

    with pytest.raises(TypeError, match="a job has no request"):

        @jobs.job()
        async def bad(t: str = Depends(token)) -> None: ...


async def test_counts_list_and_events(make_jobs) -> None:
    jobs = make_jobs()
    events = []
    jobs.on_event(events.append)

    @jobs.job()
    async def ok() -> None: ...

    async with jobs:
        worker, task = await run_worker(jobs)
        handles = [await ok.enqueue() for _ in range(3)]
        for handle in handles:
            await handle.result(timeout=10)
        counts = await jobs.counts()
        assert counts["done"] == 3
        assert len(await jobs.list(state="done", name=ok.name)) == 3
        kinds = [e.kind for e in events]
        assert kinds.count("queued") == 3
        assert kinds.count("done") == 3
        snapshot = jobs.metrics.snapshot()
        assert snapshot["done"] == 3
        assert snapshot["running"] == 0
        await stop(worker, task)


def test_backoff_grows_and_is_capped() -> None:
    delays = [backoff_delay(n, 1.0, 8.0) for n in range(1, 7)]
    assert 0.5 <= delays[0] <= 1.0
    assert 4.0 <= delays[-1] <= 8.0
    assert 2.0 <= backoff_delay(3, 1.0, 100.0) <= 4.0


async def test_concurrent_claims_never_exceed_their_limit_nor_overlap(make_jobs) -> None:
    jobs = make_jobs()

    @jobs.job()
    async def noop() -> None: ...

    async with jobs:
        for _ in range(60):
            await noop.enqueue()
        batches = await asyncio.gather(
            *(jobs.backend.claim(None, f"w{i}", 5, 30.0) for i in range(6))
        )
        assert all(len(batch) <= 5 for batch in batches)
        ids = [record.id for batch in batches for record in batch]
        assert len(ids) == len(set(ids)) == 30
        # a lease that expires is handed out again; the old holder can no longer finish it
        record = batches[0][0]
        await jobs.backend.extend([record.id], "w0", -1.0)
        assert await jobs.backend.reap() == 1
        assert not await jobs.backend.finish(record.id, "w0", "null")
        again = await jobs.backend.claim(None, "w9", 100, 30.0)
        assert record.id in {r.id for r in again}


async def test_health(make_jobs) -> None:
    jobs = make_jobs()
    async with jobs:
        health = await jobs.health()
        assert health["status"] == "ok"
        assert health["counts"]["queued"] == 0


async def test_health_of_an_unreachable_database_never_raises(tmp_path) -> None:
    from celeris.db import Database, PoolOptions

    db = Database(
        "postgresql://nobody@127.0.0.1:1/none",
        pool=PoolOptions(connect_timeout=0.5),
        root_path=tmp_path,
    )
    jobs = Jobs(db=db, root_path=tmp_path)
    health = await jobs.health(timeout=1.0)
    assert health["status"] == "unavailable"
    await db.disconnect()


async def test_an_unknown_job_is_retried_then_dead_lettered(make_jobs) -> None:
    producer = make_jobs()

    @producer.job(name="only.in.producer", retries=1, backoff=0.01)
    async def elsewhere() -> None: ...

    async with producer:
        handle = await elsewhere.enqueue()
        del producer.registry["only.in.producer"]  # a worker that does not know it
        worker, task = await run_worker(producer)
        with pytest.raises(JobFailed, match="no job named 'only.in.producer'"):
            await handle.result(timeout=20)
        assert (await handle.record()).attempts == 2
        await stop(worker, task)


def test_one_jobs_object_across_event_loops(tmp_path) -> None:
    jobs = Jobs(f"sqlite:///{tmp_path / 'loops.db'}", root_path=tmp_path, poll=0.02)

    @jobs.job()
    async def echo(n: int) -> int:
        return n

    async def once(n: int) -> int:
        async with jobs:
            handle = await echo.enqueue(n)
            worker = jobs.worker()
            task = asyncio.create_task(worker.run())
            result = await handle.result(timeout=10)
            worker.stop()
            await task
            return result

    assert asyncio.run(once(1)) == 1
    assert asyncio.run(once(2)) == 2  # a second loop: locks and batches start afresh


async def test_concurrent_enqueues_and_results_are_batched_and_stay_exact(
    make_jobs, backend_kind: str
) -> None:
    """Enqueues of one loop turn share one multi-row INSERT (unique keys still dedupe inside it);
    results of one turn too, and a batch holding a job its worker lost is written one by one,
    so only that result is dropped."""
    if backend_kind == "memory":
        pytest.skip("the memory backend has no database batches")
    jobs = make_jobs()

    @jobs.job()
    async def echo(n: int) -> int:
        return n

    batches: list[int] = []
    backend = jobs.backend
    for batcher in (backend._pushes, backend._finishes):  # type: ignore[attr-defined]
        many = batcher.many

        async def counted(connection, items, many=many):  # type: ignore[no-untyped-def]
            batches.append(len(items))
            return await many(connection, items)

        batcher.many = counted
    async with jobs:
        handles = await asyncio.gather(
            *(echo.enqueue(n) for n in range(20)),
            echo.enqueue(99, unique_key="k"),
            echo.enqueue(98, unique_key="k"),
        )
        assert handles[20].id == handles[21].id  # deduped inside the batch
        assert len({h.id for h in handles}) == 21
        assert (await jobs.counts())[State.QUEUED] == 21
        assert batches == [22]  # one batch for the enqueues
        claimed = await backend.claim(None, "w1", 50, 30.0)  # type: ignore[attr-defined]
        assert len(claimed) == 21
        lost = claimed[3].id
        await backend.release(lost, "w1")  # as if reaped: w1 no longer holds it
        outcomes = await asyncio.gather(
            *(backend.finish(r.id, "w1", str(i)) for i, r in enumerate(claimed))
        )
        assert outcomes == [r.id != lost for r in claimed]
        assert batches == [22, 21]  # tried as one batch, then one by one
        counts = await jobs.counts()
        assert counts[State.DONE] == 20
        assert counts[State.QUEUED] == 1
        assert (await backend.get(lost)).result is None  # type: ignore[union-attr]
        assert await jobs.handle(claimed[5].id).result(timeout=1) == 5


async def test_an_idle_worker_claims_at_once_while_it_finds_jobs_then_backs_off(
    make_jobs, backend_kind: str
) -> None:
    """Polling adapts: an idle worker's pauses grow to ``poll``; on PostgreSQL a NOTIFY sent
    when the enqueue commits wakes it at once, elsewhere the next poll finds the job. The
    worker has a Jobs of its own, as in another process (no in-process wake-up)."""
    if backend_kind == "memory":
        pytest.skip("the memory backend wakes its in-process workers directly")
    consumer, producer = make_jobs(poll=8.0), make_jobs(poll=8.0)

    async def woken(n: int) -> int:
        return n

    consumer.job(name="woken")(woken)
    enqueue = producer.job(name="woken")(woken).enqueue

    async with consumer, producer:
        worker, task = await run_worker(consumer)
        # idle: its pauses double from 10 ms; the one from 5.1 s to 10.2 s is under way at 6 s
        await asyncio.sleep(6.0 if backend_kind == "postgresql" else 2.0)
        started = time.monotonic()
        handle = await enqueue(1)
        if backend_kind == "postgresql":
            assert await handle.result(timeout=1.5) == 1  # NOTIFY, not the next poll
            assert time.monotonic() - started < 1.5
        else:
            assert await handle.result(timeout=10) == 1  # found by a poll, within ``poll``
        handles = [await enqueue(n) for n in range(200)]
        assert [await h.result(timeout=10) for h in handles] == list(range(200))
        await stop(worker, task)
