"""Set-up: the URL picks the store, mistakes have stable ids, imports stay light."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from celeris import App
from celeris.db import Database
from celeris.tickets import Tickets, TicketsConfigError
from celeris.tickets.database import DatabaseStore
from celeris.tickets.memory import MemoryStore


def _modules_after(code: str) -> list[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    modules: list[str] = json.loads(done.stdout)
    return modules


def test_import_celeris_loads_no_tickets_and_memory_tickets_load_no_sqlalchemy() -> None:
    assert not [m for m in _modules_after("import celeris") if m.startswith("celeris.tickets")]
    modules = _modules_after("from celeris.tickets import Tickets\nTickets('memory://').store")
    assert "sqlalchemy" not in modules
    assert "celeris.tickets.database" not in modules


def test_the_url_picks_the_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TICKETS_URL", raising=False)
    assert isinstance(Tickets("memory://").store, MemoryStore)
    monkeypatch.setenv("TICKETS_URL", "memory://")
    assert isinstance(Tickets(app=App()).store, MemoryStore)
    monkeypatch.delenv("TICKETS_URL")
    database = Database(f"sqlite:///{tmp_path / 'app.db'}", root_path=tmp_path)
    app = App()
    database.install(app)
    store = Tickets(app=app).store
    assert isinstance(store, DatabaseStore)
    assert store.database is database  # the app's own Database
    default_tickets = Tickets(root_path=tmp_path)
    default = default_tickets.store
    assert isinstance(default, DatabaseStore)
    assert str(default.database.url).endswith("tickets.db")
    assert default_tickets._owned_database is default.database  # closed by Tickets


def test_a_missing_db_extra_is_e001_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TICKETS_URL", raising=False)
    monkeypatch.setitem(sys.modules, "celeris.db", None)  # NOTE: as if SQLAlchemy were missing
    fix = r"need pip install 'celeris\[tickets\]'"
    with pytest.raises(TicketsConfigError, match=rf"^tickets\.E001: tickets on sqlite:// {fix}"):
        Tickets(root_path=tmp_path).store  # noqa: B018
    with pytest.raises(
        TicketsConfigError, match=rf"^tickets\.E001: tickets on postgresql:// {fix}"
    ):
        Tickets("postgresql://localhost/app", root_path=tmp_path).store  # noqa: B018


def test_mistakes_have_stable_ids() -> None:
    with pytest.raises(TicketsConfigError, match=r"tickets\.E001.*'redis'"):
        Tickets("redis://localhost").store  # noqa: B018
    with pytest.raises(TicketsConfigError, match=r"tickets\.E002"):
        Tickets("memory://", samples=0)
    with pytest.raises(TicketsConfigError, match=r"tickets\.E002"):
        Tickets("memory://", retention=0)


def test_the_dsn_key_is_stable_for_a_secret_key_and_differs_between_keys() -> None:
    class Settings:
        SECRET_KEY = "one-secret-key-value"

    first, second = App(), App()
    first.settings = second.settings = Settings()  # type: ignore[assignment]
    key = Tickets("memory://", app=first, sentry_path=None).sentry_key
    assert key == Tickets("memory://", app=second, sentry_path=None).sentry_key
    assert len(key) == 32
    assert key != Tickets("memory://", sentry_path=None).sentry_key
