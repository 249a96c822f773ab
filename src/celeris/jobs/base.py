"""The storage contract every jobs backend implements, and the record it stores.

A backend keeps job records and hands them out under a lease: ``claim`` marks queued jobs as
running for one worker until ``lease_until``; the worker extends the lease while the job runs
(``extend``), and ``reap`` puts the jobs of a worker that stopped extending back in the queue.
Times are seconds since the epoch (``time.time()``).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, Protocol

import msgspec

__all__ = ["Backend", "JobRecord", "State"]


class State(StrEnum):
    """Where a job is in its life."""

    QUEUED = "queued"  # waiting for its run_at (a retry or a delayed job) or for a worker
    RUNNING = "running"  # leased to a worker
    DONE = "done"
    FAILED = "failed"  # retries exhausted: the dead-letter list
    CANCELLED = "cancelled"


FINISHED = frozenset({State.DONE, State.FAILED, State.CANCELLED})


class JobRecord(msgspec.Struct, kw_only=True):
    """One job as stored: what to run, when, and how it went."""

    id: str
    name: str
    queue: str = "default"
    state: State = State.QUEUED
    priority: int = 0  # higher runs first
    args: str = "{}"  # the keyword arguments, as JSON
    run_at: float
    attempts: int = 0  # claims so far, the current one included
    max_attempts: int = 1
    timeout: float | None = None
    unique_key: str | None = None  # unique among queued and running jobs
    worker: str | None = None
    lease_until: float | None = None
    result: str | None = None  # JSON
    error: str | None = None  # the last error
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    sent_at: float | None = None  # broker backends: when it was last handed to the broker


class Backend(Protocol):
    """Durable (or in-process) storage of job records, with leases."""

    url: str

    async def open(self) -> None:
        """Connect and create the tables if needed."""

    async def close(self) -> None:
        """Release connections."""

    async def push(self, record: JobRecord, session: Any = None) -> JobRecord:
        """Store ``record``; return the live job with the same ``unique_key`` instead, if any.

        ``session`` (an ``AsyncSession``) stores it in that transaction when the backend can.
        """

    async def claim(
        self, queues: Sequence[str] | None, worker: str, limit: int, lease: float
    ) -> list[JobRecord]:
        """Lease up to ``limit`` due jobs (highest priority, then oldest run_at) to ``worker``."""

    async def extend(self, ids: Sequence[str], worker: str, lease: float) -> None:
        """Push the lease of ``worker``'s running jobs ``lease`` seconds into the future."""

    async def finish(self, job_id: str, worker: str, result: str) -> bool:
        """Mark done; False when ``worker`` no longer holds the job (it was reaped)."""

    async def fail(self, job_id: str, worker: str, error: str, retry_at: float | None) -> bool:
        """Queue again at ``retry_at``, or move to the dead-letter list when it is None."""

    async def release(self, job_id: str, worker: str) -> None:
        """Hand a running job back unfinished (graceful stop): queued, the attempt not counted."""

    async def reap(self) -> int:
        """Requeue (or dead-letter, when out of attempts) running jobs whose lease expired."""

    async def get(self, job_id: str) -> JobRecord | None:
        """Return the job ``job_id`` or None."""

    async def list(
        self,
        *,
        state: State | None = None,
        queue: str | None = None,
        name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[JobRecord]:
        """Return jobs, newest first."""

    async def counts(self) -> dict[str, int]:
        """Return the number of jobs in each state."""

    async def retry(self, job_id: str) -> bool:
        """Queue a failed or cancelled job again now, with fresh attempts."""

    async def cancel(self, job_id: str) -> bool:
        """Cancel a queued job (a running one finishes, its result is still recorded)."""

    async def purge(self, states: Sequence[State], before: float | None) -> int:
        """Delete jobs in ``states`` that finished before ``before`` (all of them when None)."""

    async def last_tick(self, schedule: str) -> float | None:
        """Return the last tick of ``schedule`` that was enqueued, or None."""

    async def tick(self, schedule: str, tick: float, record: JobRecord | None) -> bool:
        """Advance ``schedule`` to ``tick`` if no one did; enqueue ``record`` in the same step.

        Returns True for the one caller in the cluster that advanced it.
        """
