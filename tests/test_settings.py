"""``celeris.settings``: typed settings from kwargs, the environment and ``.env``."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from celeris.settings import Secret, Settings, SettingsError, dev_secret_key


class Config(Settings):
    DEBUG: bool = False
    SECRET_KEY: str
    PORT: int = 8000
    RATIO: float = 0.5
    DATABASE_URL: str | None = None
    ALLOWED_HOSTS: list[str] = []
    LIMITS: dict[str, int] = {}
    API_SIGNING: Secret | None = None


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("CELERIS_DEBUG", "DEBUG", "SECRET_KEY", "PORT", "DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_reads_and_converts_the_environment() -> None:
    env = {
        "SECRET_KEY": "s3cret",
        "DEBUG": "yes",
        "PORT": "9000",
        "RATIO": "1.5",
        "ALLOWED_HOSTS": "a.example, b.example",
        "LIMITS": '{"x": "3"}',
    }
    config = Config(_environ=env)
    assert config.SECRET_KEY == "s3cret"
    assert config.DEBUG is True
    assert config.PORT == 9000
    assert config.RATIO == 1.5
    assert config.ALLOWED_HOSTS == ["a.example", "b.example"]
    assert config.LIMITS == {"x": 3}
    assert config.DATABASE_URL is None


def test_json_list_and_empty_optional() -> None:
    config = Config(_environ={"SECRET_KEY": "k", "ALLOWED_HOSTS": '["x", "y"]', "DATABASE_URL": ""})
    assert config.ALLOWED_HOSTS == ["x", "y"]
    assert config.DATABASE_URL is None


def test_precedence_kwargs_env_dotenv_default(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SECRET_KEY=from-file\nPORT=7000\nRATIO=0.25\n")
    config = Config(_environ={"PORT": "7500"}, RATIO=2)
    assert config.SECRET_KEY == "from-file"  # .env
    assert config.PORT == 7500  # environment over .env
    assert config.RATIO == 2.0  # keyword over everything
    assert config.DEBUG is False  # class default


def test_reads_the_real_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_KEY", "env-key")
    monkeypatch.setenv("PORT", "1234")
    config = Config()
    assert (config.SECRET_KEY, config.PORT) == ("env-key", 1234)


def test_env_prefix() -> None:
    class Prefixed(Settings):
        env_prefix = "MYAPP_"
        PORT: int = 1

    assert Prefixed(_environ={"MYAPP_PORT": "5", "PORT": "9"}).PORT == 5


def test_every_error_is_reported_at_once() -> None:
    with pytest.raises(SettingsError) as info:
        Config(_environ={"PORT": "eighty", "RATIO": "half", "DEBUG": "maybe"})
    errors = info.value.errors
    assert set(errors) == {"SECRET_KEY", "PORT", "RATIO", "DEBUG"}
    assert errors["SECRET_KEY"].startswith("missing")
    message = str(info.value)
    assert "4 settings are missing or invalid in Config" in message
    for key in ("SECRET_KEY", "PORT", "RATIO", "DEBUG"):
        assert f"  {key}: " in message
    assert "'eighty'" in message


def test_a_bad_secret_is_not_echoed_in_the_error() -> None:
    class Typed(Settings):
        API_KEY: int

    with pytest.raises(SettingsError) as info:
        Typed(_environ={"API_KEY": "hunter2"})
    assert "hunter2" not in str(info.value)


def test_unknown_keyword_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="NOPE"):
        Config(SECRET_KEY="k", NOPE=1)


def test_secrets_are_hidden_from_repr_and_logs(caplog: pytest.LogCaptureFixture) -> None:
    config = Config(
        _environ={
            "SECRET_KEY": "hunter2",
            "DATABASE_URL": "postgresql://app:pa55word@db.example/app",
            "API_SIGNING": "signing-value",
        }
    )
    text = repr(config)
    for leaked in ("hunter2", "pa55word", "signing-value"):
        assert leaked not in text
    assert "SECRET_KEY='**********'" in text
    assert "postgresql://app:**********@db.example/app" in text
    assert "API_SIGNING='**********'" in text
    assert str(config) == text
    with caplog.at_level(logging.INFO):
        logging.getLogger("app").info("settings: %s", config)
    assert "hunter2" not in caplog.text
    # the values themselves are usable
    assert isinstance(config.API_SIGNING, Secret)
    assert config.API_SIGNING == "signing-value"
    assert repr(config.API_SIGNING) == "Secret('**********')"
    assert config.as_dict(reveal=True)["SECRET_KEY"] == "hunter2"
    assert config.as_dict()["SECRET_KEY"] == "**********"


def test_development_secret_key_is_made_once(tmp_path: Path) -> None:
    first = Config(_environ={"DEBUG": "true"})
    path = tmp_path / ".celeris" / "secret_key"
    assert path.read_text().strip() == first.SECRET_KEY
    assert len(first.SECRET_KEY) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (tmp_path / ".celeris" / ".gitignore").read_text().splitlines()[-1] == "*"
    second = Config(_environ={"CELERIS_DEBUG": "1"})  # `celeris run` sets CELERIS_DEBUG
    assert second.SECRET_KEY == first.SECRET_KEY
    assert dev_secret_key(tmp_path) == first.SECRET_KEY


def test_production_needs_a_real_secret_key(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY"):
        Config(_environ={})
    assert not (tmp_path / ".celeris").exists()


def test_app_settings_and_database_url(tmp_path: Path) -> None:
    from celeris import App
    from celeris.db import Database

    config = Config(_environ={"SECRET_KEY": "k", "DATABASE_URL": f"sqlite:///{tmp_path}/s.db"})
    app = App(settings=config)
    assert app.settings is config
    db = Database(app=app)
    assert db.url.database == f"{tmp_path}/s.db"
    assert App().settings is None


def test_import_celeris_does_not_import_settings_libraries() -> None:
    code = (
        "import sys, celeris; "
        "bad = [m for m in ('celeris.settings', 'dotenv', 'pydantic_settings') if m in sys.modules]; "
        "print(bad)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    ).stdout
    assert out.strip() == "[]"


def test_msgspec_errors_stay_settings_errors() -> None:
    class Nested(Settings):
        POINTS: list[int] = []

    with pytest.raises(SettingsError, match="POINTS"):
        Nested(_environ={"POINTS": "1,two"})
    assert Nested(_environ={"POINTS": "1, 2"}).POINTS == [1, 2]
    assert not issubclass(SettingsError, msgspec.ValidationError)
