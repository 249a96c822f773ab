"""Session backends, parametrised: the signed cookie, memory, real Redis, SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

BACKENDS = ["cookie", "memory", "redis", "db-sqlite", "db-postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, object]:
    """Keyword arguments of ``Sessions`` for each backend."""
    kind = request.param
    if kind == "cookie":
        return {"url": "cookie://"}
    if kind == "memory":
        return {"url": "memory://"}
    if kind == "redis":
        return {"url": request.getfixturevalue("redis_url")}
    from celeris.db import Database

    if kind == "db-postgres":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path}/sessions.db"
    return {"url": "db", "db": Database(url, root_path=tmp_path)}
