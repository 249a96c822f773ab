"""Faults for real: worker processes killed with SIGKILL mid-job, restarted, none lost.

Each job appends (job number, start time) to a log file when it starts; at the end every job is
done with its own result, and no job ever started after it had finished (a finished job is
never run again). A killed worker's running jobs are handed out again once their lease expires.
The suite runs the full-size chaos run (10,000 jobs) on SQLite, the default backend, and 800
jobs on PostgreSQL and RabbitMQ; CELERIS_CHAOS_JOBS=10000 runs the full size on those too.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from celeris.db import Database, PoolOptions
from celeris.jobs import Jobs, State
from tests.db.conftest import private_postgres
from tests.db.tcp_proxy import TCPProxy
from tests.jobs.conftest import delete_queue

APP = textwrap.dedent(
    """
    import asyncio, os, time
    from celeris import App
    from celeris.jobs import Jobs

    app = App()
    jobs = Jobs(os.environ["JOBS_URL"], app=app, poll=0.05, lease=2.0, queue=os.environ["QUEUE"])
    LOG = os.environ["RUN_LOG"]

    @jobs.job(retries=20, name="double")
    async def double(n: int) -> int:
        with open(LOG, "a") as log:
            log.write(f"{n} {time.time()!r}\\n")
        await asyncio.sleep(float(os.environ.get("JOB_SLEEP", "0")))
        return 2 * n
    """
)


@pytest.fixture(params=["sqlite", "postgresql", "amqp"])
def jobs_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
    elif request.param == "amqp":  # records in jobs.db next to the app, work through RabbitMQ
        yield request.getfixturevalue("rabbitmq_url")
    else:
        yield from private_postgres(request.getfixturevalue("postgres_url"))


def start_worker(tmp_path: Path, env: dict[str, str], concurrency: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "celeris", "worker", "chaosapp:app"]
    command += ["--concurrency", str(concurrency), "--status-interval", "0", "--grace", "1"]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return process


def wait_ready(process: subprocess.Popen[bytes]) -> None:
    """Read the worker's banner, printed once its signal handlers are in place."""
    assert process.stderr is not None
    banner = process.stderr.readline().decode()
    assert banner.startswith("celeris worker"), banner


async def run_chaos(
    tmp_path: Path,
    url: str,
    total: int,
    sleep: float,
    kills: int,
    at_least: int,
    concurrency: int = 8,
    within: float = 600.0,
) -> None:
    (tmp_path / "chaosapp.py").write_text(APP)
    queue = f"chaos{uuid.uuid4().hex[:8]}"
    log = tmp_path / "runs.log"
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {
        **os.environ,
        "JOBS_URL": url,
        "RUN_LOG": str(log),
        "JOB_SLEEP": str(sleep),
        "QUEUE": queue,
        "PYTHONPATH": os.pathsep.join([src, str(tmp_path)]),
    }
    jobs = Jobs(url, root_path=tmp_path, queue=queue)

    @jobs.job(name="double")
    async def double(n: int) -> int: ...  # the producer's view of the job: same name

    rng = random.Random(14)
    async with jobs:
        handles = []
        for chunk in range(0, total, 200):  # concurrent enqueues share a transaction
            batch = range(chunk, min(total, chunk + 200))
            handles += await asyncio.gather(*(double.enqueue(n) for n in batch))
        workers = [start_worker(tmp_path, env, concurrency) for _ in range(2)]
        for worker in workers:
            wait_ready(worker)
        ready = set(workers)
        deadline = time.monotonic() + within
        killed = 0
        try:
            while time.monotonic() < deadline:
                counts = await jobs.counts()
                if counts[State.DONE] == total:
                    break
                await asyncio.sleep(rng.uniform(0.3, 1.0))
                if killed < kills and counts[State.RUNNING] and ready.issuperset(workers):
                    victim = workers.pop(rng.randrange(len(workers)))
                    victim.send_signal(signal.SIGKILL)
                    victim.wait()
                    assert victim.stderr is not None
                    victim.stderr.close()
                    killed += 1
                    workers.append(start_worker(tmp_path, env, concurrency))
                for worker in workers:
                    if worker not in ready and worker.stderr is not None:
                        # NOTE: only a started worker is killed again, so each kill hits one
                        # that holds jobs; peek without blocking the loop for long.
                        await asyncio.to_thread(wait_ready, worker)
                        ready.add(worker)
        finally:
            for worker in workers:
                if worker not in ready:
                    wait_ready(worker)
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                _, err = worker.communicate(timeout=30)
                assert worker.returncode == 0, err.decode()[-2000:]
        assert killed >= at_least
        counts = await jobs.counts()
        assert counts[State.DONE] == total, counts
        records = {r.id: r for r in await jobs.list(limit=total + 10)}
        finished = {}
        for n, handle in enumerate(handles):
            record = records[handle.id]
            assert record.state is State.DONE
            assert record.result is not None
            assert json.loads(record.result) == 2 * n
            finished[n] = record.finished_at
        for n in rng.sample(range(total), 20):  # and through the public handle
            assert await handles[n].result(timeout=1) == 2 * n
        starts: dict[int, list[float]] = defaultdict(list)
        for line in log.read_text().splitlines():
            n_text, at = line.split()
            starts[int(n_text)].append(float(at))
        assert set(starts) == set(range(total))  # none lost
        for n, times in starts.items():
            assert max(times) <= finished[n], f"job {n} started again after it had finished"
        if url.startswith("amqp"):
            await delete_queue(url, queue)
        reruns = sum(len(times) - 1 for times in starts.values())
        print(
            f"chaos on {url.split(':')[0]}: {total} jobs done once, {killed} kills, {reruns} re-runs"
        )
        # only jobs a killed worker held run twice: those running (its concurrency) and those
        # whose results it was still writing (a slot is freed while the outcome is recorded,
        # so at most as many again): 2 x concurrency per kill
        assert reruns <= killed * 2 * concurrency


