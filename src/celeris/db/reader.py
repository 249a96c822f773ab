"""``Reader``: read-only queries at the speed of the driver, still written as ``select(...)``.

``db.reader`` (a dependency) and ``db.fetch_one`` / ``db.fetch_all`` run a SQLAlchemy
``select()`` without a Session: each statement object is compiled once per database (SQL text,
parameter order, type processors); on asyncpg it runs as the driver's prepared statement on a
connection of the same fair pool, and rows are decoded straight into a msgspec read schema
(no ORM instances, no identity map). Other drivers run the compiled statement through
SQLAlchemy Core and decode the same way. ``db.session`` keeps full ORM semantics for writes.

Only flat rows: a ``select(Model)`` reads the columns the schema names (relationships and
loader options are not followed); ``select(Model.a, Model.b)`` reads those columns.

NOTE: the asyncpg path leans on SQLAlchemy 2.1's asyncpg adapter (``_handle_exception`` to
translate errors, ``_transaction`` / ``_start_transaction`` to join a session's transaction)
and on ``FairQueue`` for a check-in without a greenlet; ``tests/db/test_reader.py`` covers
each on a real PostgreSQL, so an upgrade that changes them fails there first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapper
from sqlalchemy.sql import Select
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.util.concurrency import greenlet_spawn

from celeris.db import statements
from celeris.db.errors import DatabaseUnavailable
from celeris.db.pool import FairQueue
from celeris.db.schemas import schemas_for

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect
    from sqlalchemy.pool import PoolProxiedConnection

__all__ = ["Plan", "PlanCache", "Reader"]

_CACHE_SIZE = 512  # compiled statements kept per database


@dataclass(slots=True)
class Plan:
    """One statement compiled for one database: what running it needs, computed once."""

    statement: Any  # the statement compiled (kept so the cache never confuses two)
    schema: type[msgspec.Struct] | None
    core: Any  # the statement with its result columns labelled as the schema's fields
    sql: str
    binds: tuple[tuple[str, Callable[[Any], Any] | None], ...]  # positional order
    defaults: Mapping[str, Any]  # values the statement carries itself (literals)
    keys: tuple[str, ...]  # result column names
    columns: tuple[Any, ...]  # the result columns (their SQL types)
    # (column index, processor) on the driver path; None until the first run tells the
    # driver's column types (SQLAlchemy's processors depend on them)
    results: tuple[tuple[int, Callable[[Any], Any]], ...] | None
    direct: bool  # runs on the driver's connection (asyncpg), not through SQLAlchemy Core
    decode: Any  # the msgspec type rows are converted to, or None for tuples

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        """Return the driver's positional arguments for ``params``."""
        defaults = self.defaults
        values = ({**defaults, **params} if defaults else params) if params else defaults
        arguments = []
        for name, processor in self.binds:
            try:
                value = values[name]
            except KeyError:
                raise sa_exc.InvalidRequestError(
                    f"A value is required for bind parameter {name!r}"
                ) from None
            arguments.append(processor(value) if processor is not None else value)
        return arguments

    def row(self, record: Any, *, driver: bool = True) -> Any:
        """Return one record as a schema instance (or a tuple without a schema)."""
        if driver and self.results:
            record = _processed(record, self.results)
        if self.schema is None:
            return tuple(record)
        # PERF: one row, one C-level conversion (no list around it)
        return msgspec.convert(dict(zip(self.keys, record, strict=True)), self.schema)

    def rows(self, records: list[Any], *, driver: bool = True) -> list[Any]:
        """Return records as schema instances (or tuples); ``driver``: apply type processors."""
        if driver and self.results:
            records = [_processed(record, self.results) for record in records]
        if self.decode is None:
            return [tuple(record) for record in records]
        keys = self.keys
        # PERF: one C-level conversion of the whole result; dict(zip()) is the cheapest
        # mapping msgspec accepts from a Record or a Row.
        rows: list[Any] = msgspec.convert(
            [dict(zip(keys, record, strict=True)) for record in records], self.decode
        )
        return rows


def result_processors(
    columns: tuple[Any, ...], oids: list[int], dialect: Dialect
) -> tuple[tuple[int, Callable[[Any], Any]], ...]:
    """Return the type processors of result columns whose driver types are ``oids``."""
    found = []
    for index, (column, oid) in enumerate(zip(columns, oids, strict=True)):
        processor = column.type.dialect_impl(dialect).result_processor(dialect, oid)
        if processor is not None:
            found.append((index, processor))
    return tuple(found)


def _processed(record: Any, results: tuple[tuple[int, Callable[[Any], Any]], ...]) -> list[Any]:
    values = list(record)
    for index, processor in results:
        values[index] = processor(values[index])
    return values


