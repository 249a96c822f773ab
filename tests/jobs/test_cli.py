"""``celeris jobs`` and ``celeris worker`` on a real SQLite file and real processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from celeris.cli import main
from celeris.jobs import Jobs, State

APP = textwrap.dedent(
    """
    import asyncio, os
    from celeris import App
    from celeris.jobs import Jobs

    app = App()
    jobs = Jobs(os.environ["JOBS_URL"], app=app, poll=0.05, lease=5.0)

    @jobs.job(retries=0, name="nap")
    async def nap(seconds: float) -> str:
        await asyncio.sleep(seconds)
        return "rested"

    @jobs.job(retries=0, name="boom")
    async def boom() -> None:
        raise RuntimeError("kaboom")
    """
)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "cliapp.py").write_text(APP)
    monkeypatch.setenv("JOBS_URL", f"sqlite:///{tmp_path / 'jobs.db'}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def producer(project: Path) -> Jobs:
    jobs = Jobs(os.environ["JOBS_URL"], root_path=project)

    @jobs.job(name="nap", retries=0)
    async def nap(seconds: float) -> str: ...

    @jobs.job(name="boom", retries=0)
    async def boom() -> None: ...

    return jobs


def enqueue(project: Path, *calls: tuple[str, tuple[object, ...], dict[str, object]]) -> list[str]:
    async def go() -> list[str]:
        async with producer(project) as jobs:
            return [
                (await jobs.registry[name].enqueue(*args, **kwargs)).id
                for name, args, kwargs in calls
            ]

    return asyncio.run(go())


def state_of(project: Path, job_id: str) -> tuple[State, int]:
    async def go() -> tuple[State, int]:
        async with producer(project) as jobs:
            record = await jobs.get(job_id)
            assert record is not None
            return record.state, record.attempts

    return asyncio.run(go())


def worker(project: Path, *flags: str, stderr: object = subprocess.PIPE) -> subprocess.Popen[str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, str(project)])}
    return subprocess.Popen(
        [sys.executable, "-m", "celeris", "worker", "cliapp:app", *flags],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,  # type: ignore[arg-type]
        text=True,
    )


def test_jobs_commands(project: Path) -> None:
    queued, later = enqueue(project, ("nap", (0.0,), {}), ("nap", (1.0,), {"delay": 3600}))
    runner = CliRunner()
    listing = runner.invoke(main, ["jobs", "--app", "cliapp:app", "list"])
    assert listing.exit_code == 0, listing.output
    assert "queued 2" in listing.output
    assert queued in listing.output
    shown = runner.invoke(main, ["jobs", "--app", "cliapp:app", "show", queued])
    assert shown.exit_code == 0
    assert '{"seconds":0.0}' in shown.output
    cancelled = runner.invoke(main, ["jobs", "--app", "cliapp:app", "cancel", later])
    assert cancelled.output.strip() == f"{later} cancelled"
    assert state_of(project, later)[0] is State.CANCELLED
    again = runner.invoke(main, ["jobs", "--app", "cliapp:app", "cancel", later])
    assert again.exit_code == 1
    retried = runner.invoke(main, ["jobs", "--app", "cliapp:app", "retry", later])
    assert retried.output.strip() == f"{later} retried"
    assert state_of(project, later)[0] is State.QUEUED
    runner.invoke(main, ["jobs", "--app", "cliapp:app", "cancel", later])
    purged = runner.invoke(main, ["jobs", "--app", "cliapp:app", "purge", "--state", "cancelled"])
    assert purged.output.strip() == "purged 1 jobs"
    missing = runner.invoke(main, ["jobs", "--app", "cliapp:app", "show", "nope"])
    assert missing.exit_code == 2
    assert "no job 'nope'" in missing.output


def test_worker_bad_target_is_one_line(project: Path) -> None:
    result = CliRunner().invoke(main, ["worker", "cliapp:nothing"])
    assert result.exit_code == 2
    assert "neither a celeris.jobs.Jobs nor an app" in result.output


def test_worker_runs_jobs_and_stops_gracefully(project: Path) -> None:
    quick, slow, failing = enqueue(
        project, ("nap", (0.5,), {}), ("nap", (30.0,), {}), ("boom", (), {})
    )
    process = worker(project, "--grace", "1.5", "--status-interval", "0.5")
    assert process.stderr is not None
    assert process.stderr.readline().startswith("celeris worker")
    deadline = time.monotonic() + 20
    while state_of(project, slow)[0] is not State.RUNNING and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    assert "jobs/s" in err  # the status line
    assert "(stopped)" in err
    assert state_of(project, quick)[0] is State.DONE
    assert state_of(project, failing)[0] is State.FAILED
    # the 30 s job outlived the grace period: handed back, its attempt not counted
    assert state_of(project, slow) == (State.QUEUED, 0)


def test_worker_supervisor_restarts_and_stops_its_processes(project: Path) -> None:
    (job_id,) = enqueue(project, ("nap", (0.0,), {}))
    log = project / "worker.log"
    with log.open("w") as out:
        process = worker(project, "--workers", "2", "--status-interval", "0", stderr=out)

    deadline = time.monotonic() + 20
    while state_of(project, job_id)[0] is not State.DONE and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state_of(project, job_id)[0] is State.DONE
    children = children_of(process.pid)
    assert len(children) == 2
    os.kill(children[0], signal.SIGKILL)
    # the replacement prints its banner once it is ready (signal handlers in place)
    while log.read_text().count(" schedules, ") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    err = log.read_text()
    assert process.returncode == 0, err
    assert "restarting" in err
    assert err.count("(stopped)") == 2


def children_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(line) for line in out.stdout.split()]
