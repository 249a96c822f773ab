from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import celeris.server
from celeris.cli.serve import load_app, optional_module, run, serve
from celeris.server.config import Config
from celeris.server.importer import ImportFromStringError

APP_SOURCE = """
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

def make_app():
    return app

not_an_app = 42
"""


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    """Record what the CLI hands to ``celeris.server.run`` (the server itself is tested elsewhere)."""
    seen: list[tuple[str, dict[str, Any]]] = []

    def record(target: str, **options: Any) -> None:
        seen.append((target, options))

    monkeypatch.setattr(celeris.server, "run", record, raising=False)
    return seen


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"cli_serve_app_{os.getpid()}"
    (tmp_path / f"{name}.py").write_text(APP_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def invoke(command: str, *args: str) -> click.testing.Result:
    return CliRunner().invoke({"serve": serve, "run": run}[command], list(args))


def test_every_config_field_is_a_flag_with_its_help() -> None:
    params = {p.name: p for p in serve.params if isinstance(p, click.Option)}
    for field in dataclasses.fields(Config):
        option = params[field.name]
        assert option.help == field.metadata["help"]
        assert option.default == field.default
        flag = field.metadata.get("flag", field.name.replace("_", "-"))
        assert f"--{flag}" in option.opts
        if isinstance(field.default, bool):
            assert option.secondary_opts == [f"--no-{flag}"]
        if "choices" in field.metadata:
            assert list(option.type.choices) == list(field.metadata["choices"])
    assert set(params) == {f.name for f in dataclasses.fields(Config)}


def test_serve_defaults_reach_server_run(calls: list) -> None:
    result = invoke("serve", "pkg.mod:app")
    assert result.exit_code == 0, result.output
    target, options = calls[0]
    assert target == "pkg.mod:app"
    assert options == {f.name: f.default for f in dataclasses.fields(Config)}
    assert options["debug"] is False


def test_serve_options_are_converted(calls: list) -> None:
    result = invoke(
        "serve",
        "m:app",
        "--host",
        "0.0.0.0",
        "--port",
        "0",
        "--workers",
        "3",
        "--no-access-log",
        "--log-level",
        "debug",
        "--limit-concurrency",
        "10",
        "--websocket-ping-interval",
        "none",
        "--timeout-keep-alive",
        "2.5",
        "--no-ws-per-message-deflate",
        "--factory",
    )
    assert result.exit_code == 0, result.output
    options = calls[0][1]
    assert options["host"] == "0.0.0.0"
    assert options["port"] == 0
    assert options["workers"] == 3
    assert options["access_log"] is False
    assert options["log_level"] == "debug"
    assert options["limit_concurrency"] == 10
    assert options["websocket_ping_interval"] is None
    assert options["timeout_keep_alive"] == 2.5
    assert options["websocket_per_message_deflate"] is False
    assert options["factory"] is True


def test_run_turns_on_reload_and_debug(calls: list) -> None:
    result = invoke("run", "m:app", "--port", "9000")
    assert result.exit_code == 0, result.output
    options = calls[0][1]
    assert options["reload"] is True
    assert options["port"] == 9000
    assert options["debug"] is True
    invoke("run", "m:app", "--no-reload", "--no-debug")
    assert calls[1][1]["reload"] is False
    assert calls[1][1]["debug"] is False


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["m:app", "--port", "70000"], "--port 70000 is out of range"),
        (["m:app", "--port", "-1"], "--port -1 is out of range"),
        (["m:app", "--port", "abc"], "'abc' is not a valid integer"),
        (["m:app", "--workers", "0"], "--workers must be at least 1"),
        (["m:app", "--limit-request-body", "-5"], "--limit-request-body must not be negative"),
        (["m:app", "--timeout-keep-alive", "nan"], "--timeout-keep-alive must be a finite number"),
        (["m:app", "--ssl-keyfile", "key.pem"], "--ssl-keyfile needs --ssl-certfile"),
        (["m:app", "--ssl-certfile", "/no/such/cert.pem"], "no such file"),
        (
            ["m:app", "--uds", "/tmp/x.sock", "--host", "0.0.0.0"],
            "--uds cannot be combined with --host",
        ),
        (["m:app", "--uds", "/no/such/dir/x.sock"], "does not exist"),
        (["m:app", "--reload", "--workers", "2"], "cannot be combined"),
        (["m:app", "--log-level", "loud"], "'loud' is not one of"),
        (["not-a-target"], "must look like MODULE:ATTR"),
        (["m:"], "must look like MODULE:ATTR"),
        ([], "Missing argument"),
        (["m:app", "--bogus"], "No such option '--bogus'"),
    ],
)
def test_bad_flags_give_one_line_and_exit_2(calls: list, args: list[str], message: str) -> None:
    result = invoke("serve", *args)
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.count("\n") == 1
    assert result.output.startswith("Error: ")
    assert "Traceback" not in result.output
    assert calls == []


