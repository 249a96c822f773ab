from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import celeris.cli as cli
from celeris.cli import main


def test_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"celeris, version {importlib.metadata.version('celeris')}\n"


def test_help_lists_commands() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    listed = {
        line.split()[0] for line in result.output.split("Commands:")[1].splitlines() if line.strip()
    }
    assert {"serve", "run", "routes"} <= listed
    for optional in ("db", "openapi"):
        present = importlib.util.find_spec(f"celeris.cli.{optional}") is not None
        assert (optional in listed) == present


def test_unknown_command_is_an_error() -> None:
    result = CliRunner().invoke(main, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output


def test_python_dash_m_and_console_script_are_the_same_cli() -> None:
    module = subprocess.run(
        [sys.executable, "-m", "celeris", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert module.returncode == 0, module.stderr
    assert "--limit-request-body" in module.stdout
    script = Path(sys.executable).with_name("celeris")
    if script.exists():
        out = subprocess.run(
            [str(script), "serve", "--help"], capture_output=True, text=True, timeout=60
        )
        assert out.returncode == 0, out.stderr
        assert (
            out.stdout.split("\n", 1)[1] == module.stdout.split("\n", 1)[1]
        )  # same but the prog name


def test_bad_port_from_a_real_process_is_one_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "celeris", "serve", "m:app", "--port", "99999"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr == "Error: --port 99999 is out of range; use 0-65535 (0 picks a free port)\n"


def test_the_cli_loads_database_libraries_only_for_db_commands() -> None:
    probe = "import sys, celeris.cli; print(sorted(m for m in ('alembic', 'sqlalchemy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_command_whose_extra_is_missing_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(
        cli._LAZY, "db", ("celeris.cli.not_installed", "db", "db", "Manage the db.")
    )
    result = CliRunner().invoke(cli.main, ["db"])
    assert result.exit_code == 1
    assert "pip install 'celeris[db]'" in result.output
