"""bench/report.py: medians, validity and the Markdown report."""

from __future__ import annotations

from typing import Any

from bench import report

META = {
    "date": "2026-11-23 21:20 UTC",
    "quick": False,
    "rounds": 3,
    "duration": 10.0,
    "warmup": 3.0,
    "connections": 64,
    "idle_connections": 15000,
    "server_cpu": 0,
    "client_cpu": 1,
    "conditions": "Load average 0.10 on 2 CPUs.",
    "machine": {"cpu": "Test CPU (2 CPUs)"},
    "versions": {"celeris": "0.1.0", "starlette": "1.10.0"},
    "chart": "x.png",
    "json": "x.json",
}


def _data(summary: dict[str, Any], contenders: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "meta": META,
        "contenders": contenders
        or {
            "celeris": {"server": "celeris", "note": "", "problem": ""},
            "starlette": {"server": "uvicorn", "note": "", "problem": ""},
            "flask": {"server": "gunicorn", "note": "WSGI", "problem": ""},
        },
        "summary": summary,
    }


def test_summarize_takes_medians_of_good_samples() -> None:
    samples = [
        {"value": 10.0, "p99_ms": 1.0, "errors": []},
        {"value": 30.0, "p99_ms": 3.0, "errors": []},
        {"value": 20.0, "p99_ms": 2.0, "errors": []},
    ]
    got = report.summarize(samples)
    assert got["value"] == 20.0
    assert got["p99_ms"] == 2.0
    assert got["valid"]
    assert got["rounds"] == 3


def test_one_bad_sample_makes_the_result_invalid() -> None:
    got = report.summarize([{"value": 10.0, "errors": []}, {"errors": ["3 non-2xx responses"]}])
    assert not got["valid"]
    assert got["errors"] == ["3 non-2xx responses"]


def test_no_samples_is_invalid() -> None:
    assert not report.summarize([])["valid"]


def test_cells_show_ratio_to_celeris() -> None:
    ref = {"value": 100_000.0, "valid": True}
    assert report.cell({"value": 50_000.0, "valid": True}, ref, "plaintext") == "50,000 (0.50)"
    assert report.cell(ref, ref, "plaintext") == "100,000 (1.00)"
    assert report.cell({"value": 5.0, "valid": False}, ref, "plaintext") == "INVALID"
    assert report.cell(None, ref, "plaintext") == "n/a"
    assert report.cell({"value": 5.0, "valid": True}, None, "plaintext") == "5"
    assert report.cell({"value": 2.5, "valid": True}, {"value": 5.0, "valid": True}, "idle") == (
        "2.5 (0.50)"
    )


def test_render_has_table_problems_and_machine() -> None:
    ok = {"value": 1000.0, "p99_ms": 2.0, "valid": True, "errors": [], "rounds": 3}
    half = dict(ok, value=500.0)
    bad = {"value": 0.0, "p99_ms": 0.0, "valid": False, "errors": ["socket errors"], "rounds": 3}
    text = report.render(_data({"plaintext": {"celeris": ok, "starlette": half, "flask": bad}}))
    assert text.startswith("# celeris benchmark — 2026-11-23 21:20 UTC")
    assert "| celeris | celeris | 1,000 (1.00) |" in text
    assert "| starlette | uvicorn | 500 (0.50) |" in text
    assert "| flask | gunicorn | INVALID |" in text
    assert "- flask / plaintext: socket errors" in text
    assert "- flask: WSGI" in text
    assert "Load average 0.10 on 2 CPUs." in text
    assert "3 round(s)" in text
    assert "celeris 0.1.0, starlette 1.10.0" in text


def test_render_says_when_everything_is_valid_and_marks_quick() -> None:
    ok = {"value": 1000.0, "p99_ms": 2.0, "valid": True, "errors": [], "rounds": 1}
    data = _data({"json": {"celeris": ok}}, {"celeris": {"server": "celeris", "note": ""}})
    data["meta"] = dict(META, quick=True)
    text = report.render(data)
    assert "None: every result is valid." in text
    assert "**Quick run**" in text


def test_render_lists_contenders_that_failed_to_start_and_failed_checks() -> None:
    contenders = {
        "celeris": {"server": "celeris", "note": "", "problem": "did not start: exited with 1"},
        "sanic": {
            "server": "sanic",
            "note": "",
            "problem": "",
            "failed_checks": {"fortunes": "check failed: not sorted"},
        },
    }
    ok = {"value": 1000.0, "p99_ms": 2.0, "valid": True, "errors": [], "rounds": 1}
    text = report.render(_data({"json": {"sanic": ok}}, contenders))
    assert "- celeris: did not start: exited with 1" in text
    assert "- sanic / fortunes: check failed: not sorted" in text
    assert "| celeris | celeris | FAILED |" in text


