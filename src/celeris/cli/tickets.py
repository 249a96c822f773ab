"""``celeris tickets``: list, show, resolve and purge the error tickets of an app."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from celeris.cli.serve import check_target, fail
from celeris.tickets import TicketGroup, Tickets

__all__ = ["tickets"]

T = TypeVar("T")


def load_tickets(target: str) -> Tickets:
    """Import ``MODULE:ATTR`` and return the ``Tickets`` it names or its app holds."""
    check_target(target)
    module_name, _, attribute = target.partition(":")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except Exception as error:
        fail(f"importing {module_name!r} raised {type(error).__name__}: {error}")
    value: Any = module
    for part in attribute.split("."):
        value = getattr(value, part, None)
    if isinstance(value, Tickets):
        return value
    found = getattr(getattr(value, "state", None), "tickets", None)
    if not isinstance(found, Tickets):
        fail(f"{target!r} is neither a celeris.tickets.Tickets nor an app with one")
    return found


def _run(context: click.Context, action: Callable[[Tickets], Awaitable[T]]) -> T:
    target = context.obj["app"]
    if not target:
        fail("celeris tickets needs --app MODULE:ATTR (or CELERIS_APP)")
    registry = load_tickets(target)

    async def main() -> T:
        try:
            async with registry:
                return await action(registry)
        finally:
            database = getattr(getattr(registry.app, "state", None), "database", None)
            if database is not None:
                await database.disconnect()

    return asyncio.run(main())


def _line(group: TicketGroup) -> str:
    seen = group.last_seen.strftime("%Y-%m-%d %H:%M:%S")
    state = "resolved" if group.resolved else "open"
    return (
        f"{group.id}  {state:<8}  x{group.count:<5}  {seen}  {group.exc_type}: {group.message[:80]}"
    )


@click.group()
@click.option("--app", "app", envvar="CELERIS_APP", help="MODULE:ATTR of the app or Tickets.")
@click.pass_context
def tickets(context: click.Context, app: str | None) -> None:
    """Inspect and manage the error tickets of an app."""
    context.obj = {"app": app}


@tickets.command("list")
@click.option("--search", default=None, help="Only groups whose type, message or route match.")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.pass_context
def list_tickets(context: click.Context, search: str | None, limit: int) -> None:
    """List ticket groups, the most recently seen first."""

    async def action(registry: Tickets) -> tuple[list[TicketGroup], int]:
        return await registry.list(search=search, limit=limit), await registry.count(search)

    groups, count = _run(context, action)
    click.echo(f"{count} group(s)")
    for group in groups:
        click.echo(_line(group))


@tickets.command()
@click.argument("group_id")
@click.pass_context
def show(context: click.Context, group_id: str) -> None:
    """Show one group and its newest ticket: request and traceback."""
    group = _run(context, lambda registry: registry.get(group_id))
    if group is None:
        fail(f"no ticket group {group_id!r}")
    click.echo(_line(group))
    click.echo(f"route: {group.route or '-'}   first seen: {group.first_seen:%Y-%m-%d %H:%M:%S}")
    if not group.samples:
        return
    sample = group.samples[0]
    click.echo(f"ticket {sample.id}  release {sample.release or '-'}  user {sample.user or '-'}")
    if sample.request:
        click.echo(f"{sample.request.get('method')} {sample.request.get('url')}")
    click.echo("Traceback (most recent call last):")
    for frame in sample.frames:
        click.echo(f'  File "{frame["filename"]}", line {frame["lineno"]}, in {frame["function"]}')
        for line in frame.get("context_lines", ()):
            if line["lineno"] == frame["lineno"]:
                click.echo(f"    {line['line'].strip()}")
        for name, value in frame.get("locals", {}).items():
            click.echo(f"      {name} = {value}")
    click.echo(f"{sample.exc_type}: {sample.message}")


@tickets.command()
@click.argument("group_id")
@click.pass_context
def resolve(context: click.Context, group_id: str) -> None:
    """Mark a group resolved (it opens again if the error recurs)."""
    if not _run(context, lambda registry: registry.resolve(group_id)):
        fail(f"no ticket group {group_id!r}")
    click.echo(f"resolved {group_id}")


@tickets.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def purge(context: click.Context, yes: bool) -> None:
    """Delete every ticket."""
    if not yes:
        click.confirm("Delete every ticket?", abort=True)
    count = _run(context, lambda registry: registry.purge())
    click.echo(f"purged {count} group(s)")
