"""Tests for celeris.db.migrations and ``celeris db``: upgrade from empty, downgrade, re-upgrade."""

from __future__ import annotations

import asyncio
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

    v2 = _write_app(
        tmp_path, database_url, extra="summary: Mapped[str | None] = mapped_column(sa.Text)"
    )
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
    await database.connect()
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
