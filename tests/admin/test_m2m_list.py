"""Many-to-many fields in ``list_display``: one query per column for the whole page."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from examples.admin import Tag, book_tag, seed

from celeris.admin.listing import M2M_SHOWN

from .conftest import MakeSite, Site, superuser_site


def _site(make_site: MakeSite) -> Site:
    site = superuser_site(make_site)
    site.run(seed(site.db, authors=2, books=30, tags=6))

    async def link() -> None:
        async with site.db.scope() as session:
            await session.execute(sa.update(Tag).where(Tag.id == 1).values(name="<b>bold</b>"))
            links = [{"book_id": 1, "tag_id": t} for t in (1, 2)]
            links += [{"book_id": 2, "tag_id": t} for t in range(1, 7)]
            links += [{"book_id": b, "tag_id": 3} for b in range(3, 31)]
            await session.execute(book_tag.insert(), links)

    site.run(link())
    site.admin.registry["library_book"].list_display = ["id", "title", "tags"]
    return site


@contextmanager
def counted(site: Site) -> Iterator[list[str]]:
    """Record the SQL statements the site runs inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    engine = site.db.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def _cell(html: str, pk: int) -> str:
    row = html.split(f'name="ids" value="{pk}"', 1)[1].split("</tr>", 1)[0]
    return row.rsplit("<td>", 1)[1].split("</td>", 1)[0]


def test_m2m_column_lists_labels_escaped_and_truncated(make_site: MakeSite) -> None:
    site = _site(make_site)
    html = site.page("/admin/library_book/?o=id")
    assert _cell(html, 1) == "&lt;b&gt;bold&lt;/b&gt;, tag 2"
    assert _cell(html, 2) == "&lt;b&gt;bold&lt;/b&gt;, tag 2, tag 3 … (6 in all)"
    assert _cell(html, 3) == "tag 3"
    assert M2M_SHOWN == 3
    assert "<b>bold" not in html
    # Not sortable: no sort link on its header, and ?o=tags is ignored with a message.
    assert "o=tags" not in html
    assert "o=-tags" not in html
    assert "Sorting by &#39;tags&#39; ignored" in site.page("/admin/library_book/?o=tags")


def test_m2m_column_costs_one_query_per_page(make_site: MakeSite) -> None:
    site = _site(make_site)
    model_admin = site.admin.registry["library_book"]
    site.page("/admin/library_book/?n=10")  # warm: session, permissions, caches

    def queries(path: str) -> list[str]:
        with counted(site) as seen:
            site.page(path)
        return seen

    with_tags = queries("/admin/library_book/?n=25")
    linked = [q for q in with_tags if "library_book_tag" in q]
    assert len(linked) == 1
    model_admin.list_display = ["id", "title"]
    without = queries("/admin/library_book/?n=25")
    assert len(with_tags) == len(without) + 1
    model_admin.list_display = ["id", "title", "tags"]
    assert len(queries("/admin/library_book/?n=10")) == len(with_tags)


def test_m2m_column_in_the_csv_export(make_site: MakeSite) -> None:
    site = _site(make_site)
    response = site.client.get("/admin/library_book/export.csv?o=id")
    assert response.status_code == 200
    lines = response.text.splitlines()
    assert lines[0] == "Id,Title,Tags"
    assert lines[1].endswith(',"<b>bold</b>, tag 2"')
