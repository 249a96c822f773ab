"""A cached route side by side: celeris uncached, celeris ``cache.response`` on Redis, FastAPI
with fastapi-cache2 on the same Redis (and FastAPI uncached), measured with wrk in one run.

    .venv/bin/python bench/cache/run.py [--rounds 2] [--duration 5] [--warmup 1]
                                        [--contenders celeris,celeris-cached,...]

Each server runs pinned to CPU 0 and wrk to CPU 1, as in bench/run.py; every route is checked
(status, JSON equal to the page, a cache hit stored in Redis) before it is timed; the table
gives the median over the rounds. Prints a Markdown table and writes it with the raw samples
to bench/.work/results/cache-<date>.{md,json} (``--out`` elsewhere). See bench/cache/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import http.client
import json
import os
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench import environment, wrk  # noqa: E402
from bench.cache.work import page  # noqa: E402
from bench.contenders import Contender  # noqa: E402
from bench.server import Server, ServerError  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
VENV = ROOT / "bench" / ".work" / "venv-cache"
REQUIREMENTS = HERE / "requirements.txt"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIXES = {"celeris": "bench-cache-celeris:", "fastapi": "bench-cache-fastapi"}
UVICORN = (
    "{bin}/uvicorn", "{module}:app", "--port", "{port}", "--workers", "1", "--loop", "uvloop",
    "--http", "httptools", "--no-access-log", "--log-level", "warning",
    "--timeout-keep-alive", "60",
)  # fmt: skip


@dataclass(frozen=True)
class Line:
    """One row of the table: a route of one app."""

    name: str
    app: str  # "celeris" or "fastapi": which server serves it
    path: str
    cached: bool
    title: str


LINES = (
    Line("celeris", "celeris", "/page", False, "celeris, uncached"),
    Line("celeris-cached", "celeris", "/cached", True, "celeris, `cache.response(ttl=60)` on Redis"),
    Line("fastapi", "fastapi", "/page", False, "FastAPI on uvicorn, uncached"),
    Line("fastapi-cache2", "fastapi", "/cached", True, "FastAPI + fastapi-cache2 `@cache(expire=60)`, RedisBackend"),
)  # fmt: skip
BY_NAME = {line.name: line for line in LINES}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=2, help="rounds (default 2)")
    parser.add_argument("--duration", type=float, default=5.0, help="timed seconds per route")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per route")
    parser.add_argument("--connections", type=int, default=64, help="HTTP connections")
    parser.add_argument("--contenders", help=f"comma-separated subset of {', '.join(BY_NAME)}")
    parser.add_argument("--port", type=int, default=18_090)
    parser.add_argument(
        "--out", type=Path, help="folder for the report (default bench/.work/results)"
    )
    args = parser.parse_args(argv)
    if args.contenders:
        unknown = [n for n in args.contenders.split(",") if n not in BY_NAME]
        if unknown:
            parser.error(f"unknown contenders: {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    return args


def ensure_venv() -> Path:
    """Build bench/.work/venv-cache (FastAPI, uvicorn, fastapi-cache2) once; return its bin."""
    stamp = VENV / ".requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not (stamp.exists() and stamp.read_text().strip() == wanted):
        print("bench: setting up bench/.work/venv-cache (FastAPI, fastapi-cache2)", flush=True)
        steps = [
            [sys.executable, "-m", "venv", str(VENV)],
            [str(VENV / "bin" / "python"), "-m", "pip", "install", "-q",
             "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        ]  # fmt: skip
        for argv in steps:
            done = subprocess.run(argv, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise environment.SetupError(f"{argv[2]} failed:\n{done.stderr[-2000:]}")
        stamp.write_text(wanted)
    return VENV / "bin"


def contender(app: str, fastapi_bin: Path | None) -> Contender:
    """The server of ``app``: celeris's own on this interpreter, or uvicorn in the venv."""
    path = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
    env = (("PYTHONPATH", path), ("BENCH_REDIS_URL", REDIS_URL))
    argv: tuple[str, ...]
    if app == "celeris":
        argv = (sys.executable, "-m", "celeris", "serve", "{module}:app", "--port", "{port}",
                "--workers", "1", "--no-access-log", "--timeout-keep-alive", "60")  # fmt: skip
        return Contender("celeris", "celeris", "celeris", "bench.cache.celeris_app", argv, env=env)
    assert fastapi_bin is not None
    argv = tuple(part.replace("{bin}", str(fastapi_bin)) for part in UVICORN)
    return Contender("fastapi", "fastapi", "uvicorn", "bench.cache.fastapi_app", argv, env=env)


class CheckFailed(AssertionError):
    """A route does not answer what the bench expects."""


def _get(port: int, path: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders()}
        return response.status, headers, response.read()
    finally:
        conn.close()


def clear(client: redis.Redis, prefix: str) -> int:
    """Delete this bench's keys (``prefix*``) from Redis; return how many there were."""
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    return len(keys)


