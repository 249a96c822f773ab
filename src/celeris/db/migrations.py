"""Migrations through Alembic's API: no ``alembic.ini`` and no hand-edited ``env.py``.

``Migrations(directory, url, metadata)`` runs Alembic commands programmatically; the
``env.py`` that ``init`` writes calls ``run_environment()``, which reads the URL, metadata and
(when celeris runs migrations at start-up) an open connection from the Alembic config.
Revisions are rendered in batch mode so that the same file alters SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import io
import shutil
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from celeris.db.errors import DatabaseError

__all__ = ["MigrationError", "Migrations", "run_environment"]

TEMPLATE = Path(__file__).parent / "template"
_URL = "celeris.url"
_METADATA = "celeris.metadata"
_CONNECTION = "connection"


class MigrationError(DatabaseError):
    """A migration command cannot run; the message says how to fix it."""


class Migrations:
    """Alembic commands for one migrations folder, database URL and model metadata."""

    def __init__(self, directory: str | Path, url: str, metadata: MetaData | None = None) -> None:
        self.directory = Path(directory)
        self.url = url
        self.metadata = metadata

    @property
    def exists(self) -> bool:
        """Tell whether the migrations folder has been initialised."""
        return (self.directory / "env.py").is_file()

    def config(self, stdout: io.StringIO | None = None) -> Config:
        """Return an Alembic ``Config`` for this folder (no ini file involved)."""
        config = Config(stdout=stdout if stdout is not None else io.StringIO())
        config.set_main_option("script_location", str(self.directory))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        config.attributes[_URL] = self.url
        config.attributes[_METADATA] = self.metadata
        return config

    def _require(self) -> None:
        if not self.exists:
            raise MigrationError(
                f"no migrations folder at {self.directory}: run `celeris db init` first"
            )

    def init(self) -> Path:
        """Write the migrations folder from celeris's template; refuse to overwrite one."""
        if self.directory.exists() and any(self.directory.iterdir()):
            raise MigrationError(
                f"{self.directory} exists and is not empty: choose another --directory"
            )
        (self.directory / "versions").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(TEMPLATE / "env.py.tmpl", self.directory / "env.py")
        shutil.copyfile(TEMPLATE / "script.py.mako", self.directory / "script.py.mako")
        shutil.copyfile(TEMPLATE / "README", self.directory / "README")
        return self.directory

    def revision(self, message: str, *, autogenerate: bool = False) -> list[str]:
        """Write a new revision and return the paths of the files written."""
        self._require()
        if autogenerate and self.metadata is None:
            raise MigrationError(
                "--autogenerate needs the models: pass --app MODULE:ATTR naming your Database or App"
            )
        result = command.revision(self.config(), message=message, autogenerate=autogenerate)
        scripts = result if isinstance(result, list) else [result]
        return [script.path for script in scripts if script is not None]

    def upgrade(self, revision: str = "head", *, sql: bool = False) -> str:
        """Upgrade to ``revision``; return Alembic's output (the SQL when ``sql``)."""
        self._require()
        out = io.StringIO()
        command.upgrade(self.config(out), revision, sql=sql)
        return out.getvalue()

    def downgrade(self, revision: str, *, sql: bool = False) -> str:
        """Downgrade to ``revision`` (``-1``, ``base`` or an id)."""
        self._require()
        out = io.StringIO()
        command.downgrade(self.config(out), revision, sql=sql)
        return out.getvalue()

    def stamp(self, revision: str) -> None:
        """Record ``revision`` as current without running migrations."""
        self._require()
        command.stamp(self.config(), revision)

    def current(self, *, verbose: bool = False) -> str:
        """Return the database's current revision as Alembic prints it."""
        self._require()
        out = io.StringIO()
        command.current(self.config(out), verbose=verbose)
        return out.getvalue()

    def history(self, *, verbose: bool = False) -> str:
        """Return the revision history, newest first."""
        self._require()
        out = io.StringIO()
        command.history(self.config(out), verbose=verbose)
        return out.getvalue()

    def heads(self) -> tuple[str, ...]:
        """Return the head revision ids of the migrations folder."""
        self._require()
        return tuple(ScriptDirectory.from_config(self.config()).get_heads())

    def upgrade_connection(self, connection: Connection, revision: str = "head") -> None:
        """Upgrade through an open (sync-facing) connection; for ``AsyncConnection.run_sync``."""
        self._require()
        config = self.config()
        config.attributes[_CONNECTION] = connection
        command.upgrade(config, revision)


def current_revisions(connection: Connection) -> tuple[str, ...]:
    """Return the revisions recorded in the database behind ``connection``."""
    return tuple(MigrationContext.configure(connection).get_current_heads())


def _configure(connection: Connection | None, url: str, metadata: MetaData | None) -> None:
    options: dict[str, Any] = {
        "target_metadata": metadata,
        # NOTE: batch mode renders ALTERs as table copies on SQLite and as plain ALTERs on
        # PostgreSQL, so one revision file serves both.
        "render_as_batch": True,
        "compare_type": True,
    }
    if connection is None:
        context.configure(url=url, literal_binds=True, **options)
    else:
        context.configure(connection=connection, **options)


def _run_sync(connection: Connection, url: str, metadata: MetaData | None) -> None:
    _configure(connection, url, metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str, metadata: MetaData | None) -> None:
    engine = create_async_engine(url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync, url, metadata)
            await connection.commit()
    finally:
        await engine.dispose()


def run_environment() -> None:
    """Run the migrations Alembic asked for; called by the generated ``env.py``."""
    config = context.config
    url = config.attributes.get(_URL) or config.get_main_option("sqlalchemy.url")
    if not url:
        raise MigrationError("no database URL: run migrations through `celeris db`")
    metadata = config.attributes.get(_METADATA)
    if context.is_offline_mode():
        _configure(None, url, metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get(_CONNECTION)
    if connection is not None:
        _run_sync(connection, url, metadata)
        return
    asyncio.run(_run_async(url, metadata))