def _entity(statement: Select[Any]) -> type[Any] | None:
    """Return the mapped class of ``select(Model)``, or None for a select of columns."""
    descriptions = statement.column_descriptions
    if len(descriptions) == 1:
        entity = descriptions[0].get("entity")
        if descriptions[0].get("expr") is entity and entity is not None:
            return entity  # type: ignore[no-any-return]
    return None


def compile_plan(statement: Any, schema: type[msgspec.Struct] | None, dialect: Dialect) -> Plan:
    """Compile ``statement`` for ``dialect``, its rows decoded into ``schema``."""
    if not isinstance(statement, (Select, UpdateBase)):
        raise TypeError(
            f"the reader runs select(), insert(), update() and delete(), not {statement!r}"
        )
    entity = _entity(statement) if isinstance(statement, Select) else None
    core: Any = statement
    if entity is not None and isinstance(statement, Select):
        schema = schema if schema is not None else schemas_for(entity).read
        mapper: Mapper[Any] = entity.__mapper__
        columns = []
        for name in schema.__struct_fields__:
            attribute = mapper.attrs.get(name)
            if attribute is None:
                raise TypeError(f"{schema.__name__}.{name} is not a column of {entity.__name__}")
            columns.append(getattr(entity, name).label(name))
        # NOTE: only the schema's columns are read, labelled with its field names.
        core = statement.with_only_columns(*columns, maintain_column_froms=True)
    compiled = core.compile(dialect=dialect)
    selected = core.selected_columns if isinstance(core, Select) else ()
    keys = tuple(str(column.key) for column in selected)
    binds = []
    defaults = {}
    for name in compiled.positiontup or ():
        bind = compiled.binds[name]
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        binds.append((name, processor))
        if not bind.required:
            defaults[name] = bind.effective_value
    direct = dialect.driver == "asyncpg" and not compiled.post_compile_params
    decode = list[schema] if schema is not None else None  # type: ignore[valid-type]
    return Plan(
        statement=statement,
        schema=schema,
        core=core,
        sql=compiled.string,
        binds=tuple(binds),
        defaults=defaults,
        keys=keys,
        columns=tuple(selected),
        results=None if selected else (),
        direct=direct,
        decode=decode,
    )


class PlanCache:
    """Compiled plans of one database, by statement object and schema (bounded)."""

    __slots__ = ("_dialect", "_plans")

    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect
        self._plans: dict[tuple[int, Any], Plan] = {}

    def get(self, statement: Any, schema: type[msgspec.Struct] | None) -> Plan:
        key = (id(statement), schema)
        plan = self._plans.get(key)
        if plan is not None and plan.statement is statement:
            return plan
        plan = compile_plan(statement, schema, self._dialect)
        if len(self._plans) >= _CACHE_SIZE:
            # NOTE: statements built per request churn the cache: build them at import.
            del self._plans[next(iter(self._plans))]
        self._plans[key] = plan
        return plan


