"""WebSocket fan-out side by side: celeris Channels on Redis against Django Channels with
channels_redis, the same broadcast to 1,000 subscribers, in one run.

    .venv/bin/python bench/channels/run.py [--quick] [--rounds 2] [--duration 5] [--warmup 2]
                                           [--subscribers 1000] [--window 16] [--workers 1]
                                           [--contenders celeris-pubsub,django-pubsub,...]

Each server runs pinned to CPU 0 and the client (``client.py``: 1,000 WebSocket subscribers
and the publisher, one process) to CPU 1. Every row is checked first (a ``websockets`` client
receives a published message), then timed; rows take turns, the order rotating each round,
and the table gives the median over rounds. Django Channels runs in its own pinned venv,
``bench/.venv-channels-peers`` (git-ignored), built on first use from
``requirements-peers.txt``. Writes ``<date>.md`` and ``<date>.json`` to
``bench/results/channels/`` (``--quick``: ``bench/.work/results/channels/``; ``--out DIR``).
See bench/channels/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
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

from bench import environment  # noqa: E402
from bench.contenders import Contender  # noqa: E402
from bench.server import Server, ServerError  # noqa: E402

SERVER_CPU, CLIENT_CPU = 0, 1
VENV = ROOT / "bench" / ".venv-channels-peers"
REQUIREMENTS = HERE / "requirements-peers.txt"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
# NOTE: the keys each app leaves in Redis (celeris Streams: the channel's stream; channels_redis:
# its group set and per-process message sets), deleted before and after each turn.
KEY_PATTERNS = ("celeris:channels:bench-fanout*", "bench-fanout-django*")


@dataclass(frozen=True)
class Row:
    """One line of the table: an app on a server with one configuration."""

    name: str
    title: str
    peer: bool  # runs in the Django Channels venv
    server: str  # "celeris", "daphne" or "uvicorn"
    env: tuple[tuple[str, str], ...]
    default: bool = True  # timed without --contenders


ROWS = (
    Row("celeris-pubsub", "celeris Channels, Redis pub/sub (`celeris serve`)", False, "celeris",
        (("BENCH_HISTORY", "0"),)),
    Row("celeris-streams", "celeris Channels, Redis Streams, `history=1000` (resumable)", False,
        "celeris", (("BENCH_HISTORY", "1000"),)),
    Row("django-redis", "Django Channels, `RedisChannelLayer` (daphne)", True, "daphne",
        (("BENCH_CHANNEL_LAYER", "redis"),)),
    Row("django-pubsub", "Django Channels, `RedisPubSubChannelLayer` (daphne)", True, "daphne",
        (("BENCH_CHANNEL_LAYER", "pubsub"),)),
    Row("django-pubsub-uvicorn", "Django Channels, `RedisPubSubChannelLayer` (uvicorn)", True,
        "uvicorn", (("BENCH_CHANNEL_LAYER", "pubsub"),)),
    # NOTE: for --workers 2, where daphne cannot run
    Row("django-redis-uvicorn", "Django Channels, `RedisChannelLayer` (uvicorn)", True,
        "uvicorn", (("BENCH_CHANNEL_LAYER", "redis"),), default=False),
)  # fmt: skip
BY_NAME = {row.name: row for row in ROWS}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run under a minute: 200 subscribers, 1 round of 2 s")  # fmt: skip
    parser.add_argument("--rounds", type=int, help="rounds (default 2; quick 1)")
    parser.add_argument("--duration", type=float, help="timed seconds per row (default 5)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per row (default 2)")
    parser.add_argument("--subscribers", type=int, help="WebSocket subscribers (default 1000)")
    parser.add_argument("--window", type=int, default=16, help="broadcasts in flight at most")
    parser.add_argument("--publishers", type=int, default=8, help="publishing connections")
    parser.add_argument("--workers", type=int, default=1, help="server processes (default 1)")
    parser.add_argument("--contenders", help=f"comma-separated subset of {', '.join(BY_NAME)}")
    parser.add_argument("--port", type=int, default=18_180)
    parser.add_argument("--out", type=Path, help="folder for the report")
    args = parser.parse_args(argv)
    quick = args.quick
    for name, full, short in (("rounds", 2, 1), ("duration", 5.0, 2.0), ("warmup", 2.0, 0.5),
                              ("subscribers", 1000, 200)):  # fmt: skip
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    if args.contenders:
        unknown = [n for n in args.contenders.split(",") if n not in BY_NAME]
        if unknown:
            parser.error(f"unknown contenders: {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    if min(args.workers, args.subscribers, args.window, args.publishers) < 1:
        parser.error("--workers, --subscribers, --window and --publishers must be at least 1")
    return args


def ensure_venv() -> Path:
    """Build bench/.venv-channels-peers (Django Channels, daphne, uvicorn) once; return bin."""
    stamp = VENV / ".requirements.sha256"
    wanted = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not (stamp.exists() and stamp.read_text().strip() == wanted):
        print("bench: setting up bench/.venv-channels-peers (Django Channels)", flush=True)
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


def contender(row: Row, peer_bin: Path | None, workers: int) -> Contender:
    """The server command of ``row`` (``{port}`` filled in by ``Server``)."""
    env = (("BENCH_REDIS_URL", REDIS_URL), *row.env)
    if row.server == "celeris":
        path = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
        argv = (sys.executable, "-m", "celeris", "serve", "{module}:app", "--port", "{port}",
                "--workers", str(workers), "--no-access-log", "--log-level", "warning",
                "--timeout-keep-alive", "60")  # fmt: skip
        return Contender(row.name, "celeris", "celeris", "bench.channels.celeris_app", argv,
                         env=(("PYTHONPATH", path), *env))  # fmt: skip
    assert peer_bin is not None
    module = "bench.channels.django_app"
    if row.server == "daphne":
        # NOTE: -v 0 turns daphne's access log off, as --no-access-log does for the others
        argv = (str(peer_bin / "daphne"), "-v", "0", "-b", "127.0.0.1", "-p", "{port}",
                "{module}:application")  # fmt: skip
    else:
        argv = (str(peer_bin / "uvicorn"), "{module}:application", "--port", "{port}",
                "--workers", str(workers), "--loop", "uvloop", "--http", "httptools",
                "--no-access-log", "--log-level", "warning", "--timeout-keep-alive", "60")  # fmt: skip
    return Contender(row.name, "django", row.server, module, argv,
                     env=(("PYTHONPATH", str(ROOT)), *env))  # fmt: skip


def clear(client: redis.Redis) -> None:
    """Delete what the apps of this bench left in Redis."""
    for pattern in KEY_PATTERNS:
        keys = list(client.scan_iter(match=pattern, count=500))
        if keys:
            client.delete(*keys)


def client_argv(mode: str, port: int, args: argparse.Namespace, pids: list[int]) -> list[str]:
    argv = ["taskset", "-c", str(CLIENT_CPU), sys.executable, str(HERE / "client.py"), mode,
            str(port)]  # fmt: skip
    if mode == "load":
        argv += ["--subscribers", str(args.subscribers), "--duration", str(args.duration),
                 "--warmup", str(args.warmup), "--window", str(args.window),
                 "--publishers", str(args.publishers),
                 "--server-pids", ",".join(map(str, pids))]  # fmt: skip
    return argv


def run_client(argv: list[str], timeout: float) -> dict[str, Any]:
    """Run the client; return its JSON line, or raise RuntimeError with why it failed."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"the client did not finish within {timeout:g} s") from None
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"client exit {done.returncode}: {done.stderr.strip()[-600:]}")
    return dict(json.loads(lines[-1]))


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run every round; return the samples, problems and medians."""
    names = args.contenders.split(",") if args.contenders else [r.name for r in ROWS if r.default]
    rows = [BY_NAME[n] for n in names]
    peer_bin = ensure_venv() if any(row.peer for row in rows) else None
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    logs = ROOT / "bench" / ".work" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    samples: dict[str, list[dict[str, Any]]] = {row.name: [] for row in rows}
    problems: dict[str, str] = {}
    # NOTE: rows that cannot run this configuration: n/a in the table, not a failure
    skipped = {row.name: "daphne runs one process (no --workers)" for row in rows
               if args.workers > 1 and row.server == "daphne"}  # fmt: skip
    budget = 90 + args.warmup + args.duration + args.subscribers / 50
    for round_no in range(1, args.rounds + 1):
        shift = (round_no - 1) % len(rows)
        for row in rows[shift:] + rows[:shift]:
            if row.name in problems or row.name in skipped:
                continue
            print(f"bench: round {round_no}/{args.rounds}: {row.name}", flush=True)
            clear(client)
            server = Server(contender(row, peer_bin, args.workers), "", args.port, SERVER_CPU,
                            logs / f"channels-{row.name}.log")  # fmt: skip
            if args.workers > 1:
                # NOTE: N workers get every CPU (the client shares CPU 1 with them)
                server.argv[2] = f"0-{(os.cpu_count() or 2) - 1}"
            try:
                server.start()
            except ServerError as exc:
                problems[row.name] = f"did not start: {exc}"
                continue
            try:
                run_client(client_argv("check", server.port, args, []), 30)
                sample = run_client(client_argv("load", server.port, args, server.pids()), budget)
            except RuntimeError as exc:
                problems[row.name] = f"failed: {exc}"
                print(f"bench:   {row.name}: {exc}", flush=True)
                continue
            finally:
                if not server.alive():
                    problems.setdefault(row.name, "the server died during the run")
                server.stop()
                clear(client)
            samples[row.name].append(sample)
            print(f"bench:   {row.name:22} {sample['deliveries_per_s']:10,.0f} deliveries/s "
                  f"p99 {sample['p99_ms']:.1f} ms ok={sample['ok']}", flush=True)  # fmt: skip
    client.close()
    return {"rows": names, "samples": samples, "problems": problems, "skipped": skipped,
            "summary": {name: summarize(s) for name, s in samples.items() if s}}  # fmt: skip


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over rounds; a round that lost, reordered or stalled makes the row INVALID."""
    if not samples:
        return {"valid": False}

    def median(key: str) -> float:
        return float(statistics.median(s[key] for s in samples))

    keys = ("deliveries_per_s", "broadcasts_per_s", "p50_ms", "p99_ms", "connect_s",
            "subscribed_s", "rss_before_kib", "rss_connected_kib", "rss_peak_kib",
            "client_cpu_share", "server_cpu_share", "server_cpu_us_per_delivery")  # fmt: skip
    summary: dict[str, Any] = {key: median(key) for key in keys}
    summary["valid"] = all(s["ok"] for s in samples)
    summary["lost"] = sum(s["lost"] for s in samples)
    summary["rounds"] = len(samples)
    return summary


