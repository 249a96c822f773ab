"""``celeris db``: migrations for an app's database (Alembic underneath, no ini file).

The database comes from ``--app MODULE:ATTR`` (a ``Database``, or an app that installed one),
else from ``--url`` / ``DATABASE_URL``. The migrations folder defaults to the Database's
(``migrations/`` next to the app) or ``./migrations``.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from alembic.util.exc import CommandError
from sqlalchemy.exc import ArgumentError

from celeris.db.database import Database
from celeris.db.errors import DatabaseError, Fault, classify
from celeris.db.migrations import Migrations
from celeris.db.url import database_url

__all__ = ["db", "load_database"]


def load_database(target: str) -> Database:
    """Import ``MODULE:ATTR`` and return the ``Database`` it names or its app holds."""
    module_name, _, attribute = target.partition(":")
    if not module_name:
        raise click.BadParameter(f"{target!r} is not MODULE:ATTR", param_hint="--app")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise click.BadParameter(
            f"cannot import {module_name!r}: {error}", param_hint="--app"
        ) from None
    candidates = [attribute] if attribute else ["db", "database", "app"]
    for name in candidates:
        value = getattr(module, name, None)
        if isinstance(value, Database):
            return value
        state = getattr(value, "state", None)
        found = getattr(state, "database", None)
        if isinstance(found, Database):
            return found
    raise click.BadParameter(
        f"{target!r} is neither a celeris.db.Database nor an app with one installed "
        "(create it with Database(app=app))",
        param_hint="--app",
    )


def _rendered(url: Any) -> str:
    """Return ``url`` with celeris's async driver, as a string Alembic can use."""
    try:
        return database_url(url).render_as_string(hide_password=False)
    except ArgumentError:
        raise click.BadParameter(f"{url!r} is not a database URL", param_hint="--url") from None


def _migrations(context: click.Context) -> Migrations:
    options: dict[str, Any] = context.obj
    database: Database | None = None
    if options["app"]:
        database = load_database(options["app"])
    elif options["url"]:
        database = Database(options["url"], root_path=Path.cwd())
    if database is None:
        database = Database(root_path=Path.cwd())
    directory = options["directory"] or database.migrations_dir
    metadata = database.metadata if options["app"] else None
    url = _rendered(database.url)
    if options["app"] and options["url_from_command_line"]:
        # NOTE: an explicit --url beats the app's own configuration, with the same driver
        # mapping as Database(url) (postgresql:// -> asyncpg, sqlite:// -> aiosqlite).
        url = _rendered(options["url"])
    return Migrations(directory, url, metadata)


@contextmanager
def _errors() -> Iterator[None]:
    """Turn migration failures into one-line CLI errors (exit status 1)."""
    try:
        yield
    except (DatabaseError, CommandError) as error:
        raise click.ClickException(str(error)) from None
    except Exception as error:
        fault = classify(error)
        if fault in (Fault.UNAVAILABLE, Fault.TIMEOUT):
            raise click.ClickException(f"database unreachable: {error}") from None
        raise


def _echo(text: str) -> None:
    if text:
        click.echo(text.rstrip("\n"))


@click.group(name="db")
@click.option("--app", "app", envvar="CELERIS_APP", help="MODULE:ATTR of a Database or an app.")
@click.option("--url", envvar="DATABASE_URL", help="Database URL when no --app is given.")
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Migrations folder (default: next to the app, else ./migrations).",
)
@click.pass_context
def db(context: click.Context, app: str | None, url: str | None, directory: Path | None) -> None:
    """Manage the database schema with migrations."""
    source = context.get_parameter_source("url")
    context.obj = {
        "app": app,
        "url": url,
        "url_from_command_line": source is click.core.ParameterSource.COMMANDLINE,
        "directory": directory,
    }


@db.command()
@click.pass_context
def init(context: click.Context) -> None:
    """Create the migrations folder."""
    with _errors():
        path = _migrations(context).init()
    click.echo(f"Created migrations in {path}")


@db.command()
@click.option("-m", "--message", required=True, help="What the revision does.")
@click.option("--autogenerate", is_flag=True, help="Compare the models with the database.")
@click.pass_context
def revision(context: click.Context, message: str, autogenerate: bool) -> None:
    """Write a new revision file."""
    with _errors():
        paths = _migrations(context).revision(message, autogenerate=autogenerate)
    for path in paths:
        click.echo(f"Created {path}")


@db.command()
@click.argument("revision", default="head")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
@click.pass_context
def upgrade(context: click.Context, revision: str, sql: bool) -> None:
    """Upgrade the database to REVISION (default: head)."""
    with _errors():
        _echo(_migrations(context).upgrade(revision, sql=sql))
    if not sql:
        click.echo(f"Upgraded to {revision}")


# NOTE: ignore_unknown_options lets a relative revision such as ``-1`` through as an argument.
@db.command(context_settings={"ignore_unknown_options": True})
@click.argument("revision")
@click.option("--sql", is_flag=True, help="Print the SQL instead of running it.")
@click.pass_context
def downgrade(context: click.Context, revision: str, sql: bool) -> None:
    """Downgrade the database to REVISION (an id, -1 or base)."""
    with _errors():
        _echo(_migrations(context).downgrade(revision, sql=sql))
    if not sql:
        click.echo(f"Downgraded to {revision}")


@db.command()
@click.option("-v", "--verbose", is_flag=True)
@click.pass_context
def current(context: click.Context, verbose: bool) -> None:
    """Show the database's current revision."""
    with _errors():
        text = _migrations(context).current(verbose=verbose)
    click.echo(text.rstrip("\n") or "(no revision applied)")


@db.command()
@click.option("-v", "--verbose", is_flag=True)
@click.pass_context
def history(context: click.Context, verbose: bool) -> None:
    """List the revisions, newest first."""
    with _errors():
        text = _migrations(context).history(verbose=verbose)
    click.echo(text.rstrip("\n") or "(no revisions)")


@db.command()
@click.argument("revision")
@click.pass_context
def stamp(context: click.Context, revision: str) -> None:
    """Record REVISION as current without running migrations."""
    with _errors():
        _migrations(context).stamp(revision)
    click.echo(f"Stamped {revision}")


@db.command()
@click.pass_context
def check(context: click.Context) -> None:
    """Fail if the models have changes that no revision covers yet."""
    with _errors():
        _migrations(context).check()
    click.echo("No new upgrade operations detected.")
