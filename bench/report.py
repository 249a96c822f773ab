"""Turn a run's results (the JSON next to the report) into the Markdown report."""

from __future__ import annotations

import statistics
from typing import Any

from bench.contenders import REFERENCE
from bench.workloads import BY_NAME, WORKLOADS

FLOOR = "raw-uvloop"
COMPILED = "celeris-compiled"

LOWER_IS_BETTER = {"idle", "coldstart"}


def median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def summarize(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Reduce one contender's samples for one test to medians; invalid if any sample was."""
    errors = [e for s in samples for e in s.get("errors", [])]
    good = [s for s in samples if not s.get("errors")]
    return {
        "value": median([s["value"] for s in good]),
        "p99_ms": median([s["p99_ms"] for s in good if "p99_ms" in s]),
        "rounds": len(samples),
        "valid": bool(samples) and not errors,
        "errors": sorted(set(errors)),
    }


def _fmt(value: float, test: str) -> str:
    if test == "idle":
        return f"{value:.1f}"
    if test == "coldstart":
        return f"{value:.0f}"
    return f"{value:,.0f}"


def _ratio(value: float, reference: float | None, test: str) -> str:
    if not reference or not value:
        return "-"
    return f"{value / reference:.2f}"


def cell(result: dict[str, Any] | None, reference: dict[str, Any] | None, test: str) -> str:
    """Render one 'value (ratio)' cell; INVALID and n/a say so."""
    if result is None:
        return "n/a"
    if not result["valid"]:
        return "INVALID"
    ref = reference["value"] if reference and reference["valid"] else None
    ratio = _ratio(result["value"], ref, test)
    text = _fmt(result["value"], test)
    return text if ratio == "-" else f"{text} ({ratio})"


def at_a_glance(
    results: dict[str, Any], contenders: dict[str, Any], ours: str = REFERENCE
) -> list[str]:
    """Return one line per test: ``ours``, the best valid peer framework, and their ratio.

    Throughput lines also give the ratio to the raw uvloop + httptools floor when it ran.
    """
    lines = []
    for w in WORKLOADS:
        by = results.get(w.name, {})
        ref = by.get(ours)
        if not ref or not ref["valid"]:
            continue
        peers = [
            (r["value"], name)
            for name, r in by.items()
            if r["valid"] and r["value"] > 0
            and contenders.get(name, {}).get("framework", name) not in ("celeris", "(none)")
            and not name.startswith(REFERENCE)
        ]  # fmt: skip
        if not peers:
            continue
        pick = min if w.name in LOWER_IS_BETTER else max
        value, best = pick(peers)
        line = (
            f"- {w.title}: {ours} {_fmt(ref['value'], w.name)} {w.unit}, best peer {best} "
            f"{_fmt(value, w.name)} ({ref['value'] / value:.2f}x)"
        )
        floor = by.get(FLOOR)
        if floor and floor["valid"] and floor["value"] > 0 and w.name not in LOWER_IS_BETTER:
            line += f"; {ref['value'] / floor['value']:.2f}x the raw floor"
        lines.append(line)
    return lines


ORM_PAIR = ("celeris-orm", "fastapi-orm")


def orm_glance(results: dict[str, Any]) -> list[str]:
    """Return one line per test both ORM contenders passed: their values and ratio."""
    ours, theirs = ORM_PAIR
    lines = []
    for w in WORKLOADS:
        by = results.get(w.name, {})
        a, b = by.get(ours), by.get(theirs)
        if a and b and a["valid"] and b["valid"] and b["value"] > 0:
            lines.append(
                f"- {w.title}: {ours} {_fmt(a['value'], w.name)} {w.unit}, {theirs} "
                f"{_fmt(b['value'], w.name)} ({a['value'] / b['value']:.2f}x)"
            )
    return lines


SECURED = "secured"
# Issue 12's bar for the secured page: celeris >= 2x the fastest of these, >= 4x Django.
SECURED_TARGETS = (("litestar", 2.0), ("blacksheep", 2.0), ("django", 4.0))


def secured_glance(
    results: dict[str, Any], contenders: dict[str, Any], ours: str = REFERENCE
) -> list[str]:
    """Return the secured-page lines: ``ours`` against each peer framework's fastest entry."""
    by = results.get(SECURED, {})
    ref = by.get(ours)
    if not ref or not ref["valid"] or not ref["value"]:
        return []
    lines = []
    for framework, target in SECURED_TARGETS:
        runs = [
            (r["value"], name)
            for name, r in by.items()
            if r["valid"] and r["value"] > 0
            and contenders.get(name, {}).get("framework") == framework
        ]  # fmt: skip
        if not runs:
            continue
        value, name = max(runs)
        ratio = ref["value"] / value
        verdict = "meets" if ratio >= target else "misses"
        lines.append(
            f"- {ours} {_fmt(ref['value'], SECURED)} req/s, {name} {_fmt(value, SECURED)}: "
            f"{ratio:.2f}x ({verdict} the {target:g}x target)"
        )
    return lines


def render(data: dict[str, Any]) -> str:
    """Return the whole Markdown report for ``data`` (as written by bench/run.py)."""
    meta, contenders, results = data["meta"], data["contenders"], data["summary"]
    tests = [w for w in WORKLOADS if w.name in results]
    names = list(contenders)
    out = [f"# celeris benchmark — {meta['date']}", ""]
    if meta.get("quick"):
        out += ["**Quick run** (CI smoke test): short durations, few contenders timed; "
                "numbers mean nothing.", ""]  # fmt: skip
    out += [
        f"{meta['conditions']}",
        "",
        f"Method: server pinned to CPU {meta['server_cpu']}, wrk (1 thread) on CPU "
        f"{meta['client_cpu']}; {meta['rounds']} round(s), contenders taken in turn each round; "
        f"per test {meta['warmup']:g} s warm-up then {meta['duration']:g} s timed; medians over "
        f"rounds. {meta['connections']} connections for HTTP tests, "
        f"{BY_NAME['websocket'].connections} for WebSocket echo (16 messages in flight on each; "
        "its p99 is per block of 16), "
        f"{meta['idle_connections']:,} "
        "idle connections. Every response checked for correctness before timing; any non-2xx "
        "or socket error in a timed run marks the result INVALID.",
        "",
        "Cells read `value (ratio to celeris)`. Throughput: higher is better. "
        "Idle memory (KiB per connection) and cold start (ms): lower is better.",
        "",
    ]
    if not meta.get("quick") and (meta["rounds"] < 3 or meta["duration"] < 10):
        out += [
            f"**Reduced run**: {meta['rounds']} round(s) of {meta['duration']:g} s per test "
            "(the full run is 3 rounds of 10 s after 3 s of warm-up).",
            "",
        ]
    glance = at_a_glance(results, contenders)
    if glance:
        out += ["## At a glance: celeris against the fastest peer framework", ""]
        out += [
            "Ratio = celeris ÷ peer (above 1 is better for throughput, worse for memory and cold start).",
            "",
        ]
        out += [*glance, ""]
        compiled = at_a_glance(results, contenders, COMPILED)
        if compiled:
            out += [
                f"The same with `{COMPILED}`: the same source built as the mypyc wheel "
                "(`HATCH_BUILD_HOOKS_ENABLE=1 pip wheel .`).",
                "",
                *compiled,
                "",
            ]
        secured = secured_glance(results, contenders)
        if secured:
            out += ["## The secured page: sessions, CSRF, security headers, a dependency", ""]
            out += [*secured, ""]
        orm = orm_glance(results)
        if orm:
            out += ["## Through the ORM: celeris.db against FastAPI + SQLAlchemy", "", *orm, ""]
        out += ["## All results", ""]
    header = "| contender | server | " + " | ".join(f"{w.title} ({w.unit})" for w in tests) + " |"
    out += [header, "|" + " --- |" * (len(tests) + 2)]
    for name in names:
        row = [name, contenders[name]["server"]]
        failed = bool(contenders[name].get("problem"))
        for w in tests:
            by = results[w.name]
            if failed and name not in by:
                row.append("FAILED")
            else:
                row.append(cell(by.get(name), by.get(REFERENCE), w.name))
        out.append("| " + " | ".join(row) + " |")
    out += ["", "## p99 latency (ms)", ""]
    timed = [w for w in tests if w.kind in ("wrk", "websocket")]
    out += ["| contender | " + " | ".join(w.title for w in timed) + " |"]
    out += ["|" + " --- |" * (len(timed) + 1)]
    for name in names:
        row = [name]
        for w in timed:
            r = results[w.name].get(name)
            row.append("n/a" if r is None else f"{r['p99_ms']:.2f}" if r["valid"] else "INVALID")
        out.append("| " + " | ".join(row) + " |")
    problems = [
        f"- {name} / {test}: {'; '.join(r['errors'])}"
        for test, by in results.items()
        for name, r in by.items()
        if not r["valid"]
    ]
    problems += [f"- {n}: {c['problem']}" for n, c in contenders.items() if c.get("problem")]
    problems += [
        f"- {n} / {test}: {why}"
        for n, c in contenders.items()
        for test, why in c.get("failed_checks", {}).items()
        if test not in results
    ]
    out += ["", "## Problems", ""] + (problems or ["None: every result is valid."])
    notes = [f"- {n}: {c['note']}" for n, c in contenders.items() if c.get("note")]
    if notes:
        out += ["", "## Notes", "", *notes]
    out += ["", "## Machine and versions", ""]
    out += [f"- {k}: {v}" for k, v in meta["machine"].items()]
    out += ["- " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())]
    out += ["", f"Chart: `{meta['chart']}`. Raw samples: `{meta['json']}`.", ""]
    return "\n".join(out)