def _mib(kib: float) -> str:
    return f"{kib / 1024:.1f}"


def render(data: dict[str, Any]) -> str:
    """The Markdown report: one table, ratios against the fastest Django Channels row."""
    meta = data["meta"]
    summary = data["summary"]
    valid_peers = [n for n in data["rows"] if BY_NAME[n].peer and summary.get(n, {}).get("valid")]
    peers = [summary[n]["deliveries_per_s"] for n in valid_peers]
    best_peer = max(peers) if peers else None
    costs = [summary[n]["server_cpu_us_per_delivery"] for n in valid_peers]
    best_cost = min(costs) if costs else None
    out = [
        f"## {meta['date']}: {meta['subscribers']:,} subscribers, {meta['workers']} worker(s), "
        f"{meta['rounds']} round(s) of {meta['duration']:g} s ({meta['warmup']:g} s warm-up), "
        f"{meta['window']} broadcasts in flight from {meta['publishers']} publishers",
        "",
        f"`uptime` at the start: `{meta['uptime']}` ({os.cpu_count()} CPUs, shared machine).",
        f"Machine: {meta['machine']}. Versions: {meta['versions']}.",
        f"Command: `{meta['command']}`",
        "",
        "| row | deliveries/s | x best Django | broadcasts/s | p50 ms | p99 ms "
        "| server CPU µs per delivery | x best Django (CPU) | server CPU | client CPU "
        "| connect s | subscribed s | RSS idle MiB | RSS subscribed MiB | KiB per subscriber |",
        "| --- |" + " ---: |" * 14,
    ]
    for name in data["rows"]:
        s = summary.get(name, {})
        title = BY_NAME[name].title
        if name in data.get("skipped", {}):
            out.append(f"| {title} | n/a: {data['skipped'][name]} |" + " |" * 13)
            continue
        if name in data["problems"] or "deliveries_per_s" not in s:
            why = data["problems"].get(name, "no sample")
            out.append(f"| {title} | INVALID: {why} |" + " |" * 13)
            continue
        mark = "" if s["valid"] else f" (INVALID: {s['lost']:,} lost or out of order)"
        per_sub = (s["rss_connected_kib"] - s["rss_before_kib"]) / meta["subscribers"]
        ratio = f"{s['deliveries_per_s'] / best_peer:.2f}" if best_peer else "-"
        cost = s["server_cpu_us_per_delivery"]
        cost_ratio = f"{best_cost / cost:.2f}" if best_cost and cost else "-"
        out.append(
            f"| {title} | {s['deliveries_per_s']:,.0f}{mark} | {ratio} "
            f"| {s['broadcasts_per_s']:,.1f} | {s['p50_ms']:.1f} | {s['p99_ms']:.1f} "
            f"| {cost:.1f} | {cost_ratio} | {s['server_cpu_share']:.0%} "
            f"| {s['client_cpu_share']:.0%} | {s['connect_s']:.2f} | {s['subscribed_s']:.2f} "
            f"| {_mib(s['rss_before_kib'])} | {_mib(s['rss_connected_kib'])} | {per_sub:.1f} |"
        )
    return "\n".join(out) + "\n"


