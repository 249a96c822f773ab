"""Bulk actions, CSV export (formula-safe) and bulk runs as jobs with progress."""

from __future__ import annotations

import csv
import io
import json
import re
import time

import sqlalchemy as sa
from examples.admin import Author, Book, seed

from celeris.admin import neutralise

from .conftest import MakeSite, Site


def _site(make_site: MakeSite, **options: object) -> Site:
    site = make_site(**options)
    site.user("staff@example.org", superuser=True)
    site.login("staff@example.org")
    return site


def _scalars(site: Site, statement: object) -> list[object]:
    async def run() -> list[object]:
        async with site.db.scope() as session:
            return list((await session.scalars(statement)).all())  # type: ignore[call-overload]

    return site.run(run())


def test_user_action_on_selected_rows_is_logged(make_site: MakeSite) -> None:
    site = _site(make_site)
    site.run(seed(site.db, authors=2, books=10, tags=1))
    response = site.post(
        "/admin/library_book/",
        [("action", "publish"), ("ids", "1"), ("ids", "2"), ("back", "n=50")],
    )
    assert response.status_code == 200
    assert "done on 2 rows" in response.text
    assert _scalars(site, sa.select(Book.id).where(Book.published).order_by(Book.id)) == [
        1,
        2,
        3,
        6,
        9,
    ]
    log = site.run(_log(site))
    assert [(r["action"], r["object_id"]) for r in log] == [
        ("action:publish", "1"),
        ("action:publish", "2"),
    ]
    assert json.loads(log[0]["before"])["published"] is False
    assert json.loads(log[0]["after"])["published"] is True


async def _log(site: Site) -> list[dict[str, object]]:
    async with site.db.scope() as session:
        rows = await session.execute(sa.text("SELECT * FROM celeris_admin_log ORDER BY id"))
        return [dict(r._mapping) for r in rows]


def test_bulk_delete_asks_first_then_deletes_all_matching(make_site: MakeSite) -> None:
    site = _site(make_site)
    site.run(seed(site.db, authors=2, books=12, tags=1))
    data = [("action", "delete"), ("all", "1"), ("back", "f.published=1")]
    ask = site.post("/admin/library_book/", data)
    assert ask.status_code == 200
    assert "4 in all" in ask.text
    assert "Book 3" in ask.text
    assert len(_scalars(site, sa.select(Book.id))) == 12
    done = site.post("/admin/library_book/", [*data, ("confirm", "1")])
    assert "done on 4 rows" in done.text
    assert _scalars(site, sa.select(Book.id).where(Book.published)) == []
    assert len(_scalars(site, sa.select(Book.id))) == 8
    assert [r["action"] for r in site.run(_log(site))] == ["delete"] * 4


def test_csv_export_neutralises_formulas(make_site: MakeSite) -> None:
    site = _site(make_site)

    async def setup() -> None:
        async with site.db.scope() as session:
            for name in [
                '=HYPERLINK("http://x")',
                "+1+1",
                "-2",
                "@SUM(A1)",
                "\tTab",
                "\rCR",
                'Plain, "quoted"',
            ]:
                session.add(Author(name=name, bio=""))

    site.run(setup())
    response = site.client.get("/admin/library_author/export.csv?c=id&c=name")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["Id", "Name"]
    names = sorted(r[1] for r in rows[1:])
    assert names == sorted(
        [
            '\'=HYPERLINK("http://x")',
            "'+1+1",
            "'-2",
            "'@SUM(A1)",
            "'\tTab",
            "'\rCR",
            'Plain, "quoted"',
        ]
    )
    searched = site.client.get("/admin/library_author/export.csv?q=Plain&c=name")
    assert list(csv.reader(io.StringIO(searched.text))) == [["Name"], ['Plain, "quoted"']]
    assert neutralise("=1") == "'=1"
    assert neutralise("a=1") == "a=1"


def test_large_bulk_action_runs_as_a_job_with_progress(make_site: MakeSite) -> None:
    site = _site(make_site, jobs_url="memory://", bulk_job_threshold=5)
    site.run(seed(site.db, authors=2, books=450, tags=1))
    response = site.post(
        "/admin/library_book/", [("action", "publish"), ("all", "1"), ("back", "")]
    )
    assert response.status_code == 200
    assert "running as a job" in response.text
    task_url = str(response.url)
    assert re.search(r"/admin/tasks/\d+/$", task_url)
    deadline = time.monotonic() + 20
    while '<strong id="task-state">done</strong>' not in (page := site.page(task_url)):
        assert time.monotonic() < deadline, page
        time.sleep(0.1)
    assert '<progress id="progress" max="450" value="450">' in page
    assert len(_scalars(site, sa.select(Book.id).where(Book.published))) == 450
    actions = [r["action"] for r in site.run(_log(site))]
    assert actions.count("action:publish") == 450