@pytest.mark.timeout(120)
async def test_kill_9_workers_mid_job_loses_nothing(tmp_path: Path, jobs_url: str) -> None:
    if jobs_url.startswith("sqlite"):  # the default backend: full size, bounded in time
        await run_chaos(
            tmp_path,
            jobs_url,
            total=10_000,
            sleep=0.01,
            kills=6,
            at_least=3,
            concurrency=16,
            within=90.0,
        )
    else:
        await run_chaos(tmp_path, jobs_url, total=800, sleep=0.2, kills=3, at_least=3)


@pytest.mark.timeout(900)
@pytest.mark.skipif(not os.environ.get("CELERIS_CHAOS_JOBS"), reason="set CELERIS_CHAOS_JOBS=10000")
async def test_chaos_full_size(tmp_path: Path, jobs_url: str) -> None:
    total = int(os.environ["CELERIS_CHAOS_JOBS"])
    await run_chaos(tmp_path, jobs_url, total=total, sleep=0.005, kills=50, at_least=3)


@pytest.fixture
def private_pg(postgres_url: str) -> Iterator[str]:
    yield from private_postgres(postgres_url)


async def test_database_cut_and_restored_while_jobs_flow(private_pg: str, tmp_path: Path) -> None:
    url = private_pg
    target = make_url(url)
    proxy = TCPProxy(target.host or "127.0.0.1", target.port or 5432)
    port = await proxy.start()
    pool = PoolOptions(connect_timeout=1.0, statement_timeout=2.0)
    through = Database(
        target.set(port=port).render_as_string(hide_password=False), pool=pool, root_path=tmp_path
    )
    direct = Database(url, root_path=tmp_path)
    workers = Jobs(db=through, poll=0.05, lease=2.0, root_path=tmp_path)
    producer = Jobs(db=direct, root_path=tmp_path)
    ran: list[int] = []
    for jobs in (workers, producer):

        @jobs.job(name="step", retries=10, backoff=0.1)
        async def step(n: int) -> int:
            ran.append(n)
            await asyncio.sleep(0.02)
            return n

    try:
        async with producer, workers:
            handles = [await producer.registry["step"].enqueue(n) for n in range(150)]
            worker = workers.worker(concurrency=5)
            task = asyncio.create_task(worker.run())
            while len(ran) < 20:
                await asyncio.sleep(0.01)
            await proxy.cut()  # the database is gone for the workers
            await asyncio.sleep(2.5)
            assert len(ran) < 150
            await proxy.restore()
            results = [await h.result(timeout=60) for h in handles]
            assert results == list(range(150))
            assert (await producer.counts())[State.DONE] == 150
            worker.stop()
            await task
    finally:
        await proxy.close()
        await through.disconnect()
        await direct.disconnect()