def check(line: Line, port: int, client: redis.Redis) -> None:
    """Raise CheckFailed unless ``line``'s route answers the page (and caches it in Redis)."""
    expected = page()
    for attempt in (1, 2):
        status, headers, body = _get(port, line.path)
        if status != 200:
            raise CheckFailed(f"{line.path}: status {status} on request {attempt}")
        if not headers.get("content-type", "").startswith("application/json"):
            raise CheckFailed(f"{line.path}: content-type {headers.get('content-type')!r}")
        if json.loads(body) != expected:
            raise CheckFailed(f"{line.path}: the body is not the page on request {attempt}")
    if not line.cached:
        return
    prefix = PREFIXES[line.app]
    if not list(client.scan_iter(match=f"{prefix}*")):
        raise CheckFailed(f"{line.path}: nothing stored in Redis under {prefix}*")
    if line.app == "fastapi" and headers.get("x-fastapi-cache") != "HIT":
        raise CheckFailed(f"{line.path}: the second answer is not a HIT: {headers}")
    if line.app == "celeris" and "etag" not in headers:
        raise CheckFailed(f"{line.path}: the cached answer has no ETag: {headers}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every round; return the samples and the medians."""
    lines = [ln for ln in LINES if not args.contenders or ln.name in args.contenders.split(",")]
    apps = list(dict.fromkeys(line.app for line in lines))
    fastapi_bin = ensure_venv() if "fastapi" in apps else None
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    logs = ROOT / "bench" / ".work" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    samples: dict[str, list[dict[str, Any]]] = {line.name: [] for line in lines}
    problems: dict[str, str] = {}
    url = f"http://127.0.0.1:{args.port}"
    for round_no in range(1, args.rounds + 1):
        shift = (round_no - 1) % len(apps)
        for app in apps[shift:] + apps[:shift]:
            print(f"bench: round {round_no}/{args.rounds}: {app}", flush=True)
            server = Server(contender(app, fastapi_bin), "", args.port, SERVER_CPU,
                            logs / f"cache-{app}.log")  # fmt: skip
            try:
                server.start()
            except ServerError as exc:
                for line in lines:
                    if line.app == app:
                        problems[line.name] = f"did not start: {exc}"
                continue
            try:
                clear(client, PREFIXES[app])
                for line in (ln for ln in lines if ln.app == app):
                    if line.name in problems:
                        continue
                    try:
                        check(line, server.port, client)
                    except (CheckFailed, OSError, ValueError) as exc:
                        problems[line.name] = f"check failed: {exc}"
                        print(f"bench:   {line.name}: {exc}", flush=True)
                        continue
                    if args.warmup:
                        wrk.run(url + line.path, args.warmup, args.connections, cpu=CLIENT_CPU)
                    res = wrk.run(url + line.path, args.duration, args.connections, cpu=CLIENT_CPU)
                    sample = {"rps": res.requests_per_sec, "p50_ms": res.p50_ms,
                              "p99_ms": res.p99_ms, "errors": list(res.errors)}  # fmt: skip
                    samples[line.name].append(sample)
                    print(f"bench:   {line.name:15} {res.requests_per_sec:10,.1f} req/s "
                          f"p99 {res.p99_ms:.1f} ms {'; '.join(res.errors)}", flush=True)  # fmt: skip
                if not server.alive():
                    problems[app] = "the server died during the run"
            finally:
                server.stop()
                clear(client, PREFIXES[app])
    client.close()
    return {"lines": [line.name for line in lines], "samples": samples, "problems": problems,
            "summary": {name: summarize(s) for name, s in samples.items()}}  # fmt: skip


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds; a sample with errors makes the line INVALID."""
    if not samples:
        return {"valid": False}
    return {
        "valid": not any(s["errors"] for s in samples),
        "rps": statistics.median(s["rps"] for s in samples),
        "p50_ms": statistics.median(s["p50_ms"] for s in samples),
        "p99_ms": statistics.median(s["p99_ms"] for s in samples),
        "rounds": len(samples),
    }


def render(data: dict[str, Any]) -> str:
    """The Markdown table of the run, relative to celeris uncached when it ran."""
    meta = data["meta"]
    out = [
        f"## {meta['date']}: {meta['rounds']} rounds of {meta['duration']:g} s "
        f"({meta['warmup']:g} s warm-up), {meta['connections']} connections",
        "",
        f"Load average at the start: {meta['load']} on {os.cpu_count()} CPUs (shared machine).",
        f"Machine: {meta['machine']['cpu']}, {meta['machine']['kernel']}, "
        f"Python {meta['machine']['python']}, {meta['machine']['wrk']}.",
        "",
        "| route | req/s (median) | p50 ms | p99 ms | x celeris uncached |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    base = data["summary"].get("celeris", {}).get("rps")
    for name in data["lines"]:
        s = data["summary"][name]
        title = BY_NAME[name].title
        if name in data["problems"] or not s.get("rps"):
            out.append(f"| {title} | INVALID: {data['problems'].get(name, 'no sample')} | | | |")
            continue
        mark = "" if s["valid"] else " (INVALID: errors)"
        ratio = f"{s['rps'] / base:.2f}" if base else "-"
        out.append(
            f"| {title} | {s['rps']:,.0f}{mark} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | {ratio} |"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    try:
        environment.ensure_tools()
        data = run(args)
    except (environment.SetupError, redis.RedisError) as exc:
        print(f"bench: cannot run: {exc}", file=sys.stderr)
        return 1
    data["meta"] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "rounds": args.rounds,
        "duration": args.duration,
        "warmup": args.warmup,
        "connections": args.connections,
        "load": load,
        "machine": environment.machine(),
    }
    table = render(data)
    out = args.out or ROOT / "bench" / ".work" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"cache-{started.strftime('%Y-%m-%d')}"
    (out / f"{stem}.json").write_text(json.dumps(data, indent=1))
    (out / f"{stem}.md").write_text(table)
    print(table)
    return 1 if data["problems"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
