"""examples/db.py, the db extra's one-file app (.ci/fresh-install serves it with celeris[db] alone)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sqlalchemy")

ROOT = Path(__file__).resolve().parents[2]

CHECK = """
from celeris.testing import TestClient
from db import app

with TestClient(app) as client:
    assert client.get("/").json() == {"notes": 0}
    created = client.post("/note", json={"title": "first"})
    assert created.status_code == 201, created.text
    assert client.get("/").json() == {"notes": 1}
    assert client.get(f"/note/{created.json()['id']}").json()["title"] == "first"
"""


def test_db_example_creates_its_table_and_serves(tmp_path: Path) -> None:
    # A fresh directory and interpreter: the example's SQLite file and models stay there.
    shutil.copy(ROOT / "examples" / "db.py", tmp_path / "db.py")
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", CHECK],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "DATABASE_URL"},  # its default: SQLite
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "app.db").exists()
