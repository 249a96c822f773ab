"""The app's migrations leave the tickets tables alone (they are the battery's, made at start-up)."""

from __future__ import annotations

import asyncio
import textwrap
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from celeris.cli.db import db
from celeris.db import Database
from celeris.tickets import Tickets

APP = """
    import sqlalchemy as sa
    from sqlalchemy import MetaData
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

    from celeris.db.database import Database
    from celeris.db.model import NAMING_CONVENTION


    class Base(DeclarativeBase):
        metadata = MetaData(naming_convention=NAMING_CONVENTION)


    class Note(Base):
        __tablename__ = "note"
        id: Mapped[int] = mapped_column(primary_key=True)
        title: Mapped[str] = mapped_column(sa.String(100))

    db = Database({url!r}, metadata=Base.metadata)
"""


def _run(*args: str) -> str:
    result = CliRunner().invoke(db, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_autogenerate_never_drops_the_tickets_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    url = f"sqlite:///{tmp_path / 'app.db'}"
    name = f"notes_{uuid.uuid4().hex[:10]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(APP).format(url=url))
    target = f"{name}:db"
    _run("--app", target, "init")
    _run("--app", target, "revision", "--autogenerate", "-m", "notes")
    _run("--app", target, "upgrade")

    async def make_tables() -> None:
        database = Database(url, root_path=tmp_path, migrate_on_startup=False)
        async with Tickets(db=database) as tickets:
            assert await tickets.count() == 0  # the tables exist now
        await database.disconnect()

    asyncio.run(make_tables())
    assert "No new upgrade operations" in _run("--app", target, "check")
