"""The ``celeris`` command line (also ``python -m celeris``)."""

from __future__ import annotations

import click

from celeris.cli.routes import routes
from celeris.cli.serve import optional_module, run, serve

# NOTE: ``db`` needs the ``celeris[db]`` extra; without it the command is still listed and
# says how to install it. A real import error inside these modules still raises.
_db = optional_module("celeris.cli.db", extras=("sqlalchemy", "alembic"))
_openapi = optional_module("celeris.cli.openapi")


def _needs_extra(name: str, extra: str, summary: str) -> click.Command:
    def explain() -> None:
        raise click.ClickException(
            f"'celeris {name}' needs an extra: pip install 'celeris[{extra}]'"
        )

    return click.Command(name, callback=explain, help=f"{summary} (needs celeris[{extra}])")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="celeris", prog_name="celeris")
def main() -> None:
    """celeris: serve, inspect and manage celeris apps."""


main.add_command(serve)
main.add_command(run)
main.add_command(routes)
if _db is not None:
    main.add_command(_db.db)
else:
    main.add_command(_needs_extra("db", "db", "Manage the database and its migrations."))
if _openapi is not None:
    main.add_command(_openapi.openapi)

__all__ = ["main"]
