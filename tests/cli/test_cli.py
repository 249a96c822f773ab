from __future__ import annotations

import importlib.metadata
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import celeris.cli as cli
import celeris.server
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


# What `pip install celeris` (no extras) leaves out: watchfiles comes with celeris[reload] only.
_NO_WATCHFILES = (
    "import sys; sys.modules['watchfiles'] = None  # import raises ModuleNotFoundError\n"
)


def test_the_server_and_cli_import_and_help_without_the_reload_extra() -> None:
    probe = _NO_WATCHFILES + (
        "import celeris, celeris.server, celeris.cli\n"
        "from celeris.cli import main\n"
        "main(['--help'], prog_name='celeris')\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "serve" in done.stdout
    assert "watchfiles" not in done.stderr


def test_reload_without_its_extra_names_the_extra(tmp_path: Path) -> None:
    (tmp_path / "noreload_app.py").write_text("async def app(scope, receive, send):\n    pass\n")
    probe = _NO_WATCHFILES + (
        "from celeris.cli import main\n"
        "main(['serve', 'noreload_app:app', '--reload', '--port', '0'], prog_name='celeris')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr == ("Error: --reload needs watchfiles: pip install 'celeris[reload]'\n")


def test_celeris_run_without_the_reload_extra_serves_without_reload(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[dict[str, object]] = []
    monkeypatch.setattr(celeris.server, "run", lambda target, **options: seen.append(options))
    monkeypatch.setattr(celeris.server, "reload_available", lambda: False)
    result = CliRunner().invoke(main, ["run", "m:app"])
    assert result.exit_code == 0, result.output
    assert seen[0]["reload"] is False
    assert seen[0]["debug"] is True
    assert "reload off (--reload needs watchfiles: pip install 'celeris[reload]')" in result.output
