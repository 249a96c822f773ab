"""The worker: claims due jobs, runs them with their timeout, retries, and keeps leases alive.

One asyncio loop runs up to ``concurrency`` jobs at a time, plus three background loops: the
heartbeat (extends the leases of running jobs every third of the lease), the reaper (requeues
the jobs of workers that died) and the scheduler (enqueues due cron ticks). ``stop()`` stops
claiming, waits up to ``grace`` seconds for running jobs, then cancels the rest and hands them
back to the queue unfinished.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from celeris import telemetry
from celeris.core.validation import encode_json
from celeris.jobs.base import JobRecord
from celeris.jobs.cron import run_schedules
from celeris.jobs.errors import Permanent
from celeris.jobs.events import JobEvent

if TYPE_CHECKING:
    from celeris.jobs.jobs import Jobs

__all__ = ["Worker", "backoff_delay"]

log = logging.getLogger("celeris.jobs")

_TRACEBACK_CHARS = 4000
_FIRST_IDLE_POLL = 0.01  # seconds: the first pause after an empty claim, doubling up to poll


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Return the pause before retry number ``attempt`` (1, 2, ...): exponential, jittered.

    Half of ``base * 2.0 ** (attempt - 1)`` (capped) is fixed and half random, so a burst of
    failures spreads out instead of coming back all at once.
    """
    delay = min(cap, base * 2.0 ** (attempt - 1))
    return delay / 2 + random.uniform(0, delay / 2)


