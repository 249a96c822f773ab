"""Run the benchmark suite: every contender, every test, one machine, one run.

    python bench/run.py            # the full run: report in bench/results/<date>.md + .png
    python bench/run.py --quick    # CI's minute-long smoke run: report in bench/.work/results/

Exit status: 0 when the suite worked (results may still be INVALID, the report says so),
1 when it is broken (set-up failed, or the raw floor itself fails its checks), 2 on bad usage.
See bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import environment, report, wrk  # noqa: E402
from bench.checks import CHECKS, CheckFailed, cookie_header, login_cookies  # noqa: E402
from bench.contenders import BY_NAME, CONTENDERS, REFERENCE, Contender  # noqa: E402
from bench.server import Server, ServerError  # noqa: E402
from bench.workloads import BY_NAME as WORKLOADS_BY_NAME  # noqa: E402
from bench.workloads import WORKLOADS, Workload  # noqa: E402

FLOOR = "raw-uvloop"
SERVER_CPU, CLIENT_CPU = 0, 1
QUICK_TIMED = ("celeris", "celeris-compiled", "starlette", FLOOR)
QUICK_TESTS = ("plaintext", "json", "db", "websocket", "idle", "coldstart")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke run (about a minute)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--duration", type=float, default=10.0, help="timed seconds per test")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per test")
    parser.add_argument("--connections", type=int, default=64, help="HTTP connections")
    parser.add_argument("--idle-connections", type=int, default=15_000)
    parser.add_argument("--contenders", help="comma-separated subset (default: all)")
    parser.add_argument("--tests", help="comma-separated subset (default: all)")
    parser.add_argument("--port", type=int, default=18_080)
    parser.add_argument("--out", type=Path, help="folder for the report (default bench/results)")
    parser.add_argument("--conditions", default="", help="a sentence on the machine's load")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warmup = 1, 2.0, 1.0
        args.idle_connections = min(args.idle_connections, 1_000)
        args.tests = args.tests or ",".join(QUICK_TESTS)
    for option, known in (("contenders", BY_NAME), ("tests", WORKLOADS_BY_NAME)):
        chosen = getattr(args, option)
        if chosen:
            unknown = [n for n in chosen.split(",") if n not in known]
            if unknown:
                parser.error(f"unknown {option}: {', '.join(unknown)}; known: {', '.join(known)}")
    return args


def bench_contenders(args: argparse.Namespace) -> list[Contender]:
    """Return the contenders this run takes, in registry order."""
    return [c for c in CONTENDERS if not args.contenders or c.name in args.contenders.split(",")]


class Bench:
    """One run: the chosen contenders and tests, and the samples they give."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.contenders = bench_contenders(args)
        self.tests = [w for w in WORKLOADS if not args.tests or w.name in args.tests.split(",")]
        self.bin = str(environment.peer_bin())
        self.samples: dict[str, dict[str, list[dict[str, Any]]]] = {w.name: {} for w in self.tests}
        self.failed_checks: dict[str, dict[str, str]] = {}
        self.problems: dict[str, str] = {}
        self.logs = ROOT / "bench" / ".work" / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def timed(self, contender: Contender) -> bool:
        # NOTE: --quick times the reference lines only, unless --contenders names whom to time.
        return not self.args.quick or bool(self.args.contenders) or contender.name in QUICK_TIMED

    def add(self, test: str, contender: str, sample: dict[str, Any]) -> None:
        self.samples[test].setdefault(contender, []).append(sample)

    def run(self) -> None:
        for round_no in range(1, self.args.rounds + 1):
            # NOTE: rotate the order each round so no contender always follows the same one.
            shift = (round_no - 1) % len(self.contenders)
            for contender in self.contenders[shift:] + self.contenders[:shift]:
                if contender.name in self.problems:
                    continue
                print(f"bench: round {round_no}/{self.args.rounds}: {contender.name}", flush=True)
                self.run_contender(contender, first=round_no == 1)

    def run_contender(self, contender: Contender, first: bool) -> None:
        # NOTE: the tests of an ``app`` (Workload.app) run on a server of their own.
        self.run_app(contender, "", first)
        for app in dict.fromkeys(t.app for t in self.tests if t.app):
            if contender.module_for(app) is not None and contender.name not in self.problems:
                self.run_app(contender, app, first)

    def group(self, contender: Contender, app: str, tests: list[Workload]) -> list[Workload]:
        """Return the tests of ``tests`` that ``contender`` runs on its ``app`` server."""
        if contender.module_for(app) is None:
            return []
        return [t for t in tests if t.app == app and t.name not in contender.skip]

    def run_app(self, contender: Contender, app: str, first: bool) -> None:
        # NOTE: the main app is checked on every test, even those not timed (checks are
        # cheap); an app of its own starts only when one of its tests was chosen.
        checked = self.group(contender, app, list(WORKLOADS) if not app else self.tests)
        if not checked:
            return
        suffix = f"-{app}" if app else ""
        log = self.logs / f"{contender.name}{suffix}.log"
        server = Server(contender.for_app(app), self.bin, self.args.port, SERVER_CPU, log)
        try:
            server.start()
        except ServerError as exc:
            if not app:
                self.problems[contender.name] = f"did not start: {exc}"
            else:
                failed = self.failed_checks.setdefault(contender.name, {})
                failed.update({t.name: f"its {app} app did not start: {exc}" for t in checked})
                if self.timed(contender):
                    for test in self.group(contender, app, self.tests):
                        self.add(test.name, contender.name, {"errors": [failed[test.name]]})
            print(f"bench:   {contender.name}{suffix} did not start: {exc}", flush=True)
            return
        try:
            if first:
                self.check(contender, server, checked)
            if self.timed(contender):
                self.measure(contender, server, self.group(contender, app, self.tests))
            if not server.alive():
                self.problems[contender.name] = f"server died during the run; see {log}"
        finally:
            server.stop()

    def check(self, contender: Contender, server: Server, tests: list[Workload]) -> None:
        failed = self.failed_checks.setdefault(contender.name, {})
        for test in tests:
            try:
                if test.kind == "wrk":
                    CHECKS[test.name](server.port)
                elif test.kind == "websocket":
                    self.client(["check", str(server.port)], timeout=30)
            except (CheckFailed, OSError, RuntimeError, ValueError) as exc:
                failed[test.name] = f"check failed: {exc}"
                print(f"bench:   {contender.name} {test.name}: {exc}", flush=True)

    def client(self, args: list[str], timeout: float) -> str:
        argv = ["taskset", "-c", str(CLIENT_CPU), f"{self.bin}/python"]
        argv += [str(ROOT / "bench" / "loadclient.py"), *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError((done.stderr.strip().splitlines() or ["no output"])[-1])
        return done.stdout

    def measure(self, contender: Contender, server: Server, tests: list[Workload]) -> None:
        failed = self.failed_checks.get(contender.name, {})
        url = f"http://127.0.0.1:{server.port}"
        for test in tests:
            if test.name in failed:
                self.add(test.name, contender.name, {"errors": [failed[test.name]]})
                continue
            try:
                sample = self.measure_one(test, contender, server, url)
            except (wrk.WrkOutputError, CheckFailed, RuntimeError, ValueError, OSError) as exc:
                sample = {"errors": [f"{type(exc).__name__}: {exc}"]}
            except subprocess.TimeoutExpired:
                sample = {"errors": ["the load generator timed out"]}
            self.add(test.name, contender.name, sample)
            shown = (
                "INVALID " + "; ".join(sample["errors"])
                if sample.get("errors")
                else (f"{sample['value']:,.1f} {test.unit}")
            )
            print(f"bench:   {test.name:10} {shown}", flush=True)

    def measure_one(
        self, test: Workload, contender: Contender, server: Server, url: str
    ) -> dict[str, Any]:
        args = self.args
        if test.kind == "wrk":
            target = url + test.path
            conns = args.connections
            headers: tuple[str, ...] = ()
            if test.login:
                jar = login_cookies(server.port, test.login, test.path)
                headers = (f"Cookie: {cookie_header(jar)}",)
            script, sargs = test.script, test.script_args
            if args.warmup:
                wrk.run(target, args.warmup, conns, script, sargs, CLIENT_CPU, headers)
            res = wrk.run(target, args.duration, conns, script, sargs, CLIENT_CPU, headers)
            return {"value": res.requests_per_sec, "p99_ms": res.p99_ms, "errors": list(res.errors)}
        if test.kind == "websocket":
            if args.warmup:
                self.client(["ws", str(server.port), str(args.warmup), "4"], args.warmup + 40)
            out = json.loads(
                self.client(
                    ["ws", str(server.port), str(args.duration), str(test.connections)],
                    args.duration + 60,
                )
            )
            return {"value": out["per_sec"], "p99_ms": out["p99_ms"], "errors": out["errors"]}
        if test.kind == "idle":
            return self.idle(server)
        return {"value": server.cold_start_ms, "errors": []}

    def idle(self, server: Server) -> dict[str, Any]:
        count = self.args.idle_connections
        time.sleep(0.5)
        before, sockets_before = server.rss_kib(), server.sockets()
        argv = ["taskset", "-c", str(CLIENT_CPU), f"{self.bin}/python"]
        argv += [str(ROOT / "bench" / "loadclient.py"), "idle", str(server.port), str(count)]
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        assert proc.stdin is not None
        try:
            ready, _, _ = select.select([proc.stdout], [], [], 150)
            line = proc.stdout.readline() if ready else ""
            after, held = server.rss_kib(), server.sockets() - sockets_before
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not line:
            raise RuntimeError("the idle client printed nothing")
        out = json.loads(line)
        errors = []
        # NOTE: the server's own count of open sockets, not the client's view, decides.
        if held < count or out["answered"] < count:
            errors.append(
                f"{out['connected']} of {count} connected, {out['answered']} answered, "
                f"{held} held open by the server"
            )
        if not server.alive():
            errors.append("the server died holding idle connections")
        per_conn = (after - before) / max(held, 1)
        return {"value": per_conn, "errors": errors, "held": held, "rss_kib": after}

    def data(self, md: Path, png: Path, started: dt.datetime) -> dict[str, Any]:
        summary: dict[str, dict[str, Any]] = {}
        for test, by in self.samples.items():
            summary[test] = {name: report.summarize(samples) for name, samples in by.items()}
        conditions = self.args.conditions or (
            f"Load average at the start {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs "
            "(a shared development machine: expect noise)."
        )
        return {
            "meta": {
                "date": started.strftime("%Y-%m-%d %H:%M UTC"),
                "quick": self.args.quick,
                "rounds": self.args.rounds,
                "duration": self.args.duration,
                "warmup": self.args.warmup,
                "connections": self.args.connections,
                "idle_connections": self.args.idle_connections,
                "server_cpu": SERVER_CPU,
                "client_cpu": CLIENT_CPU,
                "conditions": conditions,
                "machine": environment.machine(),
                "versions": environment.versions(),
                "titles": {w.name: w.title for w in self.tests},
                "units": {w.name: w.unit for w in self.tests},
                "chart": png.name,
                "json": md.with_suffix(".json").name,
                "seconds": round((dt.datetime.now(dt.UTC) - started).total_seconds()),
            },
            "contenders": {
                c.name: {
                    "framework": c.framework,
                    "server": c.server,
                    "note": c.note,
                    "problem": self.problems.get(c.name, ""),
                    "failed_checks": self.failed_checks.get(c.name, {}),
                }
                for c in self.contenders
            },
            "summary": summary,
            "samples": self.samples,
        }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = dt.datetime.now(dt.UTC)
    try:
        environment.ensure_tools()
        environment.ensure_peers()
        os.environ["BENCH_DATABASE_URL"] = environment.ensure_database()
        if any(c.compiled for c in bench_contenders(args)):
            environment.ensure_compiled()
    except environment.SetupError as exc:
        print(f"bench: cannot run: {exc}", file=sys.stderr)
        return 1
    bench = Bench(args)
    bench.run()
    out = args.out or (ROOT / "bench" / (".work/results" if args.quick else "results"))
    out.mkdir(parents=True, exist_ok=True)
    stem = started.strftime("%Y-%m-%d")
    md, png = out / f"{stem}.md", out / f"{stem}.png"
    data = bench.data(md, png, started)
    md.with_suffix(".json").write_text(json.dumps(data, indent=1))
    md.write_text(report.render(data))
    chart = subprocess.run(
        [f"{bench.bin}/python", str(ROOT / "bench" / "chart.py"), str(md.with_suffix(".json")),
         str(png)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if chart.returncode != 0:
        print(f"bench: the chart failed:\n{chart.stderr}", file=sys.stderr)
        return 1
    print(f"bench: wrote {md} and {png}")
    return verdict(bench)


def verdict(bench: Bench) -> int:
    """Return 1 if the suite itself is broken (the floor fails), else 0, printing problems."""
    invalid = [
        (name, test)
        for test, by in bench.samples.items()
        for name, samples in by.items()
        if any(s.get("errors") for s in samples)
    ]
    invalid += [(name, test) for name, f in bench.failed_checks.items() for test in f]
    for name, problem in bench.problems.items():
        print(f"bench: PROBLEM {name}: {problem}", file=sys.stderr)
    for name, test in sorted(set(invalid)):
        print(f"bench: INVALID {name} / {test}", file=sys.stderr)
    floor_broken = FLOOR in bench.problems or any(name == FLOOR for name, _ in invalid)
    if floor_broken and any(c.name == FLOOR for c in bench.contenders):
        print("bench: the raw floor fails: the suite itself is broken", file=sys.stderr)
        return 1
    if REFERENCE in bench.problems:
        print("bench: celeris itself could not be measured (see above)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
