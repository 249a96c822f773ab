"""``celeris openapi MODULE:ATTR``: print or write an app's OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from celeris.cli.serve import Command, fail, load_app
from celeris.openapi.endpoints import document_of
from celeris.openapi.generator import OpenAPIError

__all__ = ["openapi"]


@click.command(cls=Command)
@click.argument("target", metavar="MODULE:ATTR")
@click.option("--factory", is_flag=True, help="ATTR is a factory returning the app.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the document to this file instead of standard output.",
)
@click.option(
    "--indent", type=click.IntRange(0, 8), default=2, show_default=True, help="JSON indent."
)
def openapi(target: str, factory: bool, output: Path | None, indent: int) -> None:
    """Print the OpenAPI 3.1 document of the app MODULE:ATTR as JSON."""
    app: Any = load_app(target, factory=factory)
    try:
        document = document_of(app)
    except (OpenAPIError, TypeError) as exc:
        fail(f"{target}: {exc}")
    text = json.dumps(document, indent=indent or None, ensure_ascii=False) + "\n"
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    click.echo(f"wrote {output} ({len(document.get('paths', {}))} paths)", err=True)