class Worker:
    """Run jobs from ``jobs``' backend in this process."""

    def __init__(
        self,
        jobs: Jobs,
        *,
        concurrency: int = 10,
        queues: list[str] | None = None,
        grace: float = 30.0,
        name: str | None = None,
        schedules: bool = True,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self.jobs = jobs
        self.concurrency = concurrency
        self.queues = queues or None
        self.grace = grace
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.schedules = schedules
        self.running: dict[str, asyncio.Task[None]] = {}
        self._recording = 0  # of the running: jobs that returned, their outcome being recorded
        self.done = self.failed = self.retried = 0
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._background: list[asyncio.Task[None]] = []

    # --- control ----------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for jobs now (a job was enqueued in this process)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop claiming jobs; ``run`` returns once the running ones finished or were handed back."""
        self._stopping.set()
        self._wake.set()

    @property
    def stopping(self) -> bool:
        """Tell whether ``stop`` was called."""
        return self._stopping.is_set()

    async def run(self) -> None:
        """Claim and run jobs until ``stop()``."""
        self.jobs.workers.add(self)
        lease = self.jobs.lease
        self._background = [
            asyncio.create_task(self._every(lease / 3, self._heartbeat)),
            asyncio.create_task(self._every(lease / 2, self._reap, jitter=True)),
        ]
        if self.schedules and self.jobs.schedules:
            self._background.append(asyncio.create_task(self._every(1.0, self._schedule)))
        backend = self.jobs.backend
        subscribe = getattr(backend, "subscribe", None)
        if subscribe is not None:
            try:
                await subscribe(self._wake.set)  # PostgreSQL: NOTIFY wakes an idle worker
            except Exception as error:
                log.warning("worker %s: cannot LISTEN for new jobs (%s); polling", self.name, error)
        try:
            await self._claim_loop()
        finally:
            if subscribe is not None:
                getattr(backend, "unsubscribe", lambda _: None)(self._wake.set)
            self.jobs.workers.discard(self)
            await self._drain()
            for task in self._background:
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)

    async def _drain(self) -> None:
        """Wait ``grace`` seconds for running jobs, then hand the rest back."""
        if self.running:
            _, pending = await asyncio.wait(list(self.running.values()), timeout=self.grace)
            for task in pending:
                task.cancel("worker stopping: handed back")
            if pending:
                log.warning("worker %s: handing back %d unfinished jobs", self.name, len(pending))
                await asyncio.gather(*pending, return_exceptions=True)

    # --- loops ------------------------------------------------------------------------------

    async def _every(self, period: float, step: Any, *, jitter: bool = False) -> None:
        while True:
            pause = period * random.uniform(0.5, 1.0) if jitter else period
            await asyncio.sleep(pause)
            try:
                await step()
            except Exception as error:
                log.warning("worker %s: %s failed: %s", self.name, step.__name__, error)

    async def _heartbeat(self) -> None:
        if self.running:
            await self.jobs.backend.extend(list(self.running), self.name, self.jobs.lease)

    async def _reap(self) -> None:
        count = await self.jobs.backend.reap()
        if count:
            log.warning("worker %s: requeued %d jobs of workers that stopped", self.name, count)

    async def _schedule(self) -> None:
        await run_schedules(self.jobs.backend, self.jobs.schedules)

    async def _claim_loop(self) -> None:
        backend = self.jobs.backend
        blocking = getattr(backend, "blocking_claim", False)  # it waits for messages itself
        failures = 0
        idle = _FIRST_IDLE_POLL
        while not self._stopping.is_set():
            # PERF: a job whose function returned frees its slot while its outcome is being
            # recorded (at most ``concurrency`` of them), so the next claim overlaps that write.
            free = self.concurrency - len(self.running) + min(self._recording, self.concurrency)
            if free <= 0:
                await self._pause(None)
                continue
            try:
                records = await backend.claim(self.queues, self.name, free, self.jobs.lease)
            except Exception as error:
                failures += 1
                pause = min(5.0, 0.1 * 2**failures)
                log.warning(
                    "worker %s: cannot claim jobs (%s); again in %.1fs", self.name, error, pause
                )
                await self._pause(pause)
                continue
            failures = 0
            for record in records:
                task = asyncio.create_task(self._execute(record))
                self.running[record.id] = task
            if blocking or len(records) == free:
                continue
            if records:
                # PERF: adaptive polling: while claims find jobs, claim again at once (a job
                # finishing wakes it too); an empty claim backs off from 10 ms up to ``poll``.
                idle = _FIRST_IDLE_POLL
                await asyncio.sleep(0)
                continue
            await self._pause(min(idle, self.jobs.poll))
            idle = min(idle * 2, self.jobs.poll)

    async def _pause(self, timeout: float | None) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            pass
        self._wake.clear()

    # --- one job ----------------------------------------------------------------------------

    async def _execute(self, record: JobRecord) -> None:
        try:
            await self._attempt(record)
        finally:
            self.running.pop(record.id, None)
            self._wake.set()

    def _event(self, kind: str, record: JobRecord, **extra: Any) -> None:
        self.jobs.metrics.emit(
            JobEvent(
                kind=kind,
                id=record.id,
                name=record.name,
                queue=record.queue,
                attempt=record.attempts,
                **extra,
            )
        )

    async def _attempt(self, record: JobRecord) -> None:
        backend = self.jobs.backend
        started = time.time()
        self._event("started", record, latency=max(0.0, started - record.run_at))
        job = self.jobs.registry.get(record.name)
        retryable = True
        deadline: asyncio.Timeout | None = None
        try:
            if job is None:
                # NOTE: retried (with the default backoff): during a rolling deploy another
                # worker may already know the job.
                raise LookupError(f"no job named {record.name!r} is registered in this worker")
            try:
                kwargs = job.decode_arguments(record.args)
            except msgspec.ValidationError as error:
                retryable = False  # stored arguments that no longer fit the signature
                raise TypeError(f"{record.name}: stored arguments do not fit: {error}") from None
            async with asyncio.timeout(record.timeout) as deadline:
                running = job.invoke(kwargs)
                if telemetry.tracer is not None:  # a CONSUMER span, child of the enqueue
                    running = telemetry.run_job(record, running)
                result = await running
            try:
                raw = encode_json(result).decode()
            except (TypeError, NotImplementedError, msgspec.EncodeError) as error:
                retryable = False
                raise TypeError(
                    f"{record.name} returned {type(result).__name__}, which is not JSON "
                    f"serialisable: {error}"
                ) from None
        except asyncio.CancelledError:
            # NOTE: cancelled by the worker's stop past grace (or its loop closing): the job
            # did not finish, so it goes back to the queue for another worker.
            self.jobs.metrics.running -= 1
            try:
                await asyncio.shield(backend.release(record.id, self.name))
            except Exception as error:  # the lease expires and the reaper takes it back
                log.warning("job %s could not be handed back (%s)", record.id, error)
            raise
        except Exception as error:
            duration = time.time() - started
            if isinstance(error, Permanent) or (
                job is not None and job.dont_retry and isinstance(error, job.dont_retry)
            ):
                retryable = False  # the job said so: straight to the dead letters
            if isinstance(error, TimeoutError) and deadline is not None and deadline.expired():
                message = f"TimeoutError: {record.name} ran past its timeout of {record.timeout}s"
            else:
                message = "".join(traceback.format_exception(error))[-_TRACEBACK_CHARS:]
            await self._failed(record, message, duration, retryable)
            return
        duration = time.time() - started
        if await self._settle(lambda: backend.finish(record.id, self.name, raw)):
            self.done += 1
            self._event("done", record, duration=duration)
        else:
            self.jobs.metrics.running -= 1
            log.warning("job %s finished after its lease was lost; result dropped", record.id)

    async def _failed(
        self, record: JobRecord, error: str, duration: float, retryable: bool
    ) -> None:
        job = self.jobs.registry.get(record.name)
        base, cap = (job.backoff, job.max_backoff) if job is not None else (1.0, 300.0)
        retry_at = None
        if retryable and record.attempts < record.max_attempts:
            retry_at = time.time() + backoff_delay(record.attempts, base, cap)
        if not await self._settle(
            lambda: self.jobs.backend.fail(record.id, self.name, error, retry_at)
        ):
            self.jobs.metrics.running -= 1
            return
        if retry_at is None:
            self.failed += 1
            log.error("job %s (%s) failed for good: %s", record.id, record.name, error.strip())
            self._event("failed", record, duration=duration, error=error)
        else:
            self.retried += 1
            self._event("retried", record, duration=duration, error=error)

    async def _settle(self, operation: Callable[[], Awaitable[bool]]) -> bool:
        """Record an outcome, retrying while the database is away (within about the lease)."""
        self._recording += 1
        self._wake.set()
        try:
            for pause in (0.1, 0.5, 1.0, 2.0, 4.0, 8.0, 0.0):
                try:
                    return await operation()
                except Exception as error:
                    log.warning("worker %s: cannot record a result (%s)", self.name, error)
                    await asyncio.sleep(pause)
            return False
        finally:
            self._recording -= 1

    def status(self) -> str:
        """Return the one-line status the CLI prints."""
        return (
            f"worker {self.name}: running {len(self.running)}/{self.concurrency}, "
            f"done {self.done}, retried {self.retried}, failed {self.failed}"
        )
