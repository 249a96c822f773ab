"""Measure celeris's core overhead: the same hello and JSON app as a bare ASGI callable and as
a celeris ``App``, both on uvicorn (httptools + uvloop, one worker), with Starlette as a
reference line. Prints the ratio to bare per test; the target is celeris >= 0.85.

    python bench/overhead.py [--rounds 3] [--duration 5] [--min-ratio 0.85]
    python bench/overhead.py --apps celeris,celeris-dressed --max-dressed-cost 0.30

With ``bench/apps/celeris_dressed.py`` present, the same endpoints also run on the dressed app
(CORS, GZip, TrustedHost and RequestID middleware, a no-op hook, a one-level dependency): the
second table gives its cost over the bare celeris app, both on uvicorn, as ``bench/hotpath.py``
gives it on celeris's own server (issue 12: the pipeline is the app's, so the ratio must hold).

The server runs pinned to CPU 0 with taskset and wrk to CPU 1. ``--min-ratio`` makes the exit
status 1 when celeris falls below it, ``--max-dressed-cost`` when the dressed app costs more
than that fraction over the bare one (both off by default: noisy machines must not fail builds).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import environment, wrk  # noqa: E402
from bench.checks import CHECKS, CheckFailed  # noqa: E402
from bench.contenders import UVICORN, Contender  # noqa: E402
from bench.server import Server, ServerError  # noqa: E402

TESTS = ("plaintext", "json")
BARE, CELERIS, DRESSED = "bare-asgi", "celeris", "celeris-dressed"
ALL_APPS = (
    Contender(BARE, "(none)", "uvicorn", "bench.apps.bare_asgi", UVICORN),
    Contender(CELERIS, "celeris", "uvicorn", "bench.apps.celeris_hello", UVICORN),
    Contender("starlette", "starlette", "uvicorn", "bench.apps.starlette_hello", UVICORN),
    Contender(DRESSED, "celeris", "uvicorn", "bench.apps.celeris_dressed", UVICORN),
)
# NOTE: the dressed app is the core pipeline's own module; run it only once it exists.
APPS = tuple(a for a in ALL_APPS if (ROOT / (a.module.replace(".", "/") + ".py")).is_file())


def dressed_cost(samples: dict[str, dict[str, list[float]]], test: str) -> float | None:
    """Return the dressed app's cost over the bare celeris app (0.25 = 25% slower), or None.

    Cost per request is 1 / throughput, so the cost is ``bare req/s / dressed req/s - 1``.
    """
    bare, dressed = samples.get(CELERIS, {}).get(test), samples.get(DRESSED, {}).get(test)
    if not bare or not dressed:
        return None
    return statistics.median(bare) / statistics.median(dressed) - 1


def chosen(args: argparse.Namespace) -> tuple[Contender, ...]:
    """Return the apps this run takes (``--apps``, default all present), in registry order."""
    if not args.apps:
        return APPS
    names = args.apps.split(",")
    return tuple(a for a in APPS if a.name in names)


def measure(args: argparse.Namespace) -> dict[str, dict[str, list[float]]]:
    """Return req/s samples per app and test, apps taken in turn each round."""
    logs = ROOT / "bench" / ".work" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    apps = chosen(args)
    samples: dict[str, dict[str, list[float]]] = {a.name: {t: [] for t in TESTS} for a in apps}
    for round_no in range(1, args.rounds + 1):
        for app in apps:
            server = Server(
                app, str(environment.peer_bin()), args.port, 0, logs / f"overhead-{app.name}.log"
            )
            try:
                server.start()
            except ServerError as exc:
                print(f"overhead: {app.name} did not start: {exc}", file=sys.stderr)
                continue
            try:
                for test in TESTS:
                    CHECKS[test](server.port)
                    url = f"http://127.0.0.1:{server.port}/{test}"
                    wrk.run(url, args.warmup, args.connections)
                    res = wrk.run(url, args.duration, args.connections)
                    if res.valid:
                        samples[app.name][test].append(res.requests_per_sec)
                    print(f"overhead: round {round_no} {app.name:15} {test:9} "
                          f"{res.requests_per_sec:>10,.0f} req/s {'; '.join(res.errors)}",
                          flush=True)  # fmt: skip
            except CheckFailed as exc:
                print(f"overhead: {app.name} answers wrongly: {exc}", file=sys.stderr)
            finally:
                server.stop()
    return samples


def table(samples: dict[str, dict[str, list[float]]]) -> list[str]:
    """Return the result lines: median req/s and the ratio to the bare ASGI app."""
    lines = [f"{'app':15} {'test':10} {'req/s':>10} {'x bare':>7}"]
    for test in TESTS:
        bare = samples.get(BARE, {}).get(test)
        base = statistics.median(bare) if bare else 0.0
        for name, by in samples.items():
            got = by.get(test, [])
            if not got:
                lines.append(f"{name:15} {test:10} {'n/a':>10} {'-':>7}")
                continue
            value = statistics.median(got)
            ratio = f"{value / base:.2f}" if base else "-"
            lines.append(f"{name:15} {test:10} {value:>10,.0f} {ratio:>7}")
    costs = [(test, dressed_cost(samples, test)) for test in TESTS]
    if any(cost is not None for _, cost in costs):
        lines += ["", f"{DRESSED} over {CELERIS} (the bare celeris app), both on uvicorn:"]
        lines += [
            f"  {test:10} {'n/a' if cost is None else f'{cost:+.0%}'}" for test, cost in costs
        ]
    return lines


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--port", type=int, default=18_090)
    parser.add_argument("--min-ratio", type=float, default=0.0)
    parser.add_argument("--max-dressed-cost", type=float, default=0.0)
    parser.add_argument("--apps", help="comma-separated subset: " + ",".join(a.name for a in APPS))
    args = parser.parse_args(argv)
    if args.apps:
        unknown = sorted(set(args.apps.split(",")) - {a.name for a in APPS})
        if unknown:
            parser.error(f"unknown apps: {', '.join(unknown)}")
    try:
        environment.ensure_tools()
        environment.ensure_peers()
    except environment.SetupError as exc:
        print(f"overhead: cannot run: {exc}", file=sys.stderr)
        return 1
    samples = measure(args)
    print("\n".join(table(samples)))
    print("target: celeris >= 0.85 x bare (Starlette is typically ~0.62)")
    worst = []
    for test in TESTS:
        bare, cel = samples.get(BARE, {}).get(test), samples.get(CELERIS, {}).get(test)
        if bare and cel:
            worst.append(statistics.median(cel) / statistics.median(bare))
    if not samples.get(CELERIS) or not any(samples[CELERIS].values()):
        print("overhead: celeris could not be measured", file=sys.stderr)
        return 1
    if args.min_ratio and worst and min(worst) < args.min_ratio:
        print(
            f"overhead: celeris at {min(worst):.2f} x bare, below {args.min_ratio}", file=sys.stderr
        )
        return 1
    costs = [c for c in (dressed_cost(samples, t) for t in TESTS) if c is not None]
    if args.max_dressed_cost and costs and max(costs) > args.max_dressed_cost:
        print(
            f"overhead: the dressed app costs +{max(costs):.0%} over the bare one, "
            f"above +{args.max_dressed_cost:.0%}",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
