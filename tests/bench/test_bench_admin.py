"""bench/admin: its seed on the real PostgreSQL, and the quick run's plumbing end to end.

The quick run serves Django's admin (gunicorn, from the peer venv) and, when this tree has
``examples/admin.py``, celeris's admin, on the tiny dataset: three signed-in browsers each,
every page checked for what it must show. It asserts that the plumbing works and every page
answered, nothing about speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from bench.admin import run, seed

from bench import environment
from celeris.db.pagination import encode_cursor

ROOT = Path(__file__).resolve().parents[2]


def _server(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/", "", ""))


async def test_the_seed_fills_the_tables_once_with_the_titles_it_promises(
    postgres_url: str,
) -> None:
    base, name = _server(postgres_url), f"bench_admin_t{uuid.uuid4().hex[:10]}"
    sizes = seed.Sizes(books=500, authors=20, tags=5)
    await seed.ensure_database(base, name)
    url = seed.database_url(base, name)
    try:
        assert await seed.seed(url, sizes) is True
        assert await seed.seed(url, sizes) is False  # seeded: left alone
        conn = await asyncpg.connect(url)
        try:
            counts = [
                await conn.fetchval(f"SELECT count(*) FROM library_{t}")
                for t in ("book", "author", "tag")
            ]
            assert counts == [500, 20, 5]
            for book in (1, 250, 500):
                got = await conn.fetchval("SELECT title FROM library_book WHERE id = $1", book)
                assert got == seed.title(book)
            tagged = await conn.fetchval("SELECT count(DISTINCT book_id) FROM library_book_tag")
            assert tagged == 500 // 4  # every fourth book; every twelfth has a second tag
            # the planner's estimate, which celeris's list shows on a large table, is set
            assert (
                await conn.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'library_book'")
                == 500
            )
            # the next insert does not collide with the seeded ids
            new = await conn.fetchval(
                "INSERT INTO library_book (title, author_id, published) VALUES ('x', 1, false) RETURNING id"
            )
            assert new == 501
        finally:
            await conn.close()
        assert await seed.seed(url, seed.Sizes(books=100, authors=10, tags=5)) is True  # rebuilt
    finally:
        admin = await asyncpg.connect(seed.database_url(base, "postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


def test_the_far_cursor_is_the_one_celeris_pages_with() -> None:
    # the list is ordered by id: the page after the row 499950 starts at row 499951
    assert run.celeris_far_cursor(499_951) == encode_cursor([499_950])


def test_both_sides_show_the_same_rows_half_way_down() -> None:
    bench = run.Bench(run.parse_args([]))
    assert bench.far_page == 10_000
    assert bench.far_id == (10_000 - 1) * 50 + 1 == 499_951  # the first row of Django's ?p=10000
    assert bench.expect["far"] == seed.title(499_951)


def test_bad_usage_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        run.parse_args(["--sides", "django,flask"])
    assert stop.value.code == 2
    assert "--sides takes some of" in capsys.readouterr().err


@pytest.mark.skipif(
    not (environment.peer_bin() / "python").exists() or not environment.peers_current(),
    reason="bench/.venv-peers is not built from the current requirements (run the bench once)",
)
def test_the_quick_run_signs_in_and_loads_every_page(postgres_url: str, tmp_path: Path) -> None:
    sides = ["django", "django-nocount"]
    if (ROOT / "examples" / "admin.py").exists():
        sides.append("celeris")
    argv = [sys.executable, str(ROOT / "bench" / "admin" / "run.py"), "--quick", "--out"]
    argv += [str(tmp_path), "--database", _server(postgres_url), "--sides", ",".join(sides)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    (report,) = tmp_path.glob("*.md")
    results = json.loads(report.with_suffix(".json").read_text())
    assert sorted(results) == sorted(sides)
    for name in sides:
        side = results[name]
        assert side["error"] is None
        assert side["sessions"] == 3
        for phase in ("solo", "loaded"):
            for page in ("dashboard", "list", "search", "far", "change"):
                info = side[phase][page]
                assert info["count"] > 0, (name, phase, page, info)
                assert info["errors"] == 0, (name, phase, page, info)
                assert 0 < info["p50"] <= info["p90"] <= info["p99"]
    text = report.read_text()
    assert "3 concurrent signed-in staff users" in text
    assert "Load when it started" in text
