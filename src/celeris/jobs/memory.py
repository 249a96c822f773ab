"""``memory://``: job records in a dict, for tests and single-process apps (not durable)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import msgspec

from celeris.jobs.base import FINISHED, JobRecord, State

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Jobs in this process only; lost when it exits."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self.jobs: dict[str, JobRecord] = {}
        self._unique: dict[str, str] = {}  # unique_key -> id of the live job
        self._ticks: dict[str, float] = {}

    async def open(self) -> None:
        """Nothing to connect."""

    async def close(self) -> None:
        """Nothing to release."""

    def _copy(self, record: JobRecord) -> JobRecord:
        # NOTE: callers get copies, as from a database: mutating one changes nothing stored.
        return msgspec.structs.replace(record)

    def _end(self, record: JobRecord, state: State) -> None:
        record.state = state
        record.worker = record.lease_until = None
        record.finished_at = time.time()
        if record.unique_key is not None:
            self._unique.pop(record.unique_key, None)

    async def push(self, record: JobRecord, session: Any = None) -> JobRecord:
        """Store ``record`` unless a live job has its unique key."""
        key = record.unique_key
        if key is not None and key in self._unique:
            return self._copy(self.jobs[self._unique[key]])
        self.jobs[record.id] = self._copy(record)
        if key is not None:
            self._unique[key] = record.id
        return record

    async def claim(
        self, queues: Sequence[str] | None, worker: str, limit: int, lease: float
    ) -> list[JobRecord]:
        """Lease the most urgent due jobs."""
        now = time.time()
        due = [
            r
            for r in self.jobs.values()
            if r.state is State.QUEUED and r.run_at <= now and (queues is None or r.queue in queues)
        ]
        due.sort(key=lambda r: (-r.priority, r.run_at))
        claimed = []
        for record in due[:limit]:
            record.state = State.RUNNING
            record.worker = worker
            record.lease_until = now + lease
            record.attempts += 1
            record.started_at = now
            claimed.append(self._copy(record))
        return claimed

    def _held(self, job_id: str, worker: str) -> JobRecord | None:
        record = self.jobs.get(job_id)
        if record is None or record.state is not State.RUNNING or record.worker != worker:
            return None
        return record

    async def extend(self, ids: Sequence[str], worker: str, lease: float) -> None:
        """Extend the leases ``worker`` still holds."""
        until = time.time() + lease
        for job_id in ids:
            record = self._held(job_id, worker)
            if record is not None:
                record.lease_until = until

    async def finish(self, job_id: str, worker: str, result: str) -> bool:
        """Record the result if ``worker`` still holds the job."""
        record = self._held(job_id, worker)
        if record is None:
            return False
        record.result = result
        self._end(record, State.DONE)
        return True

    async def fail(self, job_id: str, worker: str, error: str, retry_at: float | None) -> bool:
        """Queue again at ``retry_at`` or dead-letter."""
        record = self._held(job_id, worker)
        if record is None:
            return False
        record.error = error
        if retry_at is None:
            self._end(record, State.FAILED)
        else:
            record.state = State.QUEUED
            record.worker = record.lease_until = None
            record.run_at = retry_at
        return True

    async def release(self, job_id: str, worker: str) -> None:
        """Hand the job back, its attempt not counted."""
        record = self._held(job_id, worker)
        if record is not None:
            record.state = State.QUEUED
            record.worker = record.lease_until = None
            record.attempts -= 1

    async def reap(self) -> int:
        """Requeue running jobs whose lease expired."""
        now = time.time()
        count = 0
        for record in self.jobs.values():
            if record.state is State.RUNNING and (record.lease_until or 0) < now:
                count += 1
                record.error = f"worker {record.worker} stopped before finishing"
                if record.attempts >= record.max_attempts:
                    self._end(record, State.FAILED)
                else:
                    record.state = State.QUEUED
                    record.worker = record.lease_until = None
        return count

    async def get(self, job_id: str) -> JobRecord | None:
        """Return a copy of the job."""
        record = self.jobs.get(job_id)
        return None if record is None else self._copy(record)

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
        rows = [
            r
            for r in self.jobs.values()
            if (state is None or r.state == state)
            and (queue is None or r.queue == queue)
            and (name is None or r.name == name)
        ]
        rows.sort(key=lambda r: r.created_at, reverse=True)
        return [self._copy(r) for r in rows[offset : offset + limit]]

    async def counts(self) -> dict[str, int]:
        """Count jobs by state."""
        out = {state.value: 0 for state in State}
        for record in self.jobs.values():
            out[record.state.value] += 1
        return out

    async def retry(self, job_id: str) -> bool:
        """Queue a failed or cancelled job again."""
        record = self.jobs.get(job_id)
        if record is None or record.state not in (State.FAILED, State.CANCELLED):
            return False
        if record.unique_key is not None:
            if record.unique_key in self._unique:
                return False
            self._unique[record.unique_key] = record.id
        record.state = State.QUEUED
        record.attempts = 0
        record.run_at = time.time()
        record.finished_at = None
        return True

    async def cancel(self, job_id: str) -> bool:
        """Cancel a queued job."""
        record = self.jobs.get(job_id)
        if record is None or record.state is not State.QUEUED:
            return False
        self._end(record, State.CANCELLED)
        return True

    async def purge(self, states: Sequence[State], before: float | None) -> int:
        """Delete finished jobs."""
        doomed = [
            r.id
            for r in self.jobs.values()
            if r.state in states
            and r.state in FINISHED
            and (before is None or (r.finished_at or 0) < before)
        ]
        for job_id in doomed:
            del self.jobs[job_id]
        return len(doomed)

    async def last_tick(self, schedule: str) -> float | None:
        """Return the schedule's last tick."""
        return self._ticks.get(schedule)

    async def tick(self, schedule: str, tick: float, record: JobRecord | None) -> bool:
        """Advance the schedule and enqueue, once."""
        last = self._ticks.get(schedule)
        if last is not None and last >= tick:
            return False
        self._ticks[schedule] = tick
        if record is not None:
            await self.push(record)
        return True
