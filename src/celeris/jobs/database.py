"""The durable backend on ``celeris.db``: SQLite on one machine, PostgreSQL for many.

One table holds every job. Workers claim due jobs with one ``UPDATE ... RETURNING`` (on
PostgreSQL its inner ``SELECT`` takes ``FOR UPDATE SKIP LOCKED``, so workers never wait on each
other's rows); a claimed job carries a lease that its worker extends while the job runs, and any
worker's reaper puts jobs with an expired lease back in the queue.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    case,
    delete,
    event,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from celeris.db import Database, create_tables
from celeris.jobs.base import FINISHED, JobRecord, State

__all__ = ["METADATA", "DatabaseBackend", "crons_table", "jobs_table"]

METADATA = MetaData()

jobs_table = Table(
    "celeris_jobs",
    METADATA,
    Column("id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("queue", String(100), nullable=False),
    Column("state", String(16), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("args", Text, nullable=False),
    Column("run_at", Float, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("timeout", Float),
    Column("unique_key", String(200)),
    Column("worker", String(100)),
    Column("lease_until", Float),
    Column("result", Text),
    Column("error", Text),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("sent_at", Float),
)
_c = jobs_table.c
_LIVE = _c.state.in_([State.QUEUED.value, State.RUNNING.value])
# PERF: the claim query reads this index in order: queued jobs of a queue by urgency.
Index("ix_celeris_jobs_claim", _c.state, _c.queue, _c.priority, _c.run_at)
Index("ix_celeris_jobs_created", _c.created_at)
# NOTE: a unique key is unique among live jobs only: a finished job frees it.
Index(
    "ux_celeris_jobs_unique_key",
    _c.unique_key,
    unique=True,
    sqlite_where=_LIVE,
    postgresql_where=_LIVE,
)

crons_table = Table(
    "celeris_job_crons",
    METADATA,
    Column("name", String(200), primary_key=True),
    Column("last_tick", Float, nullable=False),
)

_FIELDS = tuple(JobRecord.__struct_fields__)


def _record(row: Row[Any]) -> JobRecord:
    values = dict(row._mapping)
    values["state"] = State(values["state"])
    return JobRecord(**{name: values[name] for name in _FIELDS})


def _values(record: JobRecord) -> dict[str, Any]:
    values = {name: getattr(record, name) for name in _FIELDS}
    values["state"] = record.state.value
    return values


class _Batcher:
    """Run the operations submitted in one loop iteration in one transaction.

    PERF: on SQLite every commit takes the file's write lock (and every aiosqlite call is a hop
    to its thread), so enqueues from concurrent requests and results of jobs finishing together
    cost one transaction, not one each, and, with ``many``, one statement for many rows (one
    hop to the driver's thread) instead of one statement per row. If the batch fails, each operation is retried alone, so one bad operation fails only
    its own caller.
    """

    def __init__(
        self,
        begin: Callable[[], AbstractAsyncContextManager[AsyncConnection]],
        operation: Callable[[AsyncConnection, Any], Awaitable[Any]],
        many: Callable[[AsyncConnection, list[Any]], Awaitable[list[Any]]] | None = None,
    ) -> None:
        self.begin = begin
        self.operation = operation
        self.many = many  # the whole batch in a few statements, when it can
        self._pending: list[tuple[Any, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def submit(self, item: Any) -> Any:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # NOTE: a Jobs used by one asyncio.run, then by another
            self._loop, self._pending, self._task = loop, [], None
        future: asyncio.Future[Any] = loop.create_future()
        self._pending.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the rest of this loop iteration join the batch
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self.begin() as connection:
                    if self.many is not None and len(batch) > 1:
                        results = await self.many(connection, [item for item, _ in batch])
                    else:
                        results = [await self.operation(connection, item) for item, _ in batch]
            except Exception as error:
                if len(batch) == 1:
                    if not batch[0][1].done():
                        batch[0][1].set_exception(error)
                else:
                    await self._one_by_one(batch)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _one_by_one(self, batch: list[tuple[Any, asyncio.Future[Any]]]) -> None:
        for item, future in batch:
            try:
                async with self.begin() as connection:
                    result = await self.operation(connection, item)
            except Exception as error:
                if not future.done():
                    future.set_exception(error)
            else:
                if not future.done():
                    future.set_result(result)


# PERF: a batch is written as one statement per this many rows, not one per row: each
# statement is one hop to the driver's thread and, on SQLite, one release of the GIL (a busy
# event loop holds it for up to the switch interval, 5 ms, at every hand-back).
_ROWS_PER_STATEMENT = 512


class _NotAllHeld(Exception):
    """A batch of results in which some job was no longer held: recorded one by one instead."""


def _sqlite_normal_sync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


_FINISH_ONE = (
    update(jobs_table)
    .where(
        _c.id == bindparam("b_id"),
        _c.worker == bindparam("b_worker"),
        _c.state == State.RUNNING.value,
    )
    .values(
        state=State.DONE.value,
        result=bindparam("b_result"),
        worker=None,
        lease_until=None,
        finished_at=bindparam("b_now"),
    )
)
_CHANNEL = "celeris_jobs"  # PostgreSQL: NOTIFY'd in the transaction that stores due jobs


class DatabaseBackend:
    """Jobs in a ``celeris.db`` database (the app's own, or one of their own)."""

    blocking_claim = False  # the worker polls claim(); on PostgreSQL, LISTEN/NOTIFY wakes it

    def __init__(self, database: Database, *, own: bool = False) -> None:
        self.database = database
        self.own = own  # a database of its own (jobs.db, JOBS_URL), not the app's
        self.url = database.url.render_as_string(hide_password=True)
        self._write_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._pushes = _Batcher(self.begin, self._push_one, self._push_many)
        self._subscribers: set[Callable[[], object]] = set()
        self._listener: Any = None  # PostgreSQL: the asyncpg connection that LISTENs
        self._finishes = _Batcher(self.begin, self._finish_one, self._finish_many)

    @property
    def dialect(self) -> str:
        """Return ``sqlite`` or ``postgresql``."""
        return self.database.dialect

    def _insert(self) -> Any:
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(jobs_table)

    async def open(self) -> None:
        """Create the jobs tables if they are missing."""
        engine = self.database.engine
        if self.dialect == "sqlite" and self.own:
            # PERF: in WAL mode, synchronous=NORMAL syncs at checkpoints instead of at every
            # commit: a crashed process loses nothing, a power cut may lose the last commits.
            # Only on a jobs database of its own: the app's database keeps its own settings.
            event.listen(engine.sync_engine, "connect", _sqlite_normal_sync)
        async with engine.begin() as connection:
            if self.dialect == "sqlite":
                # NOTE: write-ahead logging lets readers (the admin, result polling) run beside
                # the one writer, and commits cost one fsync less.
                await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
            await create_tables(
                connection, METADATA
            )  # workers starting together queue on PostgreSQL

    async def close(self) -> None:
        """Stop listening; the database itself is closed by whoever opened it."""
        listener, self._listener = self._listener, None
        self._subscribers.clear()
        if listener is not None:
            with contextlib.suppress(Exception):
                await listener.close()

    async def _notify(self, connection: AsyncConnection | AsyncSession, due: bool) -> None:
        """On PostgreSQL, tell LISTENing workers at commit that due jobs were stored."""
        if due and self.dialect == "postgresql" and not self.blocking_claim:
            # NOTE: delivered when the transaction commits, never on a rollback, and once
            # per transaction however many jobs it stored.
            await connection.execute(text(f"SELECT pg_notify('{_CHANNEL}', '')"))

    async def subscribe(self, callback: Callable[[], object]) -> None:
        """Call ``callback`` whenever due jobs were stored (PostgreSQL; elsewhere: never).

        PERF: an idle worker then claims at once instead of at its next poll; polling stays
        (backing off up to ``poll``) for delayed jobs, retries and a lost connection.
        """
        if self.dialect != "postgresql" or self.blocking_claim:
            return
        self._subscribers.add(callback)
        listener = self._listener
        if listener is not None and not listener.is_closed():
            return
        import asyncpg  # type: ignore[import-untyped]  # the driver celeris.db runs on

        url = self.database.url
        self._listener = await asyncpg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            password=url.password,
            database=url.database,
            timeout=5,
        )
        await self._listener.add_listener(_CHANNEL, self._notified)

    def unsubscribe(self, callback: Callable[[], object]) -> None:
        """Stop calling ``callback``."""
        self._subscribers.discard(callback)

    def _notified(self, *_: object) -> None:
        for callback in list(self._subscribers):
            callback()

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """Open a write transaction; on SQLite, one at a time in this process.

        PERF: SQLite has one writer per file. Connections of one process that contend for it
        wait in SQLite's busy handler, which sleeps in steps of milliseconds; queueing them
        here instead hands the lock over at once.
        """
        if self.dialect != "sqlite":
            async with self.database.engine.begin() as connection:
                yield connection
            return
        lock = self._write_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock, self.database.engine.begin() as connection:
            yield connection

    def same_database(self, session: AsyncSession) -> bool:
        """Tell whether ``session`` writes to the database the jobs live in."""
        bind = session.bind
        return bind is not None and str(bind.engine.url) == str(self.database.engine.url)

    async def _push(self, connection: AsyncConnection | AsyncSession, record: JobRecord) -> bool:
        statement = self._insert().values(_values(record)).on_conflict_do_nothing()
        result = await connection.execute(statement)
        stored = bool(result.rowcount)  # type: ignore[attr-defined]
        await self._notify(connection, stored and record.run_at <= time.time())
        return stored

    async def _live(
        self, connection: AsyncConnection | AsyncSession, unique_key: str
    ) -> JobRecord | None:
        query = select(jobs_table).where(_c.unique_key == unique_key, _LIVE)
        row = (await connection.execute(query)).first()
        return None if row is None else _record(row)

    async def push(self, record: JobRecord, session: Any = None) -> JobRecord:
        """Insert ``record``, in ``session``'s transaction when given; dedupe by unique key."""
        if session is not None:
            if await self._push(session, record) or record.unique_key is None:
                return record
            return await self._live(session, record.unique_key) or record
        stored: JobRecord = await self._pushes.submit(record)
        return stored

    async def _push_one(self, connection: AsyncConnection, record: JobRecord) -> JobRecord:
        if await self._push(connection, record) or record.unique_key is None:
            return record
        return await self._live(connection, record.unique_key) or record

    async def _push_many(
        self, connection: AsyncConnection, records: builtins.list[JobRecord]
    ) -> builtins.list[JobRecord]:
        """Insert a batch: the records without a unique key in multi-row INSERTs."""
        plain = [_values(record) for record in records if record.unique_key is None]
        if plain:
            # PERF: with RETURNING, SQLAlchemy sends an executemany as multi-row INSERTs
            # ("insertmanyvalues") from one cached compiled statement.
            statement = self._insert().on_conflict_do_nothing().returning(_c.id)
            (await connection.execute(statement, plain)).all()
            now = time.time()
            await self._notify(connection, any(values["run_at"] <= now for values in plain))
        return [
            record if record.unique_key is None else await self._push_one(connection, record)
            for record in records
        ]

    async def claim(
        self, queues: Sequence[str] | None, worker: str, limit: int, lease: float
    ) -> list[JobRecord]:
        """Lease the most urgent due jobs to ``worker`` in one statement."""
        now = time.time()
        due = select(_c.id).where(_c.state == State.QUEUED.value, _c.run_at <= now)
        if queues is not None:
            due = due.where(_c.queue.in_(list(queues)))
        due = due.order_by(_c.priority.desc(), _c.run_at).limit(limit)
        claimed = {
            "state": State.RUNNING.value,
            "worker": worker,
            "lease_until": now + lease,
            "attempts": _c.attempts + 1,
            "started_at": now,
        }
        if self.dialect == "postgresql":
            # NOTE: not ``id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)``: PostgreSQL may
            # rescan that subquery once per outer row, each rescan skipping the rows the last
            # one locked, and so lease far more than ``limit`` jobs. A materialised CTE runs once.
            picked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
            statement = (
                update(jobs_table)
                .where(_c.id == picked.c.id)
                .values(**claimed)
                .returning(*jobs_table.c)
            )
        else:
            # SQLite has one writer at a time: the statement runs alone, its subquery once.
            statement = (
                update(jobs_table)
                .where(_c.id.in_(due.scalar_subquery()), _c.state == State.QUEUED.value)
                .values(**claimed)
                .returning(*jobs_table.c)
            )
        async with self.begin() as connection:
            rows = (await connection.execute(statement)).all()
        records = [_record(row) for row in rows]
        records.sort(key=lambda r: (-r.priority, r.run_at))
        return records

    def _held(self, job_id: str, worker: str) -> Any:
        return update(jobs_table).where(
            _c.id == job_id, _c.worker == worker, _c.state == State.RUNNING.value
        )

    async def _run(self, statement: Any) -> int:
        async with self.begin() as connection:
            result = await connection.execute(statement)
        return int(result.rowcount)

    async def extend(self, ids: Sequence[str], worker: str, lease: float) -> None:
        """Push the leases ``worker`` holds into the future."""
        if not ids:
            return
        await self._run(
            update(jobs_table)
            .where(_c.id.in_(list(ids)), _c.worker == worker, _c.state == State.RUNNING.value)
            .values(lease_until=time.time() + lease)
        )

    async def finish(self, job_id: str, worker: str, result: str) -> bool:
        """Record the result if ``worker`` still holds the job."""
        return bool(await self._finishes.submit((job_id, worker, result)))

    async def _finish_one(self, connection: AsyncConnection, item: tuple[str, str, str]) -> bool:
        job_id, worker, result = item
        statement = self._held(job_id, worker).values(
            state=State.DONE.value,
            result=result,
            worker=None,
            lease_until=None,
            finished_at=time.time(),
        )
        return bool((await connection.execute(statement)).rowcount == 1)

    async def _finish_many(
        self, connection: AsyncConnection, items: builtins.list[tuple[str, str, str]]
    ) -> builtins.list[bool]:
        """Record a batch of results in one UPDATE per worker (all of them held, the usual case)."""
        now = time.time()
        if self.dialect == "sqlite":
            # PERF: one cached statement run for every row (one hop to the driver's thread),
            # instead of building a CASE of the batch's rows, whose construction and cache key
            # cost a worker more CPU than the write. sqlite3 sums an executemany's rowcount.
            rows = [{"b_id": j, "b_worker": w, "b_result": r, "b_now": now} for j, w, r in items]
            changed = (await connection.execute(_FINISH_ONE, rows)).rowcount
            if changed != len(items):
                raise _NotAllHeld(f"{changed} of {len(items)} jobs still held")
            return [True] * len(items)
        by_worker: dict[str, builtins.list[tuple[str, str]]] = {}
        for job_id, worker, result in items:
            by_worker.setdefault(worker, []).append((job_id, result))
        changed = 0
        for worker, pairs in by_worker.items():
            for start in range(0, len(pairs), _ROWS_PER_STATEMENT):
                chunk = pairs[start : start + _ROWS_PER_STATEMENT]
                # PERF: padded to a power of two with repeats of its last pair (harmless in
                # IN and CASE), so the statement has few shapes and its compiled form is cached.
                chunk += chunk[-1:] * ((1 << (len(chunk) - 1).bit_length()) - len(chunk))
                statement = (
                    update(jobs_table)
                    .where(
                        _c.id.in_([job_id for job_id, _ in chunk]),
                        _c.worker == worker,
                        _c.state == State.RUNNING.value,
                    )
                    .values(
                        state=State.DONE.value,
                        result=case(*((_c.id == job_id, result) for job_id, result in chunk)),
                        worker=None,
                        lease_until=None,
                        finished_at=now,
                    )
                )
                changed += (await connection.execute(statement)).rowcount
        if changed != len(items):
            # NOTE: some job was reaped meanwhile: roll back, and the batcher records each
            # result alone, telling its worker which one it no longer holds.
            raise _NotAllHeld(f"{changed} of {len(items)} jobs still held")
        return [True] * len(items)

    async def fail(self, job_id: str, worker: str, error: str, retry_at: float | None) -> bool:
        """Queue again at ``retry_at``, or dead-letter."""
        values: dict[str, Any] = {"error": error, "worker": None, "lease_until": None}
        if retry_at is None:
            values.update(state=State.FAILED.value, finished_at=time.time())
        else:
            values.update(state=State.QUEUED.value, run_at=retry_at, sent_at=None)
        return await self._run(self._held(job_id, worker).values(**values)) == 1

    async def release(self, job_id: str, worker: str) -> None:
        """Hand the job back, its attempt not counted."""
        await self._run(
            self._held(job_id, worker).values(
                state=State.QUEUED.value,
                worker=None,
                lease_until=None,
                attempts=_c.attempts - 1,
                sent_at=None,
            )
        )

    async def reap(self) -> int:
        """Requeue, or dead-letter when out of attempts, jobs whose lease expired."""
        now = time.time()
        expired = (_c.state == State.RUNNING.value, _c.lease_until < now)
        lost = "the worker stopped before the job finished (lease expired)"
        async with self.begin() as connection:
            dead = await connection.execute(
                update(jobs_table)
                .where(*expired, _c.attempts >= _c.max_attempts)
                .values(
                    state=State.FAILED.value,
                    error=lost,
                    worker=None,
                    lease_until=None,
                    finished_at=now,
                )
            )
            again = await connection.execute(
                update(jobs_table)
                .where(*expired)
                .values(
                    state=State.QUEUED.value,
                    error=lost,
                    worker=None,
                    lease_until=None,
                    sent_at=None,
                )
            )
        return int(dead.rowcount) + int(again.rowcount)

    async def get(self, job_id: str) -> JobRecord | None:
        """Return the job or None."""
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(select(jobs_table).where(_c.id == job_id))).first()
        return None if row is None else _record(row)

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
        query = select(jobs_table)
        if state is not None:
            query = query.where(_c.state == State(state).value)
        if queue is not None:
            query = query.where(_c.queue == queue)
        if name is not None:
            query = query.where(_c.name == name)
        query = query.order_by(_c.created_at.desc(), _c.id).limit(limit).offset(offset)
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_record(row) for row in rows]

    async def counts(self) -> dict[str, int]:
        """Count jobs by state."""
        query = select(_c.state, func.count()).group_by(_c.state)
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        out = {state.value: 0 for state in State}
        out.update({state: int(count) for state, count in rows})
        return out

    async def retry(self, job_id: str) -> bool:
        """Queue a failed or cancelled job again now."""
        statement = (
            update(jobs_table)
            .where(_c.id == job_id, _c.state.in_([State.FAILED.value, State.CANCELLED.value]))
            .values(
                state=State.QUEUED.value,
                attempts=0,
                run_at=time.time(),
                finished_at=None,
                sent_at=None,
            )
        )
        try:
            return await self._run(statement) == 1
        except Exception as error:  # a live job took its unique key meanwhile
            if "unique" in str(error).lower():
                return False
            raise

    async def cancel(self, job_id: str) -> bool:
        """Cancel a queued job."""
        statement = (
            update(jobs_table)
            .where(_c.id == job_id, _c.state == State.QUEUED.value)
            .values(state=State.CANCELLED.value, finished_at=time.time())
        )
        return await self._run(statement) == 1

    async def purge(self, states: Sequence[State], before: float | None) -> int:
        """Delete finished jobs in ``states``."""
        wanted = [State(s).value for s in states if State(s) in FINISHED]
        statement = delete(jobs_table).where(_c.state.in_(wanted))
        if before is not None:
            statement = statement.where(_c.finished_at < before)
        return await self._run(statement)

    async def last_tick(self, schedule: str) -> float | None:
        """Return the schedule's last enqueued tick."""
        query = select(crons_table.c.last_tick).where(crons_table.c.name == schedule)
        async with self.database.engine.connect() as connection:
            value = (await connection.execute(query)).scalar()
        return None if value is None else float(value)

    async def tick(self, schedule: str, tick: float, record: JobRecord | None) -> bool:
        """Advance the schedule (compare and set) and enqueue in the same transaction."""
        cron = crons_table.c
        insert = (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(crons_table)
        async with self.begin() as connection:
            created = await connection.execute(
                insert.values(name=schedule, last_tick=tick).on_conflict_do_nothing()
            )
            if not created.rowcount:
                moved = await connection.execute(
                    update(crons_table)
                    .where(cron.name == schedule, cron.last_tick < tick)
                    .values(last_tick=tick)
                )
                if not moved.rowcount:
                    return False
            if record is not None:
                await self._push(connection, record)
        return True

    # --- for broker backends ----------------------------------------------------------------

    async def claim_ids(
        self, ids: Sequence[str], worker: str, lease: float
    ) -> builtins.list[JobRecord]:
        """Lease those of the jobs ``ids`` that are queued and due (the others are duplicates)."""
        now = time.time()
        statement = (
            update(jobs_table)
            .where(_c.id.in_(list(ids)), _c.state == State.QUEUED.value, _c.run_at <= now)
            .values(
                state=State.RUNNING.value,
                worker=worker,
                lease_until=now + lease,
                attempts=_c.attempts + 1,
                started_at=now,
            )
            .returning(*jobs_table.c)
        )
        async with self.begin() as connection:
            rows = (await connection.execute(statement)).all()
        return [_record(row) for row in rows]

    async def mark_sent(self, job_id: str) -> None:
        """Note that the job was handed to the broker."""
        await self._run(update(jobs_table).where(_c.id == job_id).values(sent_at=time.time()))

    async def mark_unsent(self, job_id: str) -> None:
        """Note that handing the job over failed: the next relay pass publishes it."""
        await self._run(update(jobs_table).where(_c.id == job_id).values(sent_at=None))

    async def unsent(self, resend_after: float, limit: int = 500) -> builtins.list[JobRecord]:
        """Mark due queued jobs never handed over (or long ago) as sent now; return them."""
        now = time.time()
        due = (
            select(_c.id)
            .where(
                _c.state == State.QUEUED.value,
                _c.run_at <= now,
                (_c.sent_at.is_(None)) | (_c.sent_at < now - resend_after),
            )
            .order_by(_c.priority.desc(), _c.run_at)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            picked = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
            statement = update(jobs_table).where(_c.id == picked.c.id)
        else:
            statement = update(jobs_table).where(_c.id.in_(due.scalar_subquery()))
        statement = statement.values(sent_at=now).returning(*jobs_table.c)
        async with self.begin() as connection:
            rows = (await connection.execute(statement)).all()
        return [_record(row) for row in rows]
