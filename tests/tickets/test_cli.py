"""``celeris tickets`` on a real SQLite file, run as a user runs it (a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from celeris import App
from celeris.testing import AsyncTestClient
from celeris.tickets import Tickets

APP = textwrap.dedent(
    """
    from celeris import App
    from celeris.tickets import Tickets

    app = App()
    tickets = Tickets(app=app)  # TICKETS_URL from the environment
    """
)


def _cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TICKETS_URL": f"sqlite:///{project / 'tickets.db'}"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    return subprocess.run(
        [sys.executable, "-m", "celeris", "tickets", "--app", "cliapp:app", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_list_show_resolve_purge(tmp_path: Path) -> None:
    (tmp_path / "cliapp.py").write_text(APP)
    app = App()
    tickets = Tickets(f"sqlite:///{tmp_path / 'tickets.db'}", app=app)

    @app.get("/boom")
    async def boom() -> None:
        token = "abcdefgh-secret"  # noqa: F841 (a local the ticket shows masked)
        raise LookupError("no such basket 12")

    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        await client.get("/boom?x=1")
        await client.get("/boom?x=2")
        assert await tickets.flush(10)
        (group,) = await tickets.list()

    listed = _cli(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    assert "1 group(s)" in listed.stdout
    assert group.id in listed.stdout
    assert "x2" in listed.stdout
    assert "LookupError" in listed.stdout

    shown = _cli(tmp_path, "show", group.id)
    assert shown.returncode == 0, shown.stderr
    assert "GET /boom?x=2" in shown.stdout
    assert 'raise LookupError("no such basket 12")' in shown.stdout
    assert "token = **********" in shown.stdout
    assert "LookupError: no such basket 12" in shown.stdout

    missing = _cli(tmp_path, "show", "nope")
    assert missing.returncode != 0
    assert "no ticket group 'nope'" in missing.stderr

    assert _cli(tmp_path, "resolve", group.id).returncode == 0
    assert "resolved" in _cli(tmp_path, "list").stdout

    purged = _cli(tmp_path, "purge", "--yes")
    assert purged.returncode == 0
    assert "purged 1 group(s)" in purged.stdout
    assert "0 group(s)" in _cli(tmp_path, "list").stdout
