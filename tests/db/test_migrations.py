"""Tests for celeris.db.migrations and ``celeris db``: upgrade from empty, downgrade, re-upgrade."""

from __future__ import annotations

import asyncio
import importlib
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.ext.asyncio import create_async_engine

from celeris.cli.db import db
from celeris.db.database import Database
from celeris.db.migrations import MigrationError, Migrations
from celeris.testing import TestClient

from .conftest import private_postgres

APP_V1 = """
    import sqlalchemy as sa
    from sqlalchemy import MetaData
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

    from celeris.db.database import Database
    from celeris.db.model import NAMING_CONVENTION


    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)


    class Post(Base):
        __tablename__ = "post"
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str] = mapped_column(sa.String(100), unique=True)
        {extra}

    db = Database({url!r}, metadata=Base.metadata)
"""


def _write_app(tmp_path: Path, url: str, extra: str = "") -> str:
    name = f"blog_{uuid.uuid4().hex[:10]}"
    source = textwrap.dedent(APP_V1).format(url=url, extra=extra)
    (tmp_path / f"{name}.py").write_text(source)
    return f"{name}:db"


def _columns(url: str) -> dict[str, set[str]]:
    async def inspect() -> dict[str, set[str]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(
                    lambda sync: {
                        table: {c["name"] for c in sa.inspect(sync).get_columns(table)}
                        for table in sa.inspect(sync).get_table_names()
                    }
                )
        finally:
            await engine.dispose()

    return asyncio.run(inspect())


def _run(*args: str) -> str:
    result = CliRunner().invoke(db, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_upgrade_downgrade_reupgrade(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    v1 = _write_app(tmp_path, database_url)
    assert "Created migrations" in _run("--app", v1, "init")
    assert (tmp_path / "migrations" / "env.py").is_file()

    first = _run("--app", v1, "revision", "--autogenerate", "-m", "create posts")
    assert "create_posts" in first
    _run("--app", v1, "upgrade")
    assert _columns(database_url)["post"] == {"id", "title"}

    assert "No new upgrade operations" in _run("--app", v1, "check")
    v2 = _write_app(
        tmp_path, database_url, extra="summary: Mapped[str | None] = mapped_column(sa.Text)"
    )
    pending = CliRunner().invoke(db, ["--app", v2, "check"])
    assert pending.exit_code == 1
    assert "revision --autogenerate" in pending.output
    second = _run("--app", v2, "revision", "--autogenerate", "-m", "add summary")
    revision_file = Path(second.split("Created ", 1)[1].strip())
    assert "batch_alter_table" in revision_file.read_text()
    _run("--app", v2, "upgrade", "head")
    assert _columns(database_url)["post"] == {"id", "title", "summary"}
    head = revision_file.name.split("_", 1)[0]
    assert head in _run("--app", v2, "current")
    history = _run("--app", v2, "history")
    assert "create posts" in history
    assert "add summary" in history

    _run("--app", v2, "downgrade", "-1")
    assert _columns(database_url)["post"] == {"id", "title"}
    _run("--app", v2, "downgrade", "base")
    assert "post" not in _columns(database_url)
    assert "(no revision applied)" in _run("--app", v2, "current")

    _run("--app", v2, "upgrade")
    assert _columns(database_url)["post"] == {"id", "title", "summary"}
    sql = _run("--app", v2, "upgrade", "--sql", "base:head")
    assert "CREATE TABLE post" in sql


def test_url_without_app_and_offline_sql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'plain.db'}"
    _run("--url", url, "init")
    _run("--url", url, "revision", "-m", "empty")
    assert "Upgraded to head" in _run("--url", url, "upgrade")
    assert "Stamped base" in _run("--url", url, "stamp", "base")


def test_errors_are_one_line_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = runner.invoke(db, ["--url", "sqlite:///x.db", "upgrade"])
    assert result.exit_code == 1
    assert "run `celeris db init` first" in result.output
    runner.invoke(db, ["--url", "sqlite:///x.db", "init"])
    again = runner.invoke(db, ["--url", "sqlite:///x.db", "init"])
    assert again.exit_code == 1
    assert "not empty" in again.output
    no_models = runner.invoke(
        db, ["--url", "sqlite:///x.db", "revision", "--autogenerate", "-m", "x"]
    )
    assert no_models.exit_code == 1
    assert "--app" in no_models.output
    bad_app = runner.invoke(db, ["--app", "no_such_module_xyz:db", "current"])
    assert bad_app.exit_code == 2
    assert "cannot import" in bad_app.output
    unknown = runner.invoke(db, ["--url", "sqlite:///x.db", "downgrade", "nosuchrev"])
    assert unknown.exit_code == 1
    assert "Traceback" not in unknown.output
    down = runner.invoke(db, ["--url", "postgresql://nobody@127.0.0.1:9/none", "current"])
    assert down.exit_code == 1
    assert "database unreachable" in down.output


async def test_startup_runs_migrations(database_url: str, tmp_path: Path) -> None:
    migrations = Migrations(tmp_path / "migrations", database_url)
    migrations.init()
    (tmp_path / "migrations" / "versions" / "0001_note.py").write_text(
        textwrap.dedent(
            """
            import sqlalchemy as sa
            from alembic import op

            revision = "0001"
            down_revision = None
            branch_labels = None
            depends_on = None


            def upgrade() -> None:
                op.create_table("note", sa.Column("id", sa.Integer, primary_key=True))


            def downgrade() -> None:
                op.drop_table("note")
            """
        )
    )
    database = Database(database_url, root_path=tmp_path)
    other = Database(database_url, root_path=tmp_path)  # a second worker starting at once
    await asyncio.gather(database.connect(), other.connect())
    await other.disconnect()
    try:
        async with database.scope() as session:
            await session.execute(sa.text("INSERT INTO note (id) VALUES (1)"))
        async with database.engine.connect() as connection:
            version = await connection.scalar(sa.text("SELECT version_num FROM alembic_version"))
        assert version == "0001"
        await database.connect()  # a second start is a no-op
    finally:
        await database.disconnect()
    assert migrations.heads() == ("0001",)


def test_migrations_require_init(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="celeris db init"):
        Migrations(tmp_path / "none", "sqlite://").history()


WORKER = """
import asyncio, sys
from celeris.db.database import Database
db = Database(sys.argv[1], root_path=sys.argv[2])
async def main():
    await db.migrate()
    await db.disconnect()
asyncio.run(main())
"""


def test_workers_starting_together_migrate_once(database_url: str, tmp_path: Path) -> None:
    Migrations(tmp_path / "migrations", database_url).init()
    for number in range(1, 4):
        previous = repr(f"{number - 1:04}") if number > 1 else None
        (tmp_path / "migrations" / "versions" / f"{number:04}_t.py").write_text(
            textwrap.dedent(
                f'''
                import sqlalchemy as sa
                from alembic import op

                revision = "{number:04}"
                down_revision = {previous}


                def upgrade() -> None:
                    op.create_table("t{number}", sa.Column("id", sa.Integer, primary_key=True))


                def downgrade() -> None:
                    op.drop_table("t{number}")
                '''
            )
        )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, database_url, str(tmp_path)], stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    for worker in workers:
        _, stderr = worker.communicate(timeout=60)
        assert worker.returncode == 0, stderr.decode()
    assert {"t1", "t2", "t3"} <= set(_columns(database_url))


def test_first_run_creates_the_sqlite_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    source = textwrap.dedent(APP_V1).format(url=None, extra="")
    source += "\nfrom celeris.core.app import App\napp = App()\ndb.install(app)\n"
    name = f"firstrun_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(source)
    _run("--app", f"{name}:app", "init")
    _run("--app", f"{name}:app", "revision", "--autogenerate", "-m", "initial")
    module = importlib.import_module(name)
    (tmp_path / "app.db").unlink(missing_ok=True)
    with TestClient(module.app):
        pass
    assert "post" in _columns(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")


def test_command_line_url_overrides_the_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    app = _write_app(tmp_path, f"sqlite:///{tmp_path / 'configured.db'}")
    _run("--app", app, "init")
    _run("--app", app, "revision", "--autogenerate", "-m", "posts")
    other = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    _run("--app", app, "--url", other, "upgrade")
    assert "post" in _columns(other)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'from-env.db'}")
    _run("--app", app, "upgrade")  # the environment does not beat the app's explicit URL
    assert "post" in _columns(f"sqlite+aiosqlite:///{tmp_path / 'configured.db'}")
    assert not (tmp_path / "from-env.db").exists()


PARENT_CHILD = """
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table("parent", sa.Column("id", sa.Integer, primary_key=True), sa.Column("name", sa.String(10)))
    op.create_table(
        "child",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("parent.id", ondelete="CASCADE", name="fk_child_parent")),
    )


def downgrade() -> None:
    op.drop_table("child")
    op.drop_table("parent")
"""

WIDEN_PARENT = """
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("parent") as batch:
        batch.alter_column("name", type_=sa.String(50))


def downgrade() -> None:
    with op.batch_alter_table("parent") as batch:
        batch.alter_column("name", type_=sa.String(10))
"""


async def test_startup_batch_migration_keeps_child_rows(database_url: str, tmp_path: Path) -> None:
    versions = Migrations(tmp_path / "migrations", database_url).init() / "versions"
    (versions / "0001_parent.py").write_text(PARENT_CHILD)
    database = Database(database_url, root_path=tmp_path)
    await database.connect()
    try:
        async with database.scope() as session:
            await session.execute(sa.text("INSERT INTO parent (id, name) VALUES (1, 'p')"))
            await session.execute(sa.text("INSERT INTO child (id, parent_id) VALUES (1, 1)"))
        (versions / "0002_widen.py").write_text(WIDEN_PARENT)
        await database.migrate()
        async with database.scope() as session:
            assert await session.scalar(sa.text("SELECT count(*) FROM child")) == 1
            with pytest.raises(sa.exc.IntegrityError):
                await session.execute(sa.text("INSERT INTO child (id, parent_id) VALUES (2, 99)"))
    finally:
        await database.disconnect()


@pytest.mark.parametrize("scheme", ["sqlite", "postgresql", "postgres"])
def test_command_line_url_gets_the_async_driver(
    scheme: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    # `celeris db --app M:db --url URL` maps plain URLs to asyncpg/aiosqlite like Database(url).
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    app = _write_app(tmp_path, f"sqlite:///{tmp_path / 'configured.db'}")
    _run("--app", app, "init")
    _run("--app", app, "revision", "--autogenerate", "-m", "posts")
    if scheme == "sqlite":
        target = f"sqlite:///{tmp_path / 'other.db'}"
        check = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
        _run("--app", app, "--url", target, "upgrade")
        assert "post" in _columns(check)
        return
    private = private_postgres(request.getfixturevalue("postgres_url"))
    check = next(private)
    try:
        target = check.replace("postgresql+asyncpg://", f"{scheme}://", 1)
        _run("--app", app, "--url", target, "upgrade")
        assert "post" in _columns(check)
        assert "(head)" in _run("--app", app, "--url", target, "current")
    finally:
        private.close()


APP_DATETIME = """
    import datetime as dt

    from sqlalchemy import MetaData
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

    from celeris.db import Database, DateTime
    from celeris.db.model import NAMING_CONVENTION


    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)
        type_annotation_map = {{dt.datetime: DateTime()}}


    class Event(Base):
        __tablename__ = "event"
        id: Mapped[int] = mapped_column(primary_key=True)
        at: Mapped[dt.datetime]

    db = Database({url!r}, metadata=Base.metadata)
"""


def test_datetime_columns_render_as_plain_sqlalchemy(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    name = f"events_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(APP_DATETIME).format(url=database_url))
    _run("--app", f"{name}:db", "init")
    _run("--app", f"{name}:db", "revision", "--autogenerate", "-m", "events")
    [revision] = (tmp_path / "migrations" / "versions").glob("*.py")
    assert "sa.DateTime(timezone=True)" in revision.read_text()
    assert "celeris" not in revision.read_text()
    _run("--app", f"{name}:db", "upgrade")
    assert "No new upgrade operations" in _run("--app", f"{name}:db", "check")


def test_tables_a_battery_keeps_for_itself_are_never_dropped(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The jobs battery creates celeris_jobs itself, outside the models' metadata: without the
    # filter, --autogenerate wrote op.drop_table('celeris_jobs') and `check` failed.
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    app = _write_app(tmp_path, database_url)
    _run("--app", app, "init")
    _run("--app", app, "revision", "--autogenerate", "-m", "create posts")
    _run("--app", app, "upgrade")

    async def add_tables() -> None:
        engine = create_async_engine(database_url)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    sa.text("CREATE TABLE celeris_jobs (id INTEGER PRIMARY KEY)")
                )
                await connection.execute(sa.text("CREATE TABLE legacy (id INTEGER PRIMARY KEY)"))
        finally:
            await engine.dispose()

    asyncio.run(add_tables())
    pending = CliRunner().invoke(db, ["--app", app, "check"])
    assert pending.exit_code == 1  # an unknown table of the user's own is still reported
    revision = _run("--app", app, "revision", "--autogenerate", "-m", "drop legacy")
    text = Path(revision.split("Created ", 1)[1].strip()).read_text()
    assert "drop_table('legacy')" in text
    assert "celeris_jobs" not in text