class Reader:
    """Read-only queries on one pooled connection, taken on first use, returned by ``close``."""

    __slots__ = ("_borrowed", "_connection", "_engine", "_plans")

    def __init__(
        self,
        engine: AsyncEngine,
        plans: PlanCache,
        connection: PoolProxiedConnection | None = None,
    ) -> None:
        self._engine = engine
        self._plans = plans
        self._connection = connection
        # NOTE: a connection handed in belongs to a session: never returned or invalidated here.
        self._borrowed = connection is not None

    async def fetch_all(
        self, statement: Any, schema: type[msgspec.Struct] | None = None, /, **params: Any
    ) -> list[Any]:
        """Return every row of ``statement`` as ``schema`` instances (the model's read schema)."""
        plan = self._plans.get(statement, schema)
        if plan.direct:
            return plan.rows(await self._fetch(plan, params))
        return plan.rows(await self._fetch_core(plan, params), driver=False)

    async def fetch_one(
        self, statement: Any, schema: type[msgspec.Struct] | None = None, /, **params: Any
    ) -> Any | None:
        """Return the first row of ``statement`` as a ``schema`` instance, or None."""
        plan = self._plans.get(statement, schema)
        if plan.direct:
            records = await self._fetch(plan, params, one=True)
        else:
            records = await self._fetch_core(plan, params, one=True)
        return plan.row(records[0], driver=plan.direct) if records else None

    async def execute_many(self, statement: Any, rows: list[Mapping[str, Any]], /) -> None:
        """Run an ``insert()`` / ``update()`` / ``delete()`` once per row (one executemany).

        A Core-level bulk write: no ORM events, no identity map. Inside
        ``db.reader_for(session)`` it joins the session's transaction.
        """
        if not rows:
            return
        plan = self._plans.get(statement, None)
        if not plan.direct:
            if self._borrowed:
                raise TypeError("db.reader_for(session) runs on asyncpg only; use the session")
            async with self._engine.begin() as connection:
                await connection.execute(plan.core, [{**plan.defaults, **row} for row in rows])
            return
        driver = await self._driver()
        arguments = [plan.arguments(row) for row in rows]
        try:
            await driver.executemany(plan.sql, arguments)
        except Exception as error:
            await self._failed(plan, arguments, error)
            raise

    async def _driver(self) -> Any:
        """Return the asyncpg connection, checking one out on first use."""
        connection = self._connection
        if connection is None:
            # PERF: a pool checkout without an engine Connection: one greenlet switch.
            connection = self._connection = await self._engine.raw_connection()
        adapter: Any = connection.dbapi_connection
        if self._borrowed and adapter._transaction is None and not adapter.autocommit:
            # NOTE: the session's transaction begins lazily on its first statement; begin it
            # now so reads and writes here belong to it (commit/rollback cover them).
            await adapter._start_transaction()
        return connection.driver_connection

    async def _fetch(self, plan: Plan, params: Mapping[str, Any], one: bool = False) -> list[Any]:
        driver = await self._driver()
        statements.count(plan.sql)  # NOTE: the driver path bypasses SQLAlchemy's events
        arguments = plan.arguments(params)
        try:
            if plan.results is None:
                # NOTE: once per plan: asyncpg's prepared statement (cached per connection,
                # so the fetch below reuses it) says which types the columns come back as.
                prepared = await driver.prepare(plan.sql)
                oids = [attribute.type.oid for attribute in prepared.get_attributes()]
                plan.results = result_processors(plan.columns, oids, self._engine.dialect)
            if one:
                record = await driver.fetchrow(plan.sql, *arguments)
                return [] if record is None else [record]
            return await driver.fetch(plan.sql, *arguments)  # type: ignore[no-any-return]
        except Exception as error:
            await self._failed(plan, arguments, error)
            raise

    async def _fetch_core(
        self, plan: Plan, params: Mapping[str, Any], one: bool = False
    ) -> list[Any]:
        if self._borrowed:
            raise TypeError("db.reader_for(session) runs on asyncpg only; use the session")
        autocommit = self._engine.execution_options(isolation_level="AUTOCOMMIT")
        async with autocommit.connect() as connection:
            result = await connection.execute(plan.core, {**plan.defaults, **params})
            row = result.first() if one else None
            return ([] if row is None else [row]) if one else list(result.all())

    async def _failed(self, plan: Plan, arguments: list[Any], error: Exception) -> None:
        """Raise ``error`` as SQLAlchemy would have (so faults classify the same way)."""
        connection = self._connection
        assert connection is not None
        dialect = self._engine.dialect
        adapter: Any = connection.dbapi_connection
        try:
            adapter._handle_exception(error)  # NOTE: translates asyncpg's error and raises it
        except dialect.loaded_dbapi.Error as translated:
            lost = dialect.is_disconnect(translated, adapter, None)
            if lost:
                await self._invalidate(translated)
            raise sa_exc.DBAPIError.instance(
                plan.sql,
                arguments,
                translated,
                dialect.loaded_dbapi.Error,
                connection_invalidated=lost,
                dialect=dialect,
            ) from error
        except (OSError, TimeoutError) as untranslated:
            # NOTE: a dead socket or a client-side timeout leaves the connection unusable.
            await self._invalidate(untranslated)
            if isinstance(untranslated, TimeoutError):
                raise
            raise DatabaseUnavailable(f"the database connection failed: {error}") from error

    async def _invalidate(self, error: BaseException) -> None:
        if self._borrowed:
            return  # the session's rollback deals with its connection
        connection, self._connection = self._connection, None
        if connection is not None:
            await greenlet_spawn(connection.invalidate, error)

    async def close(self) -> None:
        """Return the connection to the pool (if one was taken)."""
        connection, self._connection = self._connection, None
        if connection is None or self._borrowed:
            return
        queue = getattr(self._engine.sync_engine.pool, "_pool", None)
        adapter: Any = connection.dbapi_connection
        if (
            isinstance(queue, FairQueue)
            and not queue.full()
            and getattr(adapter, "_transaction", None) is None
        ):
            # PERF: the check-in does no I/O here (no transaction to roll back, room in the
            # queue), so it needs no greenlet: 8 us less per request.
            connection.close()
            return
        # NOTE: in a greenlet: returning an overflow connection closes it (driver I/O).
        await greenlet_spawn(connection.close)
