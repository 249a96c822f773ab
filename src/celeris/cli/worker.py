"""``celeris worker MODULE:ATTR``: run an app's jobs and schedules until SIGTERM / SIGINT.

``ATTR`` names a ``celeris.jobs.Jobs`` or an app that attached one (``Jobs(app=app)``). The app's
start-up and shutdown handlers run around the worker (so its Database connects). On a stop
signal the worker stops claiming, lets running jobs finish within ``--grace`` seconds and hands
the rest back to the queue. ``--workers N`` runs N such processes under a supervisor that
restarts any that dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import click

from celeris.cli.serve import Command, check_target, fail
from celeris.jobs import Jobs

__all__ = ["load_jobs", "worker"]


def load_jobs(target: str) -> Jobs:
    """Import ``MODULE:ATTR`` and return the ``Jobs`` it names or its app holds."""
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
    if isinstance(value, Jobs):
        return value
    found = getattr(getattr(value, "state", None), "jobs", None)
    if not isinstance(found, Jobs):
        fail(f"{target!r} is neither a celeris.jobs.Jobs nor an app with one (use Jobs(app=app))")
    return found


async def _serve(jobs: Jobs, options: dict[str, Any]) -> None:
    """Start the app (or the jobs), run one worker until a signal, stop gracefully."""
    jobs.embedded_worker = False  # NOTE: this process is the worker; no second one inside
    app = jobs.app
    lifespan = getattr(app, "lifespan", None)
    if lifespan is not None:
        await lifespan.startup()
    else:
        await jobs.open()
    worker = jobs.worker(
        concurrency=options["concurrency"],
        queues=options["queues"],
        grace=options["grace"],
        schedules=not options["no_schedules"],
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    click.echo(
        f"celeris worker {worker.name}: {len(jobs.registry)} jobs, {len(jobs.schedules)} "
        f"schedules, queues {','.join(worker.queues or ['*'])}, on {jobs.backend.url}",
        err=True,
    )
    status = asyncio.create_task(_status(worker, options["status_interval"]))
    try:
        await worker.run()
    finally:
        status.cancel()
        click.echo(worker.status() + " (stopped)", err=True)
        if lifespan is not None:
            await lifespan.shutdown()
        else:
            await jobs.close()


async def _status(worker: Any, interval: float) -> None:
    if interval <= 0:
        return
    last, then = 0, time.monotonic()
    while True:
        await asyncio.sleep(interval)
        now = time.monotonic()
        finished = worker.done + worker.failed + worker.retried
        rate = (finished - last) / (now - then)
        last, then = finished, now
        click.echo(f"{worker.status()}, {rate:.0f} jobs/s", err=True)


def _supervise(argv: list[str], count: int) -> None:
    """Run ``count`` worker processes; restart any that dies; forward stop signals."""
    stopping = False
    children: list[subprocess.Popen[bytes]] = []

    def stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    children.extend(subprocess.Popen(argv) for _ in range(count))
    while True:
        for index, child in enumerate(children):
            code = child.poll()
            if code is not None and not stopping:
                click.echo(
                    f"celeris worker: process {child.pid} exited ({code}); restarting", err=True
                )
                children[index] = subprocess.Popen(argv)
        if stopping and all(child.poll() is not None for child in children):
            return
        time.sleep(0.2)


@click.command(cls=Command)
@click.argument("target")
@click.option(
    "--concurrency", "-c", default=10, show_default=True, help="Jobs run at once per process."
)
@click.option(
    "--queues", "-q", default=None, help="Comma-separated queues to take jobs from (default: all)."
)
@click.option("--workers", "-w", default=1, show_default=True, help="Worker processes.")
@click.option(
    "--grace", default=30.0, show_default=True, help="Seconds running jobs get to finish on stop."
)
@click.option(
    "--status-interval",
    default=10.0,
    show_default=True,
    help="Seconds between status lines (0: none).",
)
@click.option("--no-schedules", is_flag=True, help="Do not run cron schedules in this worker.")
def worker(target: str, **options: Any) -> None:
    """Run the jobs and schedules of TARGET (MODULE:ATTR, an app or a Jobs)."""
    if options["concurrency"] < 1 or options["workers"] < 1:
        fail("--concurrency and --workers must be at least 1")
    queues = options["queues"]
    if options["workers"] > 1:
        argv = [sys.executable, "-m", "celeris", "worker", target, "--workers", "1"]
        for flag in ("concurrency", "grace", "status_interval"):
            argv += [f"--{flag.replace('_', '-')}", str(options[flag])]
        argv += ["--queues", queues] if queues else []
        argv += ["--no-schedules"] if options["no_schedules"] else []
        _supervise(argv, options["workers"])
        return
    options["queues"] = [q.strip() for q in queues.split(",") if q.strip()] if queues else None
    jobs = load_jobs(target)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        runner(_serve(jobs, options))