def test_at_a_glance_picks_the_best_peer_framework_per_direction() -> None:
    def ok(value: float) -> dict[str, Any]:
        return {"value": value, "p99_ms": 1.0, "valid": True, "errors": [], "rounds": 1}

    contenders = {
        "celeris": {"framework": "celeris"},
        "celeris-uvicorn": {"framework": "celeris"},
        "starlette": {"framework": "starlette"},
        "sanic": {"framework": "sanic"},
        "raw-uvloop": {"framework": "(none)"},
    }
    results = {
        "plaintext": {
            "celeris": ok(100.0),
            "celeris-uvicorn": ok(500.0),
            "starlette": ok(50.0),
            "sanic": ok(80.0),
            "raw-uvloop": ok(900.0),
        },
        "coldstart": {"celeris": ok(200.0), "starlette": ok(100.0), "sanic": ok(400.0)},
    }
    lines = report.at_a_glance(results, contenders)
    assert lines == [
        "- Plaintext: celeris 100 req/s, best peer sanic 80 (1.25x); 0.11x the raw floor",
        "- Cold start: celeris 200 ms, best peer starlette 100 (2.00x)",
    ]


def test_the_compiled_build_gets_its_own_glance_against_the_same_peers() -> None:
    def ok(value: float) -> dict[str, Any]:
        return {"value": value, "p99_ms": 1.0, "valid": True, "errors": [], "rounds": 1}

    contenders = {
        "celeris": {"framework": "celeris"},
        "celeris-compiled": {"framework": "celeris"},
        "sanic": {"framework": "sanic"},
    }
    results = {
        "plaintext": {"celeris": ok(100.0), "celeris-compiled": ok(120.0), "sanic": ok(80.0)}
    }
    assert report.at_a_glance(results, contenders, "celeris-compiled") == [
        "- Plaintext: celeris-compiled 120 req/s, best peer sanic 80 (1.50x)"
    ]
    text = report.render(_data(results, {n: {"server": "celeris", "note": ""} for n in contenders}))
    assert "The same with `celeris-compiled`" in text


def test_reduced_runs_say_so() -> None:
    ok = {"value": 1000.0, "p99_ms": 2.0, "valid": True, "errors": [], "rounds": 2}
    data = _data({"json": {"celeris": ok}}, {"celeris": {"server": "celeris", "note": ""}})
    data["meta"] = dict(META, rounds=2, duration=3.0)
    assert "**Reduced run**: 2 round(s) of 3 s per test" in report.render(data)
    assert "Reduced run" not in report.render(_data({"json": {"celeris": ok}}))


def test_orm_glance_compares_the_two_orm_contenders_on_valid_tests_only() -> None:
    def result(value: float, valid: bool = True) -> dict[str, Any]:
        return {"value": value, "p99_ms": 1.0, "valid": valid, "errors": [], "rounds": 1}

    results = {
        "db": {"celeris-orm": result(3000.0), "fastapi-orm": result(1000.0)},
        "fortunes": {"celeris-orm": result(1500.0), "fastapi-orm": result(0.0, valid=False)},
        "plaintext": {"celeris": result(9000.0)},
    }
    assert report.orm_glance(results) == [
        "- Single query: celeris-orm 3,000 req/s, fastapi-orm 1,000 (3.00x)"
    ]
    assert report.orm_glance({"db": {"celeris-orm": result(1.0)}}) == []


def _ok(value: float) -> dict[str, Any]:
    return {"value": value, "p99_ms": 1.0, "rounds": 1, "valid": True, "errors": []}


def test_the_secured_page_glance_holds_celeris_to_the_issue_targets() -> None:
    contenders = {
        "celeris": {"framework": "celeris", "server": "celeris", "note": "", "problem": ""},
        "litestar": {"framework": "litestar", "server": "uvicorn", "note": "", "problem": ""},
        "blacksheep-granian": {"framework": "blacksheep", "server": "granian", "note": "",
                               "problem": ""},
        "blacksheep-uvicorn": {"framework": "blacksheep", "server": "uvicorn", "note": "",
                               "problem": ""},
        "django": {"framework": "django", "server": "uvicorn", "note": "", "problem": ""},
    }  # fmt: skip
    secured = {
        "celeris": _ok(30_000.0),
        "litestar": _ok(10_000.0),
        "blacksheep-granian": _ok(16_000.0),
        "blacksheep-uvicorn": _ok(12_000.0),
        "django": {**_ok(1_000.0), "valid": False},
    }
    lines = report.secured_glance({"secured": secured}, contenders)
    assert lines == [
        "- celeris 30,000 req/s, litestar 10,000: 3.00x (meets the 2x target)",
        "- celeris 30,000 req/s, blacksheep-granian 16,000: 1.88x (misses the 2x target)",
    ]  # an invalid Django result is no comparison at all
    page = report.render(_data({"secured": secured}, contenders))
    assert "## The secured page" in page
    assert report.secured_glance({"secured": {"celeris": {**_ok(1.0), "valid": False}}}, {}) == []