def versions(peer: bool) -> str:
    found = [f"Python {platform.python_version()}"]
    if peer:
        pins = [line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines()]
        found += [pin for pin in pins if pin and not pin.startswith("py-spy")]
    server = subprocess.run(["redis-cli", "INFO", "server"], capture_output=True, text=True,
                            check=False).stdout  # fmt: skip
    for line in server.splitlines():
        if line.startswith("redis_version:"):
            found.append(f"Redis {line.split(':', 1)[1].strip()}")
    return ", ".join(found)


def describe_machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{cpu} ({os.cpu_count()} CPUs), {platform.system()} {platform.release()}"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout
    if not shutil.which("taskset") or (os.cpu_count() or 1) < 2:
        print("bench: cannot run: needs taskset and two CPUs", file=sys.stderr)
        return 1
    try:
        data = run(args)
    except (environment.SetupError, redis.RedisError) as exc:
        print(f"bench: cannot run: {exc}", file=sys.stderr)
        return 1
    machine = describe_machine()
    data["meta"] = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "rounds": args.rounds,
        "duration": args.duration,
        "warmup": args.warmup,
        "subscribers": args.subscribers,
        "window": args.window,
        "publishers": args.publishers,
        "workers": args.workers,
        "uptime": uptime.strip(),
        "machine": machine,
        "versions": versions(any(BY_NAME[n].peer for n in data["rows"])),
        "command": "bench/channels/run.py " + " ".join(argv),
    }
    table = render(data)
    default = ROOT / "bench" / (".work/results/channels" if args.quick else "results/channels")
    out = args.out or default
    out.mkdir(parents=True, exist_ok=True)
    stem = started.strftime("%Y-%m-%d")
    (out / f"{stem}.json").write_text(json.dumps(data, indent=1))
    (out / f"{stem}.md").write_text(table)
    print(table)
    timed = [n for n in data["rows"] if n not in data["skipped"]]
    valid = all(data["summary"].get(n, {}).get("valid") for n in timed)
    return 1 if data["problems"] or not valid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
