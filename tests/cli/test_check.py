"""``celeris check --deploy`` and ``celeris.checks.deploy_checks``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from celeris import App
from celeris.checks import CHECK_IDS, deploy_checks
from celeris.cli import main
from celeris.cli.check import check
from celeris.middleware import TrustedHostMiddleware
from celeris.security import SecurityHeaders
from celeris.sessions import Sessions

STRONG = "k3J9-vQ2xZp8Lr5Tn0Wb7Yc4Md1Fg6Hs_Ae2Ui9Oq"


class _Settings:
    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)


def _secured(**settings: Any) -> App:
    values = {"DEBUG": False, "SECRET_KEY": STRONG, **settings}
    app = App(openapi_url=None, settings=_Settings(**values))
    SecurityHeaders(app=app)
    Sessions(app=app)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["example.com"])
    return app


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.chdir(tmp_path)  # NOTE: no .celeris/secret_key of the checkout is seen


def ids(app: App, root: Path | None = None) -> list[str]:
    return [f.id for f in deploy_checks(app, root)]


def test_a_secured_app_passes() -> None:
    assert ids(_secured()) == []


def test_a_bare_app_fails_every_check_it_can() -> None:
    assert ids(App(openapi_url=None, debug=True)) == [
        "deploy.E001",
        "deploy.E002",
        "deploy.W001",
        "deploy.W003",
    ]


def test_debug_in_settings_is_an_error() -> None:
    assert ids(_secured(DEBUG=True)) == ["deploy.E001"]


@pytest.mark.parametrize("key", ["short", "a" * 40, "abcdabcdabcdabcdabcdabcdabcdabcdabcd"])
def test_a_weak_secret_key_is_an_error(key: str) -> None:
    app = _secured()
    app.settings.SECRET_KEY = key
    assert ids(app) == ["deploy.E003"]


def test_the_generated_development_key_is_an_error(tmp_path: Path) -> None:
    (tmp_path / ".celeris").mkdir()
    (tmp_path / ".celeris" / "secret_key").write_text(STRONG + "\n")
    findings = deploy_checks(_secured(), tmp_path)
    assert [f.id for f in findings] == ["deploy.E002"]
    assert "development key" in findings[0].message


def test_hsts_off_and_an_insecure_session_cookie_are_warnings() -> None:
    app = App(openapi_url=None, settings=_Settings(SECRET_KEY=STRONG))
    SecurityHeaders(app=app, hsts=False)
    Sessions(app=app, secure=False)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["*"])
    findings = deploy_checks(app)
    assert [f.id for f in findings] == ["deploy.W001", "deploy.W002", "deploy.W003"]
    assert not any(f.is_error for f in findings)


def test_every_id_is_listed_and_stable() -> None:
    assert CHECK_IDS == (
        "deploy.E001",
        "deploy.E002",
        "deploy.E003",
        "deploy.W001",
        "deploy.W002",
        "deploy.W003",
    )


APP_SOURCE = f"""
from celeris import App
from celeris.middleware import TrustedHostMiddleware
from celeris.security import SecurityHeaders

class Settings:
    DEBUG = False
    SECRET_KEY = {STRONG!r}

good = App(openapi_url=None, settings=Settings())
SecurityHeaders(app=good)
good.add_middleware(TrustedHostMiddleware, allowed_hosts=["example.com"])

warned = App(openapi_url=None, settings=Settings())
SecurityHeaders(app=warned)

bad = App(openapi_url=None, debug=True)
"""


@pytest.fixture
def mod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"cli_check_app_{os.getpid()}"
    (tmp_path / f"{name}.py").write_text(APP_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_cli_passes_a_good_app(mod: str) -> None:
    result = CliRunner().invoke(main, ["check", "--deploy", f"{mod}:good"])
    assert (result.exit_code, result.output) == (0, "No problems found.\n")


def test_cli_fails_on_errors_and_names_each_finding(mod: str) -> None:
    result = CliRunner().invoke(check, ["--deploy", f"{mod}:bad"])
    assert result.exit_code == 1
    assert "deploy.E001: debug is on" in result.output
    assert "deploy.E002: no SECRET_KEY is set" in result.output
    assert "2 error(s), 2 warning(s)." in result.output


def test_cli_warnings_fail_only_at_the_warning_level(mod: str) -> None:
    result = CliRunner().invoke(check, ["--deploy", f"{mod}:warned"])
    assert result.exit_code == 0
    assert "deploy.W003" in result.output
    result = CliRunner().invoke(check, ["--deploy", "--fail-level", "warning", f"{mod}:warned"])
    assert result.exit_code == 1


def test_cli_skip_and_json(mod: str) -> None:
    result = CliRunner().invoke(
        check, ["--deploy", "--json", "--skip", "deploy.E002", f"{mod}:bad"]
    )
    assert result.exit_code == 1
    assert [row["id"] for row in json.loads(result.output)] == [
        "deploy.E001",
        "deploy.W001",
        "deploy.W003",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{mod}:good"], "say which checks to run"),
        (["--deploy", "--skip", "deploy.X9", "{mod}:good"], "unknown check ids: deploy.X9"),
    ],
)
def test_cli_usage_errors_are_one_line(mod: str, args: list[str], message: str) -> None:
    result = CliRunner().invoke(check, [a.format(mod=mod) for a in args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
