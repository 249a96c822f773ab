"""The ``celeris`` command line (also ``python -m celeris``)."""

from __future__ import annotations

import click

from celeris.cli.routes import routes
from celeris.cli.serve import optional_module, run, serve

# NOTE: ``db`` and ``openapi`` come from other packages' CLI modules when present; a real
# import error inside them still raises (optional_module only swallows their absence).
_db = optional_module("celeris.cli.db")
_openapi = optional_module("celeris.cli.openapi")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="celeris", prog_name="celeris")
def main() -> None:
    """celeris: serve, inspect and manage celeris apps."""


main.add_command(serve)
main.add_command(run)
main.add_command(routes)
if _db is not None:
    main.add_command(_db.db)
if _openapi is not None:
    main.add_command(_openapi.openapi)

__all__ = ["main"]
