"""Tests for celeris.db.database: URL resolution, engine options, lifecycle, sessions."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from celeris.core.app import App
from celeris.core.params import Depends
from celeris.core.signature import compile_plan
from celeris.db.database import Database, PoolOptions, database_url
from celeris.db.errors import DatabaseError
from celeris.testing import AsyncTestClient

from .db_models import Author


def test_url_argument_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://env/env")
    db = Database("sqlite:///explicit.db", root_path=tmp_path)
    assert db.url.drivername == "sqlite+aiosqlite"
    assert db.url.database == "explicit.db"


def test_url_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db.example:5433/shop")
    db = Database(root_path=tmp_path)
    assert db.url.drivername == "postgresql+asyncpg"
    assert (db.url.host, db.url.port, db.url.database) == ("db.example", 5433, "shop")
    assert db.dialect == "postgresql"


def test_url_from_app_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://env/env")

    class Settings:
        DATABASE_URL = "sqlite:///from-settings.db"

    db = Database(root_path=tmp_path)
    db._settings = Settings()
    assert db.url.database == "from-settings.db"


def test_default_is_sqlite_file_next_to_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    db = Database()
    assert db.url.drivername == "sqlite+aiosqlite"
    # the caller (this test module) is "the app"
    assert Path(db.url.database or "") == Path(__file__).resolve().parent / "app.db"
    assert db.migrations_dir == Path(__file__).resolve().parent / "migrations"


def test_explicit_driver_is_kept() -> None:
    assert database_url("postgresql+psycopg://h/d").drivername == "postgresql+psycopg"
    assert database_url("mysql+aiomysql://h/d").drivername == "mysql+aiomysql"


def test_postgres_engine_arguments_carry_pool_and_timeouts(tmp_path: Path) -> None:
    pool = PoolOptions(
        size=3, max_overflow=2, timeout=1.5, statement_timeout=2.5, connect_timeout=4
    )
    args = Database("postgresql://h/d", root_path=tmp_path, pool=pool).engine_arguments()
    assert args["pool_size"] == 3
    assert args["max_overflow"] == 2
    assert args["pool_timeout"] == 1.5
    assert args["connect_args"]["server_settings"] == {"statement_timeout": "2500"}
    assert args["connect_args"]["timeout"] == 4
    assert args["connect_args"]["command_timeout"] == 6.5


def test_sqlite_engine_arguments_set_busy_timeout(tmp_path: Path) -> None:
    args = Database(
        "sqlite:///x.db", root_path=tmp_path, pool=PoolOptions(statement_timeout=7)
    ).engine_arguments()
    assert args["connect_args"] == {"timeout": 7}
    memory = Database("sqlite://", root_path=tmp_path).engine_arguments()
    assert "pool_size" not in memory


def test_no_statement_timeout(tmp_path: Path) -> None:
    args = Database(
        "postgresql://h/d", root_path=tmp_path, pool=PoolOptions(statement_timeout=None)
    ).engine_arguments()
    assert "server_settings" not in args["connect_args"]


def test_repr_hides_password(tmp_path: Path) -> None:
    assert "secret" not in repr(Database("postgresql://u:secret@h/d", root_path=tmp_path))


async def test_connect_create_all_and_roundtrip(database: Database) -> None:
    async with database.scope() as session:
        session.add(Author(name="Borges"))
    async with database.scope() as session:
        names = (await session.scalars(sa.select(Author.name))).all()
    assert names == ["Borges"]
    assert await database.ping() >= 0


async def test_scope_rolls_back_on_error(database: Database) -> None:
    async def fail() -> None:
        async with database.scope() as session:
            session.add(Author(name="Calvino"))
            await session.flush()
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail()
    async with database.scope() as session:
        assert (await session.scalar(sa.select(sa.func.count()).select_from(Author))) == 0


async def test_session_dependency_commits_and_rolls_back(database: Database) -> None:
    generator = database.session()
    session = await generator.__anext__()
    assert isinstance(session, AsyncSession)
    session.add(Author(name="Eco"))
    with pytest.raises(StopAsyncIteration):
        await generator.__anext__()

    failing = database.session()
    session = await failing.__anext__()
    session.add(Author(name="Pessoa"))
    await session.flush()
    with pytest.raises(ValueError, match="handler failed"):
        await failing.athrow(ValueError("handler failed"))

    async with database.scope() as check:
        names = set((await check.scalars(sa.select(Author.name))).all())
    assert names == {"Eco"}


async def test_sqlite_enforces_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'fk.db'}", root_path=tmp_path, create_all=True)
    await db.connect()
    try:
        async with db.engine.connect() as connection:
            assert (await connection.execute(sa.text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await db.disconnect()


async def test_disconnect_is_idempotent_and_engine_recreated(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'a.db'}", root_path=tmp_path)
    first = db.engine
    await db.disconnect()
    await db.disconnect()
    assert db.engine is not first
    await db.disconnect()


async def test_startup_survives_unreachable_database(tmp_path: Path) -> None:
    db = Database(
        "postgresql://nobody@127.0.0.1:9/none",
        root_path=tmp_path,
        create_all=True,
        pool=PoolOptions(connect_timeout=1.0),
    )
    await db.connect()  # logs a warning instead of crashing the app
    await db.disconnect()


async def test_read_session_reads_in_autocommit(database: Database) -> None:
    async with database.scope() as session:
        session.add(Author(name="Reader"))
    generator = database.read_session()
    session = await generator.__anext__()
    try:
        assert (await session.scalar(sa.select(Author.name))) == "Reader"
        options = (await session.connection()).sync_connection.get_execution_options()
        assert options["isolation_level"] == "AUTOCOMMIT"
    finally:
        with pytest.raises(StopAsyncIteration):
            await generator.__anext__()
    # the shared pool hands the writer a transactional connection again
    async with database.scope() as session:
        options = (await session.connection()).sync_connection.get_execution_options()
        assert "isolation_level" not in options


def test_malformed_url_names_its_source(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATABASE_URL", "not a url")
    with pytest.raises(DatabaseError, match="DATABASE_URL environment variable"):
        Database(root_path=tmp_path).url  # noqa: B018
    with pytest.raises(DatabaseError, match="url argument"):
        Database("::", root_path=tmp_path).url  # noqa: B018


async def test_async_context_manager(tmp_path: Path) -> None:
    async with Database(
        f"sqlite:///{tmp_path / 'cm.db'}", root_path=tmp_path, create_all=True
    ) as db:
        async with db.scope() as session:
            session.add(Author(name="Scripted"))
        assert db._engine is not None
    assert db._engine is None


@pytest.mark.parametrize(
    "options",
    [
        {"size": 0},
        {"max_overflow": -1},
        {"timeout": 0},
        {"connect_timeout": -1},
        {"statement_timeout": 0},
    ],
)
def test_pool_options_are_validated(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="PoolOptions"):
        PoolOptions(**options)


async def test_unopenable_sqlite_file_fails_start_up(tmp_path: Path) -> None:
    db = Database(
        f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}", root_path=tmp_path, create_all=True
    )
    with pytest.raises(sa.exc.OperationalError, match="unable to open"):
        await db.connect()
    await db.disconnect()
    # NOTE: after a failed connect aiosqlite stops its worker thread without awaiting it; let
    # the thread report back before this test's event loop closes.
    for _ in range(200):
        if not any("_connection_worker_thread" in t.name for t in threading.enumerate()):
            break
        await asyncio.sleep(0.01)


async def test_session_commits_before_the_response(database_url: str, tmp_path: Path) -> None:
    app = App()
    db = Database(database_url, app=app, root_path=tmp_path, create_all=True)

    @app.post("/authors", status_code=201)
    async def create(name: str, session: AsyncSession = Depends(db.session)) -> dict[str, str]:
        session.add(Author(name=name))  # NOTE: no commit here: db.session commits
        return {"name": name}

    @app.get("/authors")
    async def names(session: AsyncSession = Depends(db.read_session)) -> list[str]:
        return sorted((await session.scalars(sa.select(Author.name))).all())

    async with AsyncTestClient(app) as client:
        created = await client.post("/authors", params={"name": "Le Guin"})
        assert created.status_code == 201
        # a client reading right after a write sees it
        assert (await client.get("/authors")).json() == ["Le Guin"]
        clash = await client.post("/authors", params={"name": "Le Guin"})
        assert clash.status_code == 409, clash.text
        assert clash.headers["content-type"].startswith("application/problem+json")
        assert "unique" in clash.json()["detail"]
        assert (await client.get("/authors")).json() == ["Le Guin"]


def test_session_is_function_scoped_unless_overridden(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'o.db'}")
    assert db.session.celeris_dependency_scope == "function"  # type: ignore[attr-defined]

    async def default(session: AsyncSession = Depends(db.session)) -> None:
        return None

    async def late(session: AsyncSession = Depends(db.session, scope="request")) -> None:
        return None

    assert compile_plan(default).params[0].early is True
    assert compile_plan(late).params[0].early is False
