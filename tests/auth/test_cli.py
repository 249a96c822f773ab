"""``celeris auth createsuperuser`` / ``changepassword`` against a real app module."""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from celeris.cli import main
from celeris.cli.auth import load_auth

from .conftest import PASSWORD

APP = """
from celeris import App
from celeris.auth import Auth, PasswordHasher
from celeris.db import Database
from celeris.sessions import Sessions

app = App()
db = Database("sqlite:///{folder}/cli.db", app=app)
Sessions(app=app, secret_key="k" * 40)
auth = Auth(app=app, db=db, secret_key="k" * 40,
            hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
"""


@pytest.fixture
def target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"cliapp_{secrets.token_hex(4)}"
    (tmp_path / f"{name}.py").write_text(APP.format(folder=tmp_path))
    monkeypatch.chdir(tmp_path)
    return f"{name}:app"


async def _check(target: str, email: str, password: str) -> tuple[bool, bool]:
    auth = load_auth(target)
    await auth.db.connect()
    try:
        await auth.start()
        user = await auth.verify_credentials(email, password)
        return user is not None, bool(user and user.is_superuser and user.is_staff)
    finally:
        await auth.db.disconnect()


def test_createsuperuser_from_flags_and_env_then_changepassword(target: str) -> None:
    runner = CliRunner()
    args = ["auth", "--app", target, "createsuperuser", "--email", "root@example.org", "--no-input"]
    done = runner.invoke(main, args, env={"CELERIS_PASSWORD": PASSWORD})
    assert done.exit_code == 0, done.output
    assert "Superuser root@example.org created" in done.output
    assert asyncio.run(_check(target, "root@example.org", PASSWORD)) == (True, True)
    again = runner.invoke(main, args, env={"CELERIS_PASSWORD": PASSWORD})
    assert again.exit_code == 1
    assert "exists" in again.output
    new = "another long passphrase"
    changed = runner.invoke(
        main,
        ["auth", "--app", target, "changepassword", "ROOT@example.org"],
        input=f"{new}\n{new}\n",
    )
    assert changed.exit_code == 0, changed.output
    assert PASSWORD not in changed.output
    assert new not in changed.output  # prompted hidden
    assert asyncio.run(_check(target, "root@example.org", new)) == (True, True)


def test_createsuperuser_prompts_and_refuses_weak_passwords(target: str) -> None:
    runner = CliRunner()
    weak = runner.invoke(
        main,
        ["auth", "--app", target, "createsuperuser"],
        input="a@example.org\npassword\npassword\n",
    )
    assert weak.exit_code == 1
    assert "too common" in weak.output
    ok = runner.invoke(
        main,
        ["auth", "--app", target, "createsuperuser"],
        input=f"a@example.org\n{PASSWORD}\n{PASSWORD}\n",
    )
    assert ok.exit_code == 0, ok.output


def test_bad_targets_and_missing_input(target: str) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["auth", "--app", "nosuchmodule:app", "createsuperuser"])
    assert missing.exit_code == 2
    assert "cannot import" in missing.output
    no_env = runner.invoke(
        main, ["auth", "--app", target, "createsuperuser", "--email", "a@example.org", "--no-input"]
    )
    assert no_env.exit_code == 1
    assert "CELERIS_PASSWORD" in no_env.output
    unknown = runner.invoke(
        main,
        ["auth", "--app", target, "changepassword", "nobody@example.org", "--no-input"],
        env={"CELERIS_PASSWORD": PASSWORD},
    )
    assert unknown.exit_code == 1
    assert "no account" in unknown.output
    assert "auth" in runner.invoke(main, ["--help"]).output
