"""``Database``: one engine per app, created at start-up and disposed at shutdown.

The URL comes from the ``url`` argument, else the app's settings (``DATABASE_URL``), else the
``DATABASE_URL`` environment variable, else a SQLite file ``app.db`` next to the app.
``postgresql://`` URLs run on asyncpg and ``sqlite://`` URLs on aiosqlite.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import sys
import time
import weakref
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import MetaData, Table, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from celeris.core.concurrency import run_in_threadpool
from celeris.core.errors import HTTPError
from celeris.db import statements
from celeris.db.errors import (
    DatabaseError,
    DatabaseUnavailable,
    Fault,
    classify,
    describe,
    http_error_for,
)
from celeris.db.health import check
from celeris.db.migrations import Migrations
from celeris.db.model import Model
from celeris.db.pool import FairPool, pool_sizes, worker_count
from celeris.db.reader import PlanCache, Reader
from celeris.db.session import make_sessionmaker, session_scope
from celeris.db.url import database_url
from celeris.health import register_check

__all__ = ["Database", "PoolOptions", "create_tables", "database_url"]

log = logging.getLogger("celeris.db")

_LOCK = 0x63656C6572697300  # the advisory lock id that serialises start-up migrations
_migration_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _migration_lock() -> asyncio.Lock:
    """Return this event loop's migration lock (an asyncio.Lock is bound to one loop)."""
    return _migration_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())


async def create_tables(
    connection: AsyncConnection, metadata: MetaData, tables: Sequence[Table] | None = None
) -> None:
    """Create the missing ``tables`` of ``metadata`` (all by default) in ``connection``'s transaction.

    Batteries that keep tables of their own call it at start-up. Workers of one server start
    together: on PostgreSQL two concurrent ``CREATE TABLE`` of the same name race in the catalog
    (``pg_type`` unique violation), so they queue on the migrations' advisory lock, released
    with the transaction.
    """
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
    found = None if tables is None else list(tables)
    await connection.run_sync(lambda sync: metadata.create_all(sync, tables=found, checkfirst=True))


@dataclass(frozen=True, slots=True)
class PoolOptions:
    """Connection pool sizing and timeouts (seconds); see docs/db.md for guidance.

    ``size`` and ``max_overflow`` default to a share of ``max_connections`` per worker
    process (``CELERIS_WORKERS`` / ``WEB_CONCURRENCY``): half kept open, half for bursts,
    at most 10 + 10.
    """

    size: int | None = None
    max_overflow: int | None = None
    timeout: float = 5.0
    recycle: float = 1800.0
    pre_ping: bool = False
    connect_timeout: float = 5.0
    statement_timeout: float | None = 30.0
    max_connections: int = 80
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.size is not None and self.size < 1) or (
            self.max_overflow is not None and self.max_overflow < 0
        ):
            raise ValueError("PoolOptions: size must be >= 1 and max_overflow >= 0")
        if self.max_connections < 1:
            raise ValueError("PoolOptions: max_connections must be >= 1")
        statement = 1.0 if self.statement_timeout is None else self.statement_timeout
        timeouts = (self.timeout, self.connect_timeout, statement)
        if min(timeouts) <= 0:
            raise ValueError(
                "PoolOptions: timeouts must be positive (statement_timeout=None disables it)"
            )

    def sizes(self, workers: int | None = None) -> tuple[int, int]:
        """Return (size, max_overflow) for one worker of ``workers`` (default: the server's)."""
        size, overflow = pool_sizes(self.max_connections, workers or worker_count())
        return (
            self.size if self.size is not None else size,
            self.max_overflow if self.max_overflow is not None else overflow,
        )


def _caller_root() -> Path:
    """Return the folder of the module that created the ``Database`` (the app's folder)."""
    frame = sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("celeris.db"):
        frame = frame.f_back  # type: ignore[assignment]
    filename = frame.f_globals.get("__file__") if frame is not None else None
    return Path(filename).resolve().parent if filename else Path.cwd()


def _connect(dialect: Any, _record: Any, cargs: Any, cparams: Any) -> Any:
    """Open a driver connection, reporting an unreachable server as ``DatabaseUnavailable``."""
    try:
        return dialect.connect(*cargs, **cparams)
    except OSError as error:
        # NOTE: asyncpg raises plain OSError/TimeoutError when the server cannot be reached,
        # which SQLAlchemy does not wrap; name it so the app answers 503, not 500.
        raise DatabaseUnavailable(f"cannot connect to the database: {error}") from error


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Enforce foreign keys on every SQLite connection, like PostgreSQL does."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# The exception classes ``install`` registers ``handle_error`` for (unless the app has its own).
_FAULT_CLASSES = (sa_exc.DBAPIError, sa_exc.TimeoutError, DatabaseUnavailable, TimeoutError)


