"""``celeris jobs``: list, show, retry, cancel and purge the jobs of an app."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from celeris.cli.serve import fail
from celeris.cli.worker import load_jobs
from celeris.jobs import JobRecord, Jobs, State

__all__ = ["jobs"]

T = TypeVar("T")

_STATES = click.Choice([s.value for s in State])


def _run(context: click.Context, action: Callable[[Jobs], Awaitable[T]]) -> T:
    target = context.obj["app"]
    if not target:
        fail("celeris jobs needs --app MODULE:ATTR (or CELERIS_APP)")
    registry = load_jobs(target)
    registry.embedded_worker = False

    async def main() -> T:
        async with registry:
            return await action(registry)

    return asyncio.run(main())


def _when(moment: float | None) -> str:
    if moment is None:
        return "-"
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


@click.group()
@click.option("--app", "app", envvar="CELERIS_APP", help="MODULE:ATTR of the app or Jobs.")
@click.pass_context
def jobs(context: click.Context, app: str | None) -> None:
    """Inspect and manage queued, failed and finished jobs."""
    context.obj = {"app": app}


@jobs.command("list")
@click.option("--state", type=_STATES, default=None)
@click.option("--queue", default=None)
@click.option("--name", default=None, help="Only jobs of this job name.")
@click.option("--limit", default=20, show_default=True)
@click.pass_context
def list_jobs(
    context: click.Context, state: str | None, queue: str | None, name: str | None, limit: int
) -> None:
    """List jobs, newest first, with a count per state."""

    async def action(registry: Jobs) -> tuple[list[JobRecord], dict[str, int]]:
        rows = await registry.list(state=state, queue=queue, name=name, limit=limit)
        return rows, await registry.counts()

    rows, counts = _run(context, action)
    click.echo("  ".join(f"{key} {value}" for key, value in counts.items()))
    for row in rows:
        click.echo(
            f"{row.id}  {row.state.value:<9}  {row.queue:<10}  try {row.attempts}/{row.max_attempts}"
            f"  {_when(row.created_at)}  {row.name}"
        )


@jobs.command()
@click.argument("job_id")
@click.pass_context
def show(context: click.Context, job_id: str) -> None:
    """Show one job: arguments, attempts, result or last error."""
    row = _run(context, lambda registry: registry.get(job_id))
    if row is None:
        fail(f"no job {job_id!r}")
    for field in (
        "id",
        "name",
        "queue",
        "state",
        "priority",
        "args",
        "attempts",
        "max_attempts",
        "timeout",
        "unique_key",
        "worker",
        "result",
    ):
        value = getattr(row, field)
        click.echo(f"{field:<12} {value.value if isinstance(value, State) else value}")
    for field in ("created_at", "run_at", "started_at", "finished_at"):
        click.echo(f"{field:<12} {_when(getattr(row, field))}")
    if row.error:
        click.echo("error:\n" + row.error)


@jobs.command()
@click.argument("job_ids", nargs=-1, required=True)
@click.pass_context
def retry(context: click.Context, job_ids: tuple[str, ...]) -> None:
    """Queue failed or cancelled jobs again."""
    _each(context, job_ids, "retried", lambda registry, job_id: registry.retry(job_id))


@jobs.command()
@click.argument("job_ids", nargs=-1, required=True)
@click.pass_context
def cancel(context: click.Context, job_ids: tuple[str, ...]) -> None:
    """Cancel queued jobs."""
    _each(context, job_ids, "cancelled", lambda registry, job_id: registry.cancel(job_id))


def _each(
    context: click.Context,
    job_ids: tuple[str, ...],
    verb: str,
    action: Callable[[Jobs, str], Awaitable[bool]],
) -> None:
    async def run_all(registry: Jobs) -> list[bool]:
        return [await action(registry, job_id) for job_id in job_ids]

    outcomes = _run(context, run_all)
    for job_id, ok in zip(job_ids, outcomes, strict=True):
        click.echo(f"{job_id} {verb}" if ok else f"{job_id} unchanged (not in a state for that)")
    if not all(outcomes):
        raise SystemExit(1)


@jobs.command()
@click.option("--state", "states", type=_STATES, multiple=True, help="Default: done.")
@click.option("--older-than", type=float, default=None, help="Seconds since the job finished.")
@click.pass_context
def purge(context: click.Context, states: tuple[str, ...], older_than: float | None) -> None:
    """Delete finished jobs (done by default; failed and cancelled on request)."""
    chosen: Any = states or (State.DONE.value,)
    count = _run(context, lambda registry: registry.purge(chosen, older_than=older_than))
    click.echo(f"purged {count} jobs")
