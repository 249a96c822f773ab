"""``celeris tickets`` on a real SQLite file written by a running app."""

from __future__ import annotations

import asyncio
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from celeris import App
from celeris.cli import main
from celeris.testing import AsyncTestClient
from celeris.tickets import TicketGroup, Tickets

APP = textwrap.dedent(
    """
    from celeris import App
    from celeris.tickets import TicketGroup, Tickets

    app = App()
    tickets = Tickets(app=app)  # TICKETS_URL from the environment
    """
)


def _cli(*args: str) -> Result:
    return CliRunner().invoke(main, ["tickets", "--app", "cliapp:app", *args])


def test_list_show_resolve_purge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cliapp.py").write_text(APP)
    monkeypatch.setenv("TICKETS_URL", f"sqlite:///{tmp_path / 'tickets.db'}")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    app = App()
    tickets = Tickets(f"sqlite:///{tmp_path / 'tickets.db'}", app=app)

    @app.get("/boom")
    async def boom() -> None:
        token = "abcdefgh-secret"  # noqa: F841 (a local the ticket shows masked)
        raise LookupError("no such basket 12")

    async def produce() -> TicketGroup:
        async with AsyncTestClient(app, raise_server_exceptions=False) as client:
            await client.get("/boom?x=1")
            await client.get("/boom?x=2")
            assert await tickets.flush(10)
            (found,) = await tickets.list()
        return found

    group = asyncio.run(produce())

    listed = _cli("list")
    assert listed.exit_code == 0, listed.output
    assert "1 group(s)" in listed.output
    assert group.id in listed.output
    assert "x2" in listed.output
    assert "LookupError" in listed.output

    shown = _cli("show", group.id)
    assert shown.exit_code == 0, shown.output
    assert "GET /boom?x=2" in shown.output
    assert 'raise LookupError("no such basket 12")' in shown.output
    assert "token = **********" in shown.output
    assert "LookupError: no such basket 12" in shown.output

    missing = _cli("show", "nope")
    assert missing.exit_code != 0
    assert "no ticket group 'nope'" in missing.output

    assert _cli("resolve", group.id).exit_code == 0
    assert "resolved" in _cli("list").output

    purged = _cli("purge", "--yes")
    assert purged.exit_code == 0
    assert "purged 1 group(s)" in purged.output
    assert "0 group(s)" in _cli("list").output
