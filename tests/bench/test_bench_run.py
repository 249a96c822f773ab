"""bench/run.py: options, the quick profile, and the verdict (exit status) logic."""

from __future__ import annotations

import pytest

from bench import run


def test_quick_profile_is_short() -> None:
    args = run.parse_args(["--quick"])
    assert args.rounds == 1
    assert args.duration <= 2
    assert args.idle_connections <= 1000
    assert set(args.tests.split(",")) == set(run.QUICK_TESTS)


def test_defaults_are_the_full_run() -> None:
    args = run.parse_args([])
    assert (args.rounds, args.duration, args.idle_connections) == (3, 10.0, 15_000)
    assert args.tests is None


@pytest.mark.parametrize("option", ["--contenders", "--tests"])
def test_unknown_names_are_a_usage_error(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        run.parse_args([option, "nope"])
    assert exc.value.code == 2
    assert "unknown" in capsys.readouterr().err


def _bench(contenders: str) -> run.Bench:
    return run.Bench(run.parse_args(["--contenders", contenders, "--tests", "plaintext"]))


def test_verdict_ok_when_only_a_peer_is_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench("starlette,raw-uvloop")
    bench.add("plaintext", "raw-uvloop", {"value": 1.0, "errors": []})
    bench.add("plaintext", "starlette", {"errors": ["5 non-2xx responses"]})
    assert run.verdict(bench) == 0
    assert "INVALID starlette / plaintext" in capsys.readouterr().err


def test_verdict_fails_when_the_floor_is_broken(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench("raw-uvloop")
    bench.failed_checks["raw-uvloop"] = {"json": "check failed: json: wrong object"}
    assert run.verdict(bench) == 1
    assert "suite itself is broken" in capsys.readouterr().err


def test_verdict_reports_celeris_not_starting(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _bench("celeris,raw-uvloop")
    bench.problems["celeris"] = "did not start: exited with 1"
    assert run.verdict(bench) == 0
    assert "celeris itself could not be measured" in capsys.readouterr().err


def test_quick_times_only_the_reference_lines() -> None:
    bench = run.Bench(run.parse_args(["--quick"]))
    timed = {c.name for c in bench.contenders if bench.timed(c)}
    assert timed == set(run.QUICK_TIMED)
    assert len(bench.contenders) == len(run.CONTENDERS)


def test_quick_times_the_contenders_it_was_given() -> None:
    bench = run.Bench(run.parse_args(["--quick", "--contenders", "litestar,django"]))
    assert [c.name for c in bench.contenders if bench.timed(c)] == ["litestar", "django"]
