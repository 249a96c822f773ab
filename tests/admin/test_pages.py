"""The model pages through the test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from typing import Any

import sqlalchemy as sa
from examples.admin import Author, Book, Tag, seed

from .conftest import MakeSite, Site


def _site(make_site: MakeSite, **options: Any) -> Site:
    site = make_site(**options)
    site.user("staff@example.org", superuser=True)
    site.login("staff@example.org")
    return site


def _rows(site: Site, statement: Any) -> list[Any]:
    async def run() -> list[Any]:
        async with site.db.scope() as session:
            return list((await session.execute(statement)).all())

    return site.run(run())


def test_create_with_a_validation_error_next_to_its_field(make_site: MakeSite) -> None:
    site = _site(make_site)
    response = site.post(
        "/admin/library_author/add/",
        {"name": "x" * 101, "email": "", "born": "not a date", "bio": ""},
        token_from="/admin/library_author/add/",
    )
    assert response.status_code == 422
    html = response.text
    assert 'id="f-name-error"' in html
    assert "At most 100 characters" in html
    assert 'id="f-born-error"' in html
    assert "Enter a date" in html
    assert re.search(r'id="f-name"[^>]*aria-invalid="true"', html)
    assert "x" * 101 in html  # the value comes back for correction
    assert _rows(site, sa.select(Author)) == []

    response = site.post(
        "/admin/library_author/add/",
        {"name": "Ursula", "email": "u@example.org", "born": "1929-10-21", "bio": "Earthsea"},
        token_from="/admin/library_author/add/",
    )
    assert response.status_code == 200  # followed the 303 to the list
    assert "Saved author" in response.text
    assert "Ursula" in response.text
    [(author,)] = _rows(site, sa.select(Author))
    assert author.born.isoformat() == "1929-10-21"


def test_foreign_key_many_to_many_inline_edit_and_history(make_site: MakeSite) -> None:
    site = _site(make_site)

    async def setup() -> None:
        await seed(site.db, authors=3, books=0, tags=3)

    site.run(setup())
    form = site.page("/admin/library_book/add/")
    assert '<select id="f-author_id" name="author_id"' in form
    assert 'name="tags" multiple' in form
    response = site.post(
        "/admin/library_book/add/",
        [
            ("title", "A Wizard"),
            ("author_id", "2"),
            ("published", "1"),
            ("pages", "183"),
            ("price", "9.99"),
            ("tags", "1"),
            ("tags", "3"),
        ],
        token_from="/admin/library_book/add/",
    )
    assert response.status_code == 200, response.text
    [(book,)] = _rows(site, sa.select(Book))
    assert (book.author_id, book.published, book.pages, str(book.price)) == (2, True, 183, "9.99")
    links = _rows(site, sa.text("SELECT tag_id FROM library_book_tag ORDER BY tag_id"))
    assert [r[0] for r in links] == [1, 3]

    # inline: the author's form lists its books and adds one more
    page = site.page("/admin/library_author/2/")
    assert 'name="books-0-title" value="A Wizard"' in page
    assert 'name="books-total" value="2"' in page
    data = [
        ("name", "Author 2"),
        ("email", "author2@example.org"),
        ("born", ""),
        ("bio", ""),
        ("books-total", "2"),
        ("books-0-id", str(book.id)),
        ("books-0-title", "A Wizard of Earthsea"),
        ("books-0-published", "1"),
        ("books-0-pages", "183"),
        ("books-1-id", ""),
        ("books-1-title", "The Tombs"),
        ("books-1-pages", "oops"),
    ]
    response = site.post("/admin/library_author/2/", data, token_from="/admin/library_author/2/")
    assert response.status_code == 422
    assert 'id="f-books-1-pages-error"' in response.text
    data[-1] = ("books-1-pages", "180")
    response = site.post("/admin/library_author/2/", data, token_from="/admin/library_author/2/")
    assert response.status_code == 200, response.text[:2000]
    titles = sorted(r[0] for r in _rows(site, sa.select(Book.title).where(Book.author_id == 2)))
    assert titles == ["A Wizard of Earthsea", "The Tombs"]

    history = site.page(f"/admin/library_book/{book.id}/history/")
    assert "A Wizard of Earthsea" in history
    assert "<del>A Wizard</del>" in history
    log = _rows(
        site, sa.text("SELECT action, model, before, after FROM celeris_admin_log ORDER BY id")
    )
    assert [(a, m) for a, m, _, _ in log] == [
        ("add", "library_book"),
        ("change", "library_book"),
        ("add", "library_book"),
    ]
    assert json.loads(log[1][2])["title"] == "A Wizard"
    assert json.loads(log[1][3])["title"] == "A Wizard of Earthsea"
    assert "Recent actions" in site.page("/admin/")
    assert "The Tombs" in site.page("/admin/log/")


def test_list_search_filter_sort_columns_and_keyset_pages(make_site: MakeSite) -> None:
    site = _site(make_site)
    site.run(seed(site.db, authors=5, books=120, tags=2))
    html = site.page("/admin/library_book/?n=50")
    assert html.count('name="ids"') == 50
    assert "120 books" in html
    after = re.search(r'rel="next" href="\?([^"]+)"', html)
    assert after
    second = site.page("/admin/library_book/?" + after.group(1).replace("&amp;", "&"))
    ids = [int(i) for i in re.findall(r'name="ids" value="(\d+)"', second)]
    assert ids == list(range(51, 101))
    # search, filter, sort, column choice
    found = site.page("/admin/library_book/?q=Book+11")
    assert sorted(int(i) for i in re.findall(r'name="ids" value="(\d+)"', found)) == [
        11,
        *range(110, 120),
    ]
    published = site.page("/admin/library_book/?f.published=1&n=100")
    assert all(int(i) % 3 == 0 for i in re.findall(r'name="ids" value="(\d+)"', published))
    ordered = site.page("/admin/library_book/?o=-pages&n=10")
    pages = [int(i) for i in re.findall(r'name="ids" value="(\d+)"', ordered)]
    assert pages[:2] == [120, 119]  # pages = 50 + id % 900: the largest id first
    chosen = site.page("/admin/library_book/?c=title&c=pages")
    assert '<th scope="col"><a' in chosen
    assert ">Price<" not in chosen.split("<tbody>")[0].split("<details")[0]
    # bad query parameters: ignored with a message, or 400 for a forged cursor
    odd = site.page("/admin/library_book/?o=nope&n=100000")
    assert "Sorting by &#39;nope&#39; ignored" in odd
    assert "Page size &#39;100000&#39; ignored" in odd
    bad = site.client.get("/admin/library_book/?after=!!!", headers={"accept": "application/json"})
    assert bad.status_code == 400
    assert bad.headers["content-type"].startswith("application/problem+json")


def test_delete_lists_what_cascades_then_deletes(make_site: MakeSite) -> None:
    site = _site(make_site)
    site.run(seed(site.db, authors=2, books=6, tags=1))
    page = site.page("/admin/library_author/1/delete/")
    assert "Also deleted: 3 Books" in page
    assert "Book 2" in page
    response = site.post(
        "/admin/library_author/1/delete/", {}, token_from="/admin/library_author/1/delete/"
    )
    assert response.status_code == 200
    assert "Deleted author" in response.text
    assert _rows(site, sa.select(sa.func.count()).select_from(Book))[0][0] == 3
    assert _rows(site, sa.select(Author.id)) == [(2,)]
    log = _rows(site, sa.text("SELECT action, model FROM celeris_admin_log"))
    assert ("delete", "library_author") in [tuple(r) for r in log]
    assert (
        site.client.get("/admin/library_author/1/", headers={"accept": "text/html"}).status_code
        == 404
    )


def test_search_endpoint_for_foreign_key_selects(make_site: MakeSite) -> None:
    site = _site(make_site)
    site.run(seed(site.db, authors=30, books=0, tags=0))
    found = site.client.get("/admin/library_author/search.json?q=Author 2").json()["results"]
    assert {"id": "2", "text": "Author 2"} in found
    assert len(found) == 11
    assert site.client.get("/admin/library_tag/search.json?q=x").json() == {"results": []}


def test_tag_with_no_options_gets_sensible_pages(make_site: MakeSite) -> None:
    site = _site(make_site)
    response = site.post(
        "/admin/library_tag/add/", {"name": "fantasy"}, token_from="/admin/library_tag/add/"
    )
    assert response.status_code == 200
    response = site.post(
        "/admin/library_tag/add/", {"name": "fantasy"}, token_from="/admin/library_tag/add/"
    )
    assert response.status_code == 422
    assert 'id="f-name-error">Another tag has this name.' in response.text
    assert [r[0] for r in _rows(site, sa.select(Tag.name))] == ["fantasy"]


def test_column_choice_offers_columns_beyond_the_default_ones(make_site: MakeSite) -> None:
    site = _site(make_site)

    async def setup() -> None:
        async with site.db.scope() as session:
            session.add(Author(name="Ursula", bio="wrote of Earthsea"))

    site.run(setup())
    default = site.page("/admin/library_author/")
    assert "wrote of Earthsea" not in default
    assert 'name="c" value="bio"' in default  # offered in the column chooser
    chosen = site.page("/admin/library_author/?c=name&c=bio&c=nope")
    assert "wrote of Earthsea" in chosen
    assert ">Email<" not in chosen.split("<tbody>")[0].split("</details>")[1]


def test_another_prefix(make_site: MakeSite) -> None:
    site = _site(make_site, prefix="/staff/")
    html = site.page("/staff/")
    assert 'href="/staff/library_book/"' in html
    assert 'href="/staff/static/admin.css"' in html
    assert site.client.get("/admin/").status_code == 404
    saved = site.post("/staff/library_tag/add/", {"name": "a?b#c"}, token_from="/staff/")
    assert saved.status_code == 200
    assert str(saved.url).endswith("/staff/library_tag/")
