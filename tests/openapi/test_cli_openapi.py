"""``celeris openapi MODULE:ATTR``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from openapi_spec_validator import validate

from celeris.cli import main
from celeris.cli.openapi import openapi

HERE = Path(__file__).parent


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(HERE)
    monkeypatch.syspath_prepend(str(HERE))
    return CliRunner()


def test_prints_the_spec(runner: CliRunner) -> None:
    result = runner.invoke(openapi, ["sample_app:app"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    validate(doc)
    assert doc["info"]["title"] == "Sample API"
    assert result.stdout.startswith('{\n  "openapi": "3.1.0"')


def test_writes_the_spec_compactly(runner: CliRunner, tmp_path: Path) -> None:
    target = tmp_path / "spec.json"
    result = runner.invoke(openapi, ["sample_app:app", "-o", str(target), "--indent", "0"])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stderr
    text = target.read_text(encoding="utf-8")
    assert "\n" not in text.rstrip("\n")
    assert json.loads(text)["openapi"] == "3.1.0"


def test_errors_are_one_line(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(openapi, ["sample_app:plain_asgi"])
    assert result.exit_code == 2
    assert "not a celeris App" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(openapi, ["no_such_module_here:app"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    result = runner.invoke(openapi, ["sample_app:app", "-o", str(tmp_path / "missing" / "x.json")])
    assert result.exit_code == 2
    assert "cannot write" in result.output


def test_registered_on_the_main_group(runner: CliRunner) -> None:
    result = runner.invoke(main, ["openapi", "sample_app:app", "--indent", "0"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["info"]["version"] == "1.2.3"
