"""bench/overhead.py: the app registry, the dressed app's cost and the tables (no servers)."""

from __future__ import annotations

import argparse

import pytest

from bench import overhead


def _samples() -> dict[str, dict[str, list[float]]]:
    return {
        overhead.BARE: {"plaintext": [100.0, 110.0, 90.0], "json": [80.0]},
        overhead.CELERIS: {"plaintext": [90.0], "json": [72.0]},
        overhead.DRESSED: {"plaintext": [75.0], "json": []},
    }


def test_the_dressed_app_runs_once_its_module_exists() -> None:
    names = [a.name for a in overhead.APPS]
    assert names[:3] == [overhead.BARE, overhead.CELERIS, "starlette"]
    assert (overhead.DRESSED in names) == (
        overhead.ROOT / "bench" / "apps" / "celeris_dressed.py"
    ).is_file()
    assert all(a.server == "uvicorn" for a in overhead.ALL_APPS)


def test_dressed_cost_is_the_per_request_cost_over_bare_celeris() -> None:
    samples = _samples()
    assert overhead.dressed_cost(samples, "plaintext") == pytest.approx(90 / 75 - 1)
    assert overhead.dressed_cost(samples, "json") is None  # no dressed sample
    assert overhead.dressed_cost({overhead.CELERIS: {"json": [1.0]}}, "json") is None


def test_the_table_gives_ratios_to_bare_and_the_dressed_cost() -> None:
    lines = overhead.table(_samples())
    text = "\n".join(lines)
    assert any(line.split()[:2] == [overhead.CELERIS, "plaintext"] and line.endswith("0.90")
               for line in lines)  # fmt: skip
    assert f"{overhead.DRESSED} over {overhead.CELERIS}" in text
    assert "plaintext  +20%" in text
    assert "json       n/a" in text
    faster = {overhead.CELERIS: {"json": [100.0]}, overhead.DRESSED: {"json": [105.0]}}
    assert "json       -5%" in "\n".join(overhead.table(faster))


def test_apps_option_picks_a_subset() -> None:
    args = argparse.Namespace(apps=f"{overhead.CELERIS},{overhead.BARE}")
    assert [a.name for a in overhead.chosen(args)] == [overhead.BARE, overhead.CELERIS]
    with pytest.raises(SystemExit) as exc:
        overhead.main(["--apps", "nope"])
    assert exc.value.code == 2