def test_ssl_files_that_exist_are_accepted(calls: list, tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert.write_text("x")
    key.write_text("x")
    result = invoke("serve", "m:app", "--ssl-certfile", str(cert), "--ssl-keyfile", str(key))
    assert result.exit_code == 0, result.output
    assert calls[0][1]["ssl_certfile"] == str(cert)


def test_uds_alone_is_fine(calls: list, tmp_path: Path) -> None:
    result = invoke("serve", "m:app", "--uds", str(tmp_path / "s.sock"))
    assert result.exit_code == 0, result.output


def test_bind_error_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def busy(target: str, **options: Any) -> None:
        raise OSError(98, "Address already in use")

    monkeypatch.setattr(celeris.server, "run", busy, raising=False)
    result = invoke("serve", "m:app")
    assert result.exit_code == 1
    assert result.output == "Error: cannot serve 'm:app': [Errno 98] Address already in use\n"


@settings(
    max_examples=40,
    deadline=None,
    database=None,  # no replay from .hypothesis/: the same on every checkout
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    st.sampled_from(
        ["--port", "--workers", "--timeout-keep-alive", "--limit-concurrency", "--loop"]
    ),
    st.text(max_size=12),
)
def test_any_flag_value_is_accepted_or_refused_cleanly(calls: list, flag: str, value: str) -> None:
    result = invoke("serve", "m:app", flag, value)
    assert result.exit_code in (0, 2)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    if result.exit_code == 2:
        assert result.output.startswith("Error: ")


def test_load_app(app_module: str) -> None:
    app = load_app(f"{app_module}:app")
    assert callable(app)
    assert load_app(f"{app_module}:make_app", factory=True) is app


@pytest.mark.parametrize(
    ("attr", "factory", "message"),
    [
        ("missing", False, 'Attribute "missing" not found'),
        ("not_an_app", False, "not an ASGI application"),
        ("not_an_app", True, "not callable"),
    ],
)
def test_load_app_errors(app_module: str, attr: str, factory: bool, message: str) -> None:
    with pytest.raises(click.ClickException, match=message) as info:
        load_app(f"{app_module}:{attr}", factory=factory)
    assert info.value.exit_code == 2


def test_load_app_missing_module() -> None:
    with pytest.raises(click.ClickException, match="no_such_module_xyz"):
        load_app("no_such_module_xyz:app")


def test_load_app_module_raising_on_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cli_broken_mod.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(click.ClickException, match="no_such_dependency_xyz") as info:
        load_app("cli_broken_mod:app")
    assert "for the traceback" in info.value.message
    sys.modules.pop("cli_broken_mod", None)


def test_optional_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert optional_module("celeris_no_such_module") is None
    assert optional_module("json") is sys.modules["json"]
    (tmp_path / "cli_needs_missing.py").write_text("import celeris_missing_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="celeris_missing_dependency"):
        optional_module("cli_needs_missing")


def test_import_error_from_the_server_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(target: str, **options: Any) -> None:
        raise ImportFromStringError('Could not import module "m".')

    monkeypatch.setattr(celeris.server, "run", missing)
    result = invoke("serve", "m:app")
    assert result.exit_code == 2
    assert result.output == 'Error: Could not import module "m".\n'


def test_the_real_server_rejects_a_missing_module_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("serve", "celeris_no_such_app_module:app", "--port", "0")
    assert result.exit_code == 2
    assert result.output.startswith("Error: ")
    assert "celeris_no_such_app_module" in result.output


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1048576", 1048576),
        ("1MiB", 1 << 20),
        ("64k", 64 << 10),
        ("1MB", 1 << 20),
        ("2 GiB", 2 << 30),
    ],
)
def test_byte_limits_take_sizes_with_units(calls: list, value: str, expected: int) -> None:
    result = invoke("serve", "m:app", "--limit-request-body", value, "--limit-request-line", value)
    assert result.exit_code == 0, result.output
    assert calls[0][1]["limit_request_body"] == expected
    assert calls[0][1]["limit_request_line"] == expected


def test_a_size_that_is_not_one_is_one_line(calls: list) -> None:
    result = invoke("serve", "m:app", "--limit-request-body", "1.5M")
    assert result.exit_code == 2
    assert "'1.5M' is not a size (e.g. 1048576, 64KiB, 1MiB, 1GiB)" in result.output
    assert calls == []
