"""The ``celeris`` command line (also ``python -m celeris``)."""

from __future__ import annotations

import click

from celeris.cli.routes import routes
from celeris.cli.serve import optional_module, run, serve

# PERF: these commands import heavy libraries (SQLAlchemy and Alembic take ~200 ms), so they load
# only when they are run or listed: `celeris serve` starts without them.
# name -> (module, attribute, extra that provides its libraries or None, one-line summary)
_LAZY: dict[str, tuple[str, str, str | None, str]] = {
    "db": ("celeris.cli.db", "db", "db", "Manage the database and its migrations."),
    "openapi": ("celeris.cli.openapi", "openapi", None, "Print the OpenAPI document of an app."),
    "auth": ("celeris.cli.auth", "auth", "auth", "Create superusers and change passwords."),
    "worker": ("celeris.cli.worker", "worker", "jobs", "Run an app's jobs and schedules."),
    "jobs": ("celeris.cli.jobs", "jobs", "jobs", "List, retry, cancel and purge jobs."),
    "tickets": ("celeris.cli.tickets", "tickets", "tickets", "List, show and purge error tickets."),
    "check": ("celeris.cli.check", "check", None, "Run the deployment checks on an app."),
}
_EXTRA_LIBRARIES = {
    "db": ("sqlalchemy", "alembic"),
    "auth": ("sqlalchemy", "pwdlib"),
    "jobs": ("croniter", "sqlalchemy"),
    "tickets": ("sqlalchemy",),
}


def _needs_extra(name: str, extra: str, summary: str) -> click.Command:
    def explain() -> None:
        raise click.ClickException(
            f"'celeris {name}' needs an extra: pip install 'celeris[{extra}]'"
        )

    return click.Command(name, callback=explain, help=f"{summary} (needs celeris[{extra}])")


def _load(name: str) -> click.Command | None:
    """Import the lazy command ``name``; a missing extra gives a command that says what to install.

    A real import error inside the module still raises.
    """
    module_name, attribute, extra, summary = _LAZY[name]
    module = optional_module(module_name, extras=_EXTRA_LIBRARIES.get(extra or "", ()))
    if module is None:
        return _needs_extra(name, extra, summary) if extra else None
    command: click.Command = getattr(module, attribute)
    return command


class _Main(click.Group):
    """The top-level group: eager built-in commands plus the lazily imported ones."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *_LAZY])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _LAZY:
            return _load(cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="celeris", prog_name="celeris")
def main() -> None:
    """celeris: serve, inspect and manage celeris apps."""


main.add_command(serve)
main.add_command(run)
main.add_command(routes)

__all__ = ["main"]