async def _call(handler: Any, request: Any, error: Exception) -> Any:
    """Call an app exception handler the way the core does (a sync one on the thread pool)."""
    if inspect.iscoroutinefunction(handler):
        return await handler(request, error)
    result = await run_in_threadpool(handler, request, error)
    if inspect.isawaitable(result):
        result = await result
    return result


class Database:
    """The data layer of an app: engine, sessions, migrations and fault handling."""

    def __init__(
        self,
        url: str | URL | None = None,
        *,
        app: Any = None,
        metadata: MetaData | None = None,
        root_path: str | Path | None = None,
        migrations: str | Path | None = None,
        migrate_on_startup: bool = True,
        create_all: bool = False,
        pool: PoolOptions | None = None,
        retry_after: int = 5,
        echo: bool = False,
        engine_options: Mapping[str, Any] | None = None,
        debug: bool | None = None,
    ) -> None:
        self.root_path = Path(root_path) if root_path is not None else _caller_root()
        self._explicit_url = url
        self.metadata = metadata if metadata is not None else Model.metadata
        self.migrations_dir = (
            Path(migrations) if migrations is not None else self.root_path / "migrations"
        )
        self.migrate_on_startup = migrate_on_startup
        self.create_all = create_all
        self.pool = pool if pool is not None else PoolOptions()
        self.retry_after = retry_after
        self.echo = echo
        self.engine_options = dict(engine_options or {})
        self._settings: Any = None
        self._app: Any = None
        self._debug = debug
        self._engine: AsyncEngine | None = None
        self._sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._read_sessionmaker: async_sessionmaker[AsyncSession] | None = None
        self._plans: PlanCache | None = None
        self._counting = False  # debug mode, fixed when the engine is created
        if app is not None:
            self.install(app)

    # --- configuration -----------------------------------------------------------------

    @property
    def url(self) -> URL:
        """Return the resolved database URL."""
        raw: str | URL | None = self._explicit_url
        source = "the url argument"
        if raw is None and self._settings is not None:
            raw = getattr(self._settings, "DATABASE_URL", None) or getattr(
                self._settings, "database_url", None
            )
            source = "the app settings' DATABASE_URL"
        if raw is None:
            raw = os.environ.get("DATABASE_URL") or None
            source = "the DATABASE_URL environment variable"
        if raw is None:
            raw = f"sqlite+aiosqlite:///{self.root_path / 'app.db'}"
        try:
            return database_url(raw)
        except sa_exc.ArgumentError:
            raise DatabaseError(
                f"{source} is not a database URL; use e.g. postgresql://user@host/name "
                "or sqlite:///app.db"
            ) from None

    @property
    def debug(self) -> bool:
        """Tell whether statements are counted per request (N+1 reports in the log)."""
        if self._debug is not None:
            return self._debug
        return bool(getattr(self._app, "debug", False)) or os.environ.get("CELERIS_DEBUG") == "1"

    @property
    def dialect(self) -> str:
        """Return the dialect name: ``sqlite`` or ``postgresql``."""
        return self.url.get_backend_name()

    def engine_arguments(self) -> dict[str, Any]:
        """Return the keyword arguments passed to ``create_async_engine``."""
        url = self.url
        options: dict[str, Any] = {"echo": self.echo}
        connect_args: dict[str, Any] = {}
        pool = self.pool
        if url.get_backend_name() == "sqlite":
            # NOTE: the SQLite driver's ``timeout`` is its busy timeout: how long a writer
            # waits for a lock before "database is locked" (which becomes a 503).
            connect_args["timeout"] = pool.statement_timeout or pool.connect_timeout
            if url.database not in (None, "", ":memory:"):
                size, overflow = pool.sizes()
                options.update(pool_size=size, max_overflow=overflow)
        else:
            size, overflow = pool.sizes()
            options.update(pool_size=size, max_overflow=overflow)
            connect_args["timeout"] = pool.connect_timeout
            if pool.statement_timeout is not None:
                milliseconds = int(pool.statement_timeout * 1000)
                connect_args["server_settings"] = {"statement_timeout": str(milliseconds)}
                # NOTE: the client-side timeout backs the server's up when the network
                # itself stops answering, so a request never hangs on a dead peer.
                connect_args["command_timeout"] = pool.statement_timeout + pool.connect_timeout
        if "pool_size" in options:
            options.update(
                poolclass=FairPool,
                pool_timeout=pool.timeout,
                pool_recycle=pool.recycle,
                pool_pre_ping=pool.pre_ping,
            )
        connect_args.update(pool.extra)
        options["connect_args"] = connect_args
        options.update(self.engine_options)
        return options

    # --- engine lifecycle -----------------------------------------------------------------

    @property
    def engine(self) -> AsyncEngine:
        """Return the engine, creating it on first use."""
        if self._engine is None:
            engine = create_async_engine(self.url, **self.engine_arguments())
            if engine.dialect.name == "sqlite":
                event.listen(engine.sync_engine, "connect", _set_sqlite_pragmas)
            else:
                event.listen(engine.sync_engine, "do_connect", _connect)
            self._engine = engine
            self._sessionmaker = make_sessionmaker(engine)
            self._read_sessionmaker = make_sessionmaker(
                engine.execution_options(isolation_level="AUTOCOMMIT")
            )
            self._plans = PlanCache(engine.dialect)
            self._counting = self.debug
            if self._counting:
                statements.watch(engine)
        return self._engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        """Return the session factory bound to the engine."""
        if self._sessionmaker is None:
            self.engine  # noqa: B018 -- creates the engine and the session factory
        assert self._sessionmaker is not None
        return self._sessionmaker

    @property
    def migrations(self) -> Migrations:
        """Return the migration commands for this database."""
        return Migrations(
            self.migrations_dir, self.url.render_as_string(hide_password=False), self.metadata
        )

    async def connect(self) -> None:
        """Create the engine and bring the schema up to date (the start-up handler)."""
        engine = self.engine
        try:
            if self.migrate_on_startup and self.migrations.exists:
                await self.migrate()
            elif self.create_all:
                async with engine.begin() as connection:
                    await connection.run_sync(self.metadata.create_all)
        except Exception as error:
            # NOTE: a database server may be briefly away: start anyway, and routes that need it
            # answer 503 until it is back. A SQLite file that cannot be opened is a mistake.
            if engine.dialect.name == "sqlite" or classify(error) not in (
                Fault.UNAVAILABLE,
                Fault.TIMEOUT,
            ):
                raise
            log.warning("database unavailable at start-up (%s); serving without it", error)

    async def disconnect(self) -> None:
        """Dispose of the engine and its pool (the shutdown handler)."""
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None
            self._sessionmaker = self._read_sessionmaker = None
            self._plans = None

    async def migrate(self, revision: str = "head") -> None:
        """Run the migrations up to ``revision`` through the engine."""
        migrations = self.migrations
        # NOTE: Alembic keeps its running context in module globals, so one process runs one
        # migration at a time; across processes the database itself serialises them.
        async with _migration_lock(), self.engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # NOTE: batch mode rebuilds tables (copy, DROP, rename); with foreign keys
                # enforced the DROP would cascade into child rows. Outside a transaction only.
                await connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                await connection.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock now
            elif connection.dialect.name == "postgresql":
                # Workers starting together queue here instead of racing to CREATE TABLE;
                # the lock is released with the transaction.
                await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
            try:
                await connection.run_sync(migrations.upgrade_connection, revision)
                await connection.commit()
            finally:
                if sqlite:
                    await connection.rollback()
                    await connection.exec_driver_sql("PRAGMA foreign_keys=ON")

    # --- sessions -------------------------------------------------------------------------

    def scope(self) -> AbstractAsyncContextManager[AsyncSession]:
        """Return ``async with db.scope() as session:``, committed when the block succeeds."""
        return session_scope(self.sessionmaker)

    async def session(self) -> AsyncIterator[AsyncSession]:
        """Yield a session for one handler: ``session: AsyncSession = Depends(db.session)``.

        Commits right after the handler returned and before the response is sent (its
        dependency scope is ``"function"``), so a conflict on commit answers 409 and a client
        reading after a write sees it; rolls back if the handler raised.
        """
        # PERF: inlined instead of ``async with session_scope(...)``: one generator frame per
        # request, no context-manager object; no engine or statement work happens here.
        session = (self._sessionmaker or self.sessionmaker)()
        counting = statements.start() if self._counting else None
        try:
            yield session
            if session.in_transaction():
                await session.commit()
        except BaseException:
            await session.rollback()
            raise
        finally:
            await session.close()
            statements.finish(counting)

    # NOTE: read once by the core when a route compiles; ``Depends(db.session, scope=...)``
    # overrides it.
    session.celeris_dependency_scope = "function"  # type: ignore[attr-defined]

    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """Yield a session in autocommit mode for read-only handlers (no BEGIN / COMMIT).

        ``session: AsyncSession = Depends(db.read_session)`` saves two round trips per
        request on PostgreSQL; every statement is its own transaction, so do not write here.
        """
        # PERF: the autocommit flag is client-side on asyncpg and aiosqlite: checking out a
        # connection costs no round trip and each query is exactly one.
        if self._read_sessionmaker is None:
            self.engine  # noqa: B018 -- creates the engine and the session factories
        assert self._read_sessionmaker is not None
        session = self._read_sessionmaker()
        counting = statements.start() if self._counting else None
        try:
            yield session
        finally:
            await session.close()
            statements.finish(counting)

    def _reader(self) -> Reader:
        if self._plans is None:
            self.engine  # noqa: B018 -- creates the engine and the plan cache
        assert self._engine is not None
        assert self._plans is not None
        return Reader(self._engine, self._plans)

    async def reader(self) -> AsyncIterator[Reader]:
        """Yield a ``Reader`` for one handler: ``reader: Reader = Depends(db.reader)``.

        ``await reader.fetch_one(select(Note).where(Note.id == bindparam("id")), id=3)``
        returns the row as the model's read schema; every statement runs on one pooled
        connection, taken on first use and returned right after the handler.
        """
        reader = self._reader()
        counting = statements.start() if self._counting else None
        try:
            yield reader
        finally:
            await reader.close()
            statements.finish(counting)

    # NOTE: "function": the connection goes back to the pool before the response is sent.
    reader.celeris_dependency_scope = "function"  # type: ignore[attr-defined]

    async def reader_for(self, session: AsyncSession) -> Reader:
        """Return a ``Reader`` on ``session``'s connection (reads beside its ORM writes).

        One connection per request: the reads see the session's writes, and the session
        (``db.session``) commits or rolls back as usual. On PostgreSQL (asyncpg) the reads
        run on the driver directly; elsewhere use the session itself.
        """
        if self._plans is None:
            self.engine  # noqa: B018 -- creates the engine and the plan cache
        assert self._plans is not None
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        engine = self._engine
        assert engine is not None
        if engine.dialect.driver != "asyncpg":
            return Reader(engine, self._plans)  # NOTE: its own connections, through Core
        return Reader(engine, self._plans, raw)

    async def fetch_all(
        self, statement: Any, schema: type[Any] | None = None, /, **params: Any
    ) -> list[Any]:
        """Return every row of ``statement`` as ``schema`` instances (see ``Reader``)."""
        reader = self._reader()
        try:
            return await reader.fetch_all(statement, schema, **params)
        finally:
            await reader.close()

    async def fetch_one(
        self, statement: Any, schema: type[Any] | None = None, /, **params: Any
    ) -> Any | None:
        """Return the first row of ``statement`` as a ``schema`` instance, or None."""
        reader = self._reader()
        try:
            return await reader.fetch_one(statement, schema, **params)
        finally:
            await reader.close()

    async def ping(self) -> float:
        """Run ``SELECT 1`` and return the round trip in seconds."""
        started = time.perf_counter()
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return time.perf_counter() - started

    # --- integration ----------------------------------------------------------------------

    def install(self, app: Any) -> None:
        """Attach to ``app``: start-up, shutdown, fault handlers and ``app.state.database``."""
        self._settings = getattr(app, "settings", None)
        self._app = app
        app.state.database = self
        app.on_startup(self.connect)
        app.on_shutdown(self.disconnect)
        register_check(app, "database", functools.partial(check, self))  # GET /readyz
        for error_class in _FAULT_CLASSES:
            app.exception_handlers.setdefault(error_class, self.handle_error)

    async def handle_error(self, request: Any, error: Exception) -> Any:
        """Answer a data fault as the app answers any HTTP error: 503 or 409.

        The fault becomes a ``ServiceUnavailable`` (with ``Retry-After``) or a ``Conflict``
        whose ``__cause__`` is the original error, and goes to the app's own handler for it
        (``@app.exception_handler(HTTPError)``, or one keyed by 503/409) when there is one.
        Anything else (a ``TimeoutError`` raised outside the database layer) goes to the
        app's handler for its class if any, else ends as an ordinary 500.
        """
        http_error = http_error_for(error, self.retry_after)
        if http_error is None:
            handler = self._user_handler(error)
            if handler is None:
                raise error  # an ordinary failure: the app answers 500 and logs it
            return await _call(handler, request, error)
        http_error.__cause__ = error
        if http_error.status_code == 503:
            log.warning("database fault, answered 503: %s", describe(error))
        handler = self._user_handler(http_error)
        if handler is None:
            return http_error.to_response()
        return await _call(handler, request, http_error)

    def _user_handler(self, error: Exception) -> Any:
        """Return the app's handler for ``error`` other than this Database's (core's lookup)."""
        handlers = getattr(self._app, "exception_handlers", None) or {}
        for cls in type(error).__mro__:
            if cls is Exception:
                break
            handler = handlers.get(cls)
            if handler is not None and getattr(handler, "__func__", None) is not (
                Database.handle_error
            ):
                return handler
        if isinstance(error, HTTPError):
            return handlers.get(error.status_code)
        return None

    async def __aenter__(self) -> Database:
        await self.connect()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.disconnect()

    def __repr__(self) -> str:
        return f"Database({self.url.render_as_string(hide_password=True)!r})"
