"""celeris jobs side by side with Celery, arq and SAQ: one command, one report.

    .venv/bin/python bench/jobs/compare.py [--quick] [--jobs 3000] [--repeat 3]
                                           [--only celeris-amqp,arq] [--kinds noop,sleep]

For each system, the no-op job then the 10 ms-sleep job: one worker process with concurrency 50
(``--concurrency``), 32 concurrent enqueuing requests (``--clients``) to an in-process ASGI
app, then a wait until every job is done by its stored result (drive.py, harness.py). The
peers run in their own venv, bench/.venv-jobs-peers, made here from the pinned
requirements-peers.txt when it is missing. The report goes to bench/results/jobs/<date>.md
(``--quick``: 400 jobs each, celeris on SQLite and RabbitMQ and the three peers, printed only,
about a minute: for CI).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PEERS_VENV = ROOT / "bench" / ".venv-jobs-peers"
SYSTEMS = {
    "celeris-sqlite": "celeris, SQLite (the default)",
    "celeris-amqp": "celeris on RabbitMQ (records in SQLite)",
    "celeris-redis": "celeris on Redis streams (records in SQLite)",
    "celeris-nats": "celeris on NATS JetStream (records in SQLite)",
    "celery": "Celery 5.7 on RabbitMQ (results in Redis)",
    "arq": "arq 0.28 on Redis",
    "saq": "SAQ 0.26 on Redis",
}
QUICK_SKIPS = {"celeris-redis", "celeris-nats"}  # --quick: celeris on SQLite and RabbitMQ only
SETUP = """\
Each system: one worker process, concurrency 50, started before the first enqueue; 32
concurrent requests to an in-process ASGI app whose handler enqueues one job (celeris: a
celeris App; the peers: a bare ASGI callable, no framework, so the peers pay no routing);
"jobs/s end to end" is jobs / (first enqueue → last job's result stored); enqueue p50/p99 are
the request latencies. Every system acknowledges after the job ran and stores each result:

- celeris: records (state, attempts, result) in SQLite (jobs.db; on a broker too), the broker
  message acknowledged after the result is stored; the bench jobs have retries=0. celeris's
  defaults: on SQLite a worker claims again at once while it finds jobs, and an idle one backs
  off from 10 ms to `poll=0.5` s; on a broker it waits on the broker, which celeris publishes
  to without publisher confirms (as Celery), persistent messages.
- Celery 5.7: amqp broker (RabbitMQ, durable queue, persistent messages),
  `task_acks_late=True`, results in Redis, `--pool threads --concurrency 50`, prefetch
  multiplier 4 (its default); the jobs are sync functions, the 10 ms one `time.sleep(0.01)`.
- arq 0.28: `max_jobs=50`, `poll_delay=0.01` (the default 0.5 s caps it at 100 jobs/s),
  `keep_result=3600`.
- SAQ 0.26: `concurrency=50`, results in the job hash (its default).
"""


def peers_python() -> Path:
    python = PEERS_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        requirements = HERE / "requirements-peers.txt"
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "-r", str(requirements)], check=True
        )
    return python


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_one(system: str, kind: str, options: argparse.Namespace) -> dict[str, float] | str:
    python = Path(sys.executable) if system.startswith("celeris") else peers_python()
    command = [str(python), str(HERE / "drive.py"), system, kind, "--jobs", str(options.jobs)]
    command += ["--clients", str(options.clients), "--concurrency", str(options.concurrency)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=200, env=env)
    except subprocess.TimeoutExpired:
        return "timed out"
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, float] = json.loads(line[len("RESULT ") :])
            return result
    return f"failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--quick", action="store_true", help="400 jobs each, no Redis/NATS celeris, no report"
    )
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--only", default="", help="comma-separated systems: " + ",".join(SYSTEMS))
    parser.add_argument("--kinds", default="noop,sleep")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per row, round robin; the median is shown"
    )
    options = parser.parse_args()
    if options.quick:
        options.jobs = min(options.jobs, 400)
    default = [s for s in SYSTEMS if not (options.quick and s in QUICK_SKIPS)]
    systems = [s for s in options.only.split(",") if s] or default
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}; choose from {list(SYSTEMS)}")
    started = time.monotonic()
    load_before = load()
    rows: list[str] = []
    best: dict[str, dict[str, float]] = {}
    header = "| system | job | jobs/s end to end | enqueues/s | enqueue p50 ms | enqueue p99 ms |"
    print(header + "\n| --- | --- | ---: | ---: | ---: | ---: |", flush=True)
    for kind in options.kinds.split(","):
        runs: dict[str, list[dict[str, float]]] = {system: [] for system in systems}
        failures: dict[str, str] = {}
        for _ in range(options.repeat):  # NOTE: round robin, so a load change hits all alike
            for system in systems:
                outcome = run_one(system, kind, options)
                if isinstance(outcome, str):
                    failures[system] = outcome
                else:
                    runs[system].append(outcome)
        for system in systems:
            done = sorted(runs[system], key=lambda r: r["jobs_per_s"])
            result = done[len(done) // 2] if done else failures[system]  # the median run
            if isinstance(result, str):
                row = f"| {SYSTEMS[system]} | {kind} | {result} | | | |"
            else:
                best.setdefault(kind, {})[system] = result["jobs_per_s"]
                row = (
                    f"| {SYSTEMS[system]} | {kind} | {result['jobs_per_s']:,.0f} "
                    f"| {result['enqueue_per_s']:,.0f} | {result['enqueue_p50_ms']:.1f} "
                    f"| {result['enqueue_p99_ms']:.1f} |"
                )
            rows.append(row)
            print(row, flush=True)
    ratios = []
    for kind, figures in best.items():
        peers = {s: v for s, v in figures.items() if not s.startswith("celeris")}
        if not peers:
            continue
        fastest = max(peers, key=lambda s: peers[s])
        for system, value in figures.items():
            if system.startswith("celeris"):
                ratios.append(
                    f"- {kind}: {SYSTEMS[system]} / fastest peer ({SYSTEMS[fastest]}, "
                    f"{peers[fastest]:,.0f}/s) = {value / peers[fastest]:.2f}x"
                )
    print("\n".join(ratios))
    elapsed = time.monotonic() - started
    print(f"load average before {load_before}, after {load()}; {elapsed:.0f} s")
    if options.quick:
        return
    today = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    out = ROOT / "bench" / "results" / "jobs" / f"{today}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    text = (
        f"# Jobs end to end, side by side ({today}, commit {commit})\n\n"
        f"`python bench/jobs/compare.py --jobs {options.jobs} --repeat {options.repeat}`: "
        f"{options.jobs} jobs per run, "
        f"{os.cpu_count()} CPUs shared with other work, Python {platform.python_version()}; "
        f"load average before {load_before}, after {load()}. The median of {options.repeat} "
        "run(s) per row, the systems taking turns: read ±20 %.\n\n"
        f"{SETUP}\n{header}\n| --- | --- | ---: | ---: | ---: | ---: |\n"
        + "\n".join(rows)
        + "\n\n"
        + "\n".join(ratios)
        + "\n"
    )
    out.write_text(text)
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
