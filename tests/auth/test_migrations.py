"""The battery's tables go into the app's own migrations (celeris.db runs one folder)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

APP = """
from celeris import App
from celeris.auth import Auth
from celeris.db import Database
from celeris.sessions import Sessions

app = App()
db = Database("sqlite:///{folder}/app.db", app=app)
Sessions(app=app, secret_key="k" * 40)
auth = Auth(app=app, db=db, secret_key="k" * 40)
"""


def _celeris(folder: Path, *args: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([os.environ.get("PYTHONPATH", ""), str(folder)]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "celeris", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_autogenerate_writes_the_auth_tables_and_check_is_clean(tmp_path: Path) -> None:
    (tmp_path / "accounts.py").write_text(APP.format(folder=tmp_path))
    _celeris(tmp_path, "db", "--app", "accounts:db", "init")
    _celeris(tmp_path, "db", "--app", "accounts:db", "revision", "--autogenerate", "-m", "accounts")
    [revision] = (tmp_path / "migrations" / "versions").glob("*.py")
    source = revision.read_text()
    for table in (
        "celeris_user",
        "celeris_group",
        "celeris_api_token",
        "celeris_device",
        "celeris_totp",
    ):
        assert f"op.create_table('{table}'" in source.replace("(\n        ", "("), table
    _celeris(tmp_path, "db", "--app", "accounts:db", "upgrade")
    _celeris(tmp_path, "db", "--app", "accounts:db", "check")  # nothing left to migrate
    engine = sa.create_engine(f"sqlite:///{tmp_path}/app.db")
    try:
        names = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"celeris_user", "celeris_user_permission", "celeris_passkey"} <= names
