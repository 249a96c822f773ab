"""Tests for celeris.db.errors: exceptions classified on real databases."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from celeris.db.database import Database, PoolOptions
from celeris.db.errors import (
    DatabaseUnavailable,
    Fault,
    classify,
    conflict_detail,
    describe,
    http_error_for,
    raised_by_database,
)

from .db_models import Author, Book
from .tcp_proxy import TCPProxy


async def _raised(database: Database, coroutine_factory) -> BaseException:
    with pytest.raises(Exception) as info:
        async with database.scope() as session:
            await coroutine_factory(session)
    return info.value


async def test_unique_violation_is_unique(database: Database) -> None:
    async with database.scope() as session:
        session.add(Author(name="Le Guin"))

    async def duplicate(session):
        session.add(Author(name="Le Guin"))
        await session.flush()

    error = await _raised(database, duplicate)
    assert isinstance(error, sa_exc.IntegrityError)
    assert classify(error) is Fault.UNIQUE


async def test_foreign_key_violation_is_foreign_key(database: Database) -> None:
    async def orphan(session):
        session.add(Book(title="Orphan", author_id=424242))
        await session.flush()

    assert classify(await _raised(database, orphan)) is Fault.FOREIGN_KEY


async def test_not_null_violation_is_integrity(database: Database) -> None:
    async def null_title(session):
        await session.execute(sa.insert(Book).values(title=None, pages=1))

    assert classify(await _raised(database, null_title)) is Fault.INTEGRITY


async def test_unreachable_database_is_unavailable(tmp_path) -> None:
    # Port 9 (discard) is closed on test machines: the connection is refused.
    db = Database(
        "postgresql://nobody@127.0.0.1:9/none",
        root_path=tmp_path,
        pool=PoolOptions(connect_timeout=1.0),
    )
    with pytest.raises(Exception) as info:
        await db.ping()
    await db.disconnect()
    assert classify(info.value) is Fault.UNAVAILABLE


async def test_statement_timeout_is_timeout(postgres_url: str, tmp_path) -> None:
    db = Database(postgres_url, root_path=tmp_path, pool=PoolOptions(statement_timeout=0.2))
    try:
        with pytest.raises(Exception) as info:
            async with db.scope() as session:
                await session.execute(sa.text("SELECT pg_sleep(3)"))
        assert classify(info.value) is Fault.TIMEOUT
    finally:
        await db.disconnect()


def test_plain_errors_are_not_database_faults() -> None:
    assert classify(ValueError("x")) is None
    assert classify(KeyError("x")) is None
    assert classify(DatabaseUnavailable("down")) is Fault.UNAVAILABLE
    assert classify(ConnectionRefusedError()) is Fault.UNAVAILABLE


async def test_only_timeouts_of_the_database_layer_are_faults() -> None:
    # An asyncio.timeout() around another service's call is the handler's business.
    with pytest.raises(TimeoutError) as info:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)
    assert not raised_by_database(info.value)
    assert classify(info.value) is None
    assert classify(TimeoutError()) is None
    assert http_error_for(TimeoutError(), 2) is None


async def test_client_side_statement_timeout_is_timeout(postgres_url: str, tmp_path) -> None:
    # asyncpg's command_timeout raises a bare TimeoutError through SQLAlchemy.
    db = Database(
        postgres_url,
        root_path=tmp_path,
        pool=PoolOptions(statement_timeout=None, extra={"command_timeout": 0.2}),
    )
    try:
        with pytest.raises(TimeoutError) as info:
            async with db.scope() as session:
                await session.execute(sa.text("SELECT pg_sleep(3)"))
        assert raised_by_database(info.value)
        assert classify(info.value) is Fault.TIMEOUT
        assert "TimeoutError" in describe(info.value)
    finally:
        await db.disconnect()


@pytest.mark.parametrize("fault", list(Fault))
def test_conflict_detail_is_a_sentence(fault: Fault) -> None:
    assert conflict_detail(fault).endswith(".")


async def test_outage_is_unavailable_and_recovers(postgres_url: str, tmp_path) -> None:
    parts = urlsplit(postgres_url)
    proxy = TCPProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    port = await proxy.start()
    url = postgres_url.replace(f"{parts.hostname}:{parts.port or 5432}", f"127.0.0.1:{port}")
    db = Database(url, root_path=tmp_path, pool=PoolOptions(connect_timeout=1.0, size=2))
    try:
        await db.ping()
        await proxy.cut()
        for _ in range(3):  # the pooled connection is dead, then connects are refused
            with pytest.raises(Exception) as info:
                await db.ping()
            assert classify(info.value) is Fault.UNAVAILABLE
        await proxy.restore()
        await db.ping()
    finally:
        await db.disconnect()
        await proxy.close()


async def test_sqlite_busy_is_unavailable(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    holder = Database(url, root_path=tmp_path, create_all=True)
    waiter = Database(url, root_path=tmp_path, pool=PoolOptions(statement_timeout=0.1))
    await holder.connect()
    try:
        async with holder.engine.connect() as locked:
            await locked.exec_driver_sql("BEGIN IMMEDIATE")
            with pytest.raises(sa_exc.OperationalError) as info:
                async with waiter.scope() as session:
                    session.add(Author(name="blocked"))
            assert classify(info.value) is Fault.UNAVAILABLE
            await locked.rollback()
    finally:
        await waiter.disconnect()
        await holder.disconnect()


async def test_sqlite_programming_mistakes_are_not_unavailable(database: Database) -> None:
    with pytest.raises(sa_exc.DBAPIError) as info:
        async with database.scope() as session:
            await session.execute(sa.text("SELECT * FROM no_such_table"))
    assert classify(info.value) is None


async def test_exhausted_pool_is_timeout(database_url: str, tmp_path) -> None:
    db = Database(
        database_url, root_path=tmp_path, pool=PoolOptions(size=1, max_overflow=0, timeout=0.1)
    )
    try:
        async with db.engine.connect() as held:
            await held.execute(sa.text("SELECT 1"))
            with pytest.raises(sa_exc.TimeoutError) as info:
                await db.ping()
        assert classify(info.value) is Fault.TIMEOUT
    finally:
        await db.disconnect()


def test_http_errors_for_faults() -> None:
    unavailable = http_error_for(DatabaseUnavailable("down"), 9)
    assert unavailable is not None
    assert unavailable.status_code == 503
    assert unavailable.headers == {"retry-after": "9"}
    pool = http_error_for(sa_exc.TimeoutError("QueuePool limit"), 2)
    assert pool is not None
    assert pool.status_code == 503
    assert pool.detail == "The request timed out waiting for the database; retry later."
    assert http_error_for(ValueError(), 1) is None


def test_import_celeris_does_not_import_the_data_layer() -> None:
    code = "import sys, celeris; assert not {'celeris.db', 'sqlalchemy'} & set(sys.modules), sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_timeout_from_a_lookalike_module_is_not_the_databases() -> None:
    namespace: dict[str, object] = {"__name__": "sqlalchemy_utils.weather"}
    exec("def fetch():\n    raise TimeoutError('upstream')", namespace)  # noqa: S102
    with pytest.raises(TimeoutError) as info:
        namespace["fetch"]()  # type: ignore[operator]
    assert not raised_by_database(info.value)
