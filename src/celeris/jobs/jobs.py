"""``Jobs``: the registry of jobs and schedules, attached to an app, over one backend.

The backend comes from one URL: ``Jobs(url=...)``, else the app's settings ``JOBS_URL``, else
the ``JOBS_URL`` environment variable, else the embedded default: the app's own ``Database``
when it has one (so a job enqueued in a request's session commits with it), or a SQLite file
``jobs.db`` next to the module that created the ``Jobs``.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from celeris.health import register_check
from celeris.jobs.base import Backend, JobRecord, State
from celeris.jobs.cron import Missed, Schedule
from celeris.jobs.errors import JobsConfigError
from celeris.jobs.events import JobEvent, Listener, Metrics
from celeris.jobs.job import Job, JobHandle
from celeris.jobs.outbox import Outbox
from celeris.jobs.worker import Worker
from celeris.settings import battery_database, caller_root

__all__ = ["Jobs"]

log = logging.getLogger("celeris.jobs")

P = ParamSpec("P")
R = TypeVar("R")

_SQL_SCHEMES = ("sqlite", "postgresql", "postgres")
_BROKER_SCHEMES = ("amqp", "redis", "rediss", "nats")


def _metadata() -> Any:
    """Return the tables of the jobs records (loads SQLAlchemy: only when a database is used)."""
    from celeris.jobs.database import METADATA

    return METADATA


class Jobs:
    """Background jobs and cron schedules for an app (or a script, or a test)."""

    def __init__(
        self,
        url: str | None = None,
        *,
        app: Any = None,
        db: Any = None,
        queue: str = "default",
        lease: float = 30.0,
        poll: float = 0.5,
        embedded_worker: bool | None = None,
        concurrency: int = 10,
        root_path: str | Path | None = None,
    ) -> None:
        if lease <= 0 or poll <= 0:
            raise ValueError("Jobs: lease and poll must be positive seconds")
        self.root_path = Path(root_path) if root_path is not None else caller_root()
        self._explicit_url = url
        self._database = db
        self.app = app
        self.queue = queue
        self.lease = lease
        self.poll = poll
        self.embedded_worker = embedded_worker
        self.concurrency = concurrency
        self.registry: dict[str, Job[Any, Any]] = {}
        self.schedules: list[Schedule] = []
        self.metrics = Metrics()
        self.workers: set[Worker] = set()
        self.outbox = Outbox(self)
        self._backend: Backend | None = None
        self._owned_database: Any = None
        self._opened = False
        self._embedded: Worker | None = None
        self._embedded_task: asyncio.Task[None] | None = None
        if app is not None:
            self.install(app)

    # --- configuration ----------------------------------------------------------------------

    @property
    def url(self) -> str | None:
        """Return the configured URL, or None for the embedded default."""
        if self._explicit_url is not None:
            return self._explicit_url
        settings = getattr(self.app, "settings", None)
        from_settings = getattr(settings, "JOBS_URL", None)
        if from_settings:
            return str(from_settings)
        return os.environ.get("JOBS_URL") or None

    @property
    def backend(self) -> Backend:
        """Return the backend, built (not yet connected) on first use."""
        if self._backend is None:
            self._backend = self._build_backend()
        return self._backend

    def _build_backend(self) -> Backend:
        url = self.url
        if url is None:
            return self._sql_backend(self._records_database(None))
        scheme = url.partition("://")[0].partition("+")[0].lower()
        # NOTE: a backend's module (and its drivers) is imported only when its URL is chosen,
        # so `import celeris.jobs` loads no database driver and no broker client.
        if scheme == "memory":
            from celeris.jobs.memory import MemoryBackend

            return MemoryBackend(url)
        if scheme in _SQL_SCHEMES:
            return self._sql_backend(self._records_database(url))
        if scheme in _BROKER_SCHEMES:
            from celeris.jobs.broker import BrokerBackend, make_broker

            make_broker(url, self.queue, consumer=False, prefetch=1)  # a missing extra: E001
            records = self._records_database(None)
            return BrokerBackend(
                records,
                url,
                self.known_queues,
                poll=self.poll,
                own=records is self._owned_database,  # jobs.db: its own SQLite settings
            )
        raise JobsConfigError(
            f"jobs.E001: unknown JOBS_URL scheme {scheme!r}; use memory://, sqlite:///path, "
            "postgresql://..., amqp://, redis:// or nats://"
        )

    def _records_database(self, url: str | None) -> Any:
        """Return the Database that holds the job records: ``url``, the app's, or jobs.db."""
        database, own = battery_database(
            "jobs",
            url,
            app=self.app,
            database=self._database,
            root_path=self.root_path,
            metadata=_metadata,
            error=JobsConfigError,
        )
        if own:
            self._owned_database = database
        return database

    def known_queues(self) -> set[str]:
        """Return every queue a registered job uses, and the default one."""
        return {self.queue, *(job.queue for job in self.registry.values())}

    def _sql_backend(self, database: Any) -> Backend:
        from celeris.jobs.database import DatabaseBackend

        return DatabaseBackend(database, own=database is self._owned_database)

    # --- registration -----------------------------------------------------------------------

    def job(
        self,
        *,
        name: str | None = None,
        retries: int = 3,
        timeout: float | None = None,
        queue: str | None = None,
        priority: int = 0,
        backoff: float = 1.0,
        max_backoff: float = 300.0,
        dont_retry: type[BaseException] | tuple[type[BaseException], ...] = (),
    ) -> Callable[[Callable[P, R]], Job[P, R]]:
        """Register a job: ``@jobs.job(retries=5, timeout=30)`` above an async or sync def.

        An exception of a ``dont_retry`` type (or a ``celeris.jobs.Permanent``) raised by the
        job is not retried: the job goes straight to the dead-letter list with that error.
        """
        never = dont_retry if isinstance(dont_retry, tuple) else (dont_retry,)

        def register(function: Callable[P, R]) -> Job[P, R]:
            job_name = name or f"{function.__module__}.{function.__qualname__}"
            if job_name in self.registry:
                raise JobsConfigError(f"jobs.E004: two jobs are named {job_name!r}; pass name=")
            job: Job[P, R] = Job(
                self,
                function,
                name=job_name,
                queue=queue or self.queue,
                retries=retries,
                timeout=timeout,
                priority=priority,
                backoff=backoff,
                max_backoff=max_backoff,
                dont_retry=never,
            )
            self.registry[job_name] = job
            return job

        return register

    def cron(
        self,
        expression: str,
        *,
        name: str | None = None,
        missed: Missed = "once",
        grace: float = 60.0,
        retries: int = 0,
        timeout: float | None = None,
        queue: str | None = None,
    ) -> Callable[[Callable[[], R]], Job[[], R]]:
        """Register a job run on a cron schedule, once per tick across all workers."""

        def register(function: Callable[[], R]) -> Job[[], R]:
            job = self.job(name=name, retries=retries, timeout=timeout, queue=queue)(function)
            if job.argument_names:
                del self.registry[job.name]
                raise JobsConfigError(
                    f"jobs.E005: cron job {job.name} takes arguments "
                    f"({', '.join(job.argument_names)}); a schedule passes none"
                )
            try:
                self.schedules.append(Schedule(expression, job, missed=missed, grace=grace))
            except Exception:
                del self.registry[job.name]
                raise
            return job

        return register

    def on_event(self, listener: Listener) -> Listener:
        """Call ``listener(event)`` on every job state change this process sees."""
        self.metrics.listeners.append(listener)
        return listener

    # --- enqueue ----------------------------------------------------------------------------

    @staticmethod
    def new_id() -> str:
        """Return a fresh job id."""
        return uuid.uuid4().hex

    def record_for(
        self,
        job: Job[Any, Any],
        raw: str,
        *,
        delay: float | None = None,
        priority: int | None = None,
        queue: str | None = None,
        unique_key: str | None = None,
    ) -> JobRecord:
        """Return the record of one run of ``job`` with encoded arguments ``raw``."""
        now = time.time()
        return JobRecord(
            id=self.new_id(),
            name=job.name,
            queue=queue or job.queue,
            priority=job.priority if priority is None else priority,
            args=raw,
            run_at=now + (delay or 0.0),
            max_attempts=job.retries + 1,
            timeout=job.timeout,
            unique_key=unique_key,
            created_at=now,
        )

    async def push(self, record: JobRecord, *, session: Any = None) -> JobRecord:
        """Store ``record``; in ``session``'s transaction when one is given."""
        await self.open()
        backend = self.backend
        if session is not None:
            same = getattr(backend, "same_database", None)
            if same is not None and same(session):
                # The jobs table lives in the session's database: the row commits or rolls
                # back with the request's own writes.
                stored = await backend.push(record, session=session)
                self.outbox.after_commit(session, stored, deliver=False)
                return stored
            self.outbox.after_commit(session, record, deliver=True)
            return record
        stored = await backend.push(record)
        if stored.id == record.id:
            self.announce(stored)
        return stored

    def announce(self, record: JobRecord) -> None:
        """Count a newly queued job and wake this process's workers."""
        self.metrics.emit(
            JobEvent(kind="queued", id=record.id, name=record.name, queue=record.queue)
        )
        for worker in self.workers:
            worker.wake()

    # --- data API (CLI, admin) --------------------------------------------------------------

    def handle(self, job_id: str) -> JobHandle[Any]:
        """Return a handle on the job ``job_id`` (typed when its job is registered here)."""
        return JobHandle(self, job_id)

    async def get(self, job_id: str) -> JobRecord | None:
        """Return the job ``job_id``, or None."""
        await self.open()
        return await self.backend.get(job_id)

    async def list(
        self,
        *,
        state: State | str | None = None,
        queue: str | None = None,
        name: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[JobRecord]:
        """Return jobs, newest first, filtered by state, queue or job name."""
        await self.open()
        wanted = None if state is None else State(state)
        return await self.backend.list(
            state=wanted, queue=queue, name=name, limit=limit, offset=offset
        )

    async def dead(self, limit: int = 50) -> builtins.list[JobRecord]:
        """Return the dead-letter list: jobs that failed for good, with their last error."""
        return await self.list(state=State.FAILED, limit=limit)

    async def counts(self) -> dict[str, int]:
        """Return the number of jobs in each state."""
        await self.open()
        return await self.backend.counts()

    async def retry(self, job_id: str) -> bool:
        """Queue a failed or cancelled job again; False if it is in neither state."""
        await self.open()
        if await self.backend.retry(job_id):
            record = await self.backend.get(job_id)
            if record is not None:
                self.announce(record)
            return True
        return False

    async def cancel(self, job_id: str) -> bool:
        """Cancel a queued job; False if it already started or finished."""
        await self.open()
        cancelled = await self.backend.cancel(job_id)
        if cancelled:
            record = await self.backend.get(job_id)
            if record is not None:
                self.metrics.emit(
                    JobEvent(kind="cancelled", id=job_id, name=record.name, queue=record.queue)
                )
        return cancelled

    async def purge(
        self,
        states: Sequence[State | str] = (State.DONE,),
        older_than: float | None = None,
    ) -> int:
        """Delete finished jobs in ``states`` finished more than ``older_than`` seconds ago."""
        await self.open()
        before = None if older_than is None else time.time() - older_than
        return await self.backend.purge([State(s) for s in states], before)

    async def health(self, timeout: float = 2.0) -> dict[str, Any]:
        """Return ``{"status": "ok" | "unavailable", "backend", "latency_ms", "counts"}``.

        Never raises and answers within ``timeout`` seconds: for readiness routes.
        """
        started = time.perf_counter()
        try:
            counts = await asyncio.wait_for(self.counts(), timeout)
        except Exception as error:
            reason = "timed out" if isinstance(error, TimeoutError) else type(error).__name__
            return {"status": "unavailable", "backend": self.backend.url, "error": reason}
        latency = round((time.perf_counter() - started) * 1000, 3)
        return {
            "status": "ok",
            "backend": self.backend.url,
            "latency_ms": latency,
            "counts": counts,
        }

    # --- lifecycle --------------------------------------------------------------------------

    def worker(self, **options: Any) -> Worker:
        """Return a worker over this registry: ``await jobs.worker(concurrency=4).run()``."""
        return Worker(self, **options)

    async def open(self) -> None:
        """Connect the backend (and its database); start the embedded worker if asked."""
        if self._opened:
            return
        self._opened = True
        try:
            if self._owned_database is None:
                self.backend  # noqa: B018 -- builds the backend (and the owned database)
            if self._owned_database is not None:
                await self._owned_database.connect()
            await self.backend.open()
        except BaseException:
            self._opened = False
            raise
        embedded = self.embedded_worker
        if embedded is None:
            embedded = self.backend.url.startswith("memory:")
        if embedded:
            self._embedded = Worker(self, concurrency=self.concurrency, grace=5.0)
            self._embedded_task = asyncio.create_task(self._embedded.run())

    async def close(self) -> None:
        """Stop the embedded worker (handing back what it runs) and disconnect."""
        if not self._opened:
            return
        if self._embedded is not None and self._embedded_task is not None:
            self._embedded.stop()
            await self._embedded_task
            self._embedded = self._embedded_task = None
        await self.outbox.flush()
        await self.backend.close()
        if self._owned_database is not None:
            await self._owned_database.disconnect()
        self._opened = False

    def install(self, app: Any) -> None:
        """Attach to ``app``: open at start-up, close at shutdown, ``app.state.jobs``."""
        self.app = app
        app.state.jobs = self
        register_check(app, "jobs", self.health)  # GET /readyz
        app.on_startup(self.open)
        handlers = getattr(getattr(app, "lifespan", None), "shutdown_handlers", None)
        if isinstance(handlers, list):
            # NOTE: shutdown handlers run in registration order, and the Database is usually
            # attached first; workers must stop before the engine they claim through is gone.
            handlers.insert(0, self.close)
        else:
            app.on_shutdown(self.close)

    async def __aenter__(self) -> Jobs:
        await self.open()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"Jobs({self.url or 'embedded default'!r}, jobs={len(self.registry)})"
