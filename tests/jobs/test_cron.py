"""Schedules: one run per tick across workers, the missed-tick policies, bad expressions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from celeris.jobs import CronError, Jobs, JobsConfigError
from celeris.jobs.cron import run_schedules


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_a_bad_expression_names_itself() -> None:
    jobs = Jobs("memory://")
    with pytest.raises(CronError, match=r"jobs.E002: @jobs.cron\('every minute'\) on .*tick"):

        @jobs.cron("every minute")
        async def tick() -> None: ...

    assert jobs.registry == {}


def test_a_cron_job_takes_no_arguments() -> None:
    jobs = Jobs("memory://")
    with pytest.raises(JobsConfigError, match="jobs.E005"):

        @jobs.cron("* * * * *")
        async def tick(n: int) -> None: ...


async def test_one_enqueue_per_tick_however_many_schedulers(make_jobs) -> None:
    jobs = make_jobs()

    @jobs.cron("*/5 * * * *")
    async def cleanup() -> None: ...

    async with jobs:
        backend = jobs.backend
        # the first look only records where the schedule starts: no run for a past tick
        assert await run_schedules(backend, jobs.schedules, ts("2026-01-01T10:02:00")) == 0
        # ten schedulers racing on the next tick: exactly one enqueues it
        now = ts("2026-01-01T10:05:30")
        results = await asyncio.gather(
            *(run_schedules(backend, jobs.schedules, now) for _ in range(10))
        )
        assert sum(results) == 1
        assert await run_schedules(backend, jobs.schedules, ts("2026-01-01T10:09:59")) == 0
        assert await run_schedules(backend, jobs.schedules, ts("2026-01-01T10:10:00")) == 1
        queued = await jobs.list(name=cleanup.name)
        assert len(queued) == 2
        assert {r.unique_key for r in queued} == {
            f"cron:{cleanup.name}:{ts('2026-01-01T10:05:00'):.0f}",
            f"cron:{cleanup.name}:{ts('2026-01-01T10:10:00'):.0f}",
        }


async def test_missed_ticks_run_once_after_downtime(make_jobs) -> None:
    jobs = make_jobs()

    @jobs.cron("* * * * *")
    async def every_minute() -> None: ...

    @jobs.cron("* * * * *", missed="skip", grace=30)
    async def only_on_time() -> None: ...

    async with jobs:
        backend = jobs.backend
        await run_schedules(backend, jobs.schedules, ts("2026-01-01T10:00:10"))
        # down for an hour: "once" runs one catch-up; "skip" drops the stale tick
        assert await run_schedules(backend, jobs.schedules, ts("2026-01-01T11:00:45")) == 1
        assert len(await jobs.list(name=every_minute.name)) == 1
        assert await jobs.list(name=only_on_time.name) == []
        # back on time, both run
        assert await run_schedules(backend, jobs.schedules, ts("2026-01-01T11:01:05")) == 2


async def test_the_worker_runs_schedules(make_jobs) -> None:
    jobs = make_jobs()
    ran = asyncio.Event()

    @jobs.cron("* * * * * *")  # six fields: every second
    async def heartbeat() -> None:
        ran.set()

    async with jobs:
        worker = jobs.worker()
        task = asyncio.create_task(worker.run())
        await asyncio.wait_for(ran.wait(), 10)
        worker.stop()
        await task
