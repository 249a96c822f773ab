"""Schedules: ``@jobs.cron("*/5 * * * *")`` runs a job once per tick across the cluster.

Every worker runs the scheduler; a tick is claimed by compare-and-set on the schedule's row
(``last_tick``), in the same transaction that enqueues its job, so exactly one worker enqueues
it however many run. Expressions are read in UTC (croniter).

Missed ticks (no worker was running): ``missed="once"`` (default) runs the schedule once for all
of them as soon as a worker is back, then on time; ``missed="skip"`` drops ticks older than
``grace`` seconds and waits for the next one.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from croniter import croniter

from celeris.jobs.errors import CronError

if TYPE_CHECKING:
    from celeris.jobs.base import Backend
    from celeris.jobs.job import Job

__all__ = ["Missed", "Schedule", "run_schedules"]

Missed = Literal["once", "skip"]


class Schedule:
    """One cron expression bound to one job."""

    __slots__ = ("expression", "grace", "job", "missed", "name")

    def __init__(
        self, expression: str, job: Job[Any, Any], *, missed: Missed, grace: float
    ) -> None:
        if not isinstance(expression, str) or not croniter.is_valid(expression):
            raise CronError(
                f"jobs.E002: @jobs.cron({expression!r}) on {job.name}: not a cron expression; "
                "use five fields, e.g. '*/5 * * * *' (minute hour day month weekday)"
            )
        if missed not in ("once", "skip"):
            raise CronError(f"jobs.E003: {job.name}: missed must be 'once' or 'skip'")
        self.expression = expression
        self.job = job
        self.name = job.name
        self.missed = missed
        self.grace = grace

    def latest(self, now: float) -> float:
        """Return the last tick at or before ``now``."""
        # NOTE: get_prev is strictly before its start; half a second later counts ``now`` itself
        # when it is a tick (cron's finest resolution is one second).
        start = datetime.fromtimestamp(now + 0.5, UTC)
        return float(croniter(self.expression, start).get_prev(float))

    def next_after(self, moment: float) -> float:
        """Return the first tick after ``moment``."""
        return float(croniter(self.expression, datetime.fromtimestamp(moment, UTC)).get_next(float))


async def run_schedules(
    backend: Backend, schedules: list[Schedule], now: float | None = None
) -> int:
    """Enqueue every schedule whose tick is due and not yet taken; return how many this did."""
    now = time.time() if now is None else now
    enqueued = 0
    for schedule in schedules:
        due = schedule.latest(now)
        last = await backend.last_tick(schedule.name)
        if last is None:
            # A new schedule starts with the next tick, not with one from the past.
            await backend.tick(schedule.name, due, None)
            continue
        if due <= last:
            continue
        if schedule.missed == "skip" and now - due > schedule.grace:
            await backend.tick(schedule.name, due, None)
            continue
        record = schedule.job.jobs.record_for(
            schedule.job, "{}", unique_key=f"cron:{schedule.name}:{due:.0f}"
        )
        if await backend.tick(schedule.name, due, record):
            schedule.job.jobs.announce(record)
            enqueued += 1
    return enqueued
