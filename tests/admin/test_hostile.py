"""Hostile input: markup in every field, forged ids, hidden foreign keys, oversized bodies."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from examples.admin import Author, Book, seed

from celeris.admin import ModelAdmin

from .conftest import MakeSite, Site

EVIL = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _site(make_site: MakeSite, **options: Any) -> Site:
    site = make_site(**options)
    site.user("staff@example.org", superuser=True)
    site.login("staff@example.org")
    return site


def test_markup_in_every_field_is_escaped_on_every_page(make_site: MakeSite) -> None:
    site = _site(make_site)
    site.run(seed(site.db, authors=1, books=0, tags=0))
    response = site.post(
        "/admin/library_author/add/",
        {"name": EVIL[:100], "email": EVIL[:254], "born": EVIL, "bio": EVIL},
        token_from="/admin/library_author/add/",
    )
    assert response.status_code == 422  # the date is refused, its text shown back escaped
    assert EVIL not in response.text
    assert "&lt;script&gt;" in response.text
    response = site.post(
        "/admin/library_author/add/",
        {"name": EVIL[:100], "email": EVIL[:254], "born": "", "bio": EVIL},
        token_from="/admin/library_author/add/",
    )
    assert response.status_code == 200
    response = site.post(
        "/admin/library_book/add/",
        {"title": EVIL, "author_id": "2", "pages": "", "price": ""},
        token_from="/admin/library_book/add/",
    )
    assert response.status_code == 200
    site.post(
        "/admin/library_author/2/",
        {"name": EVIL[:99] + "!", "email": "", "born": "", "bio": EVIL, "books-total": "0"},
        token_from="/admin/library_author/2/",
    )
    pages = [
        "/admin/",
        "/admin/log/",
        "/admin/library_author/",
        "/admin/library_author/2/",
        "/admin/library_author/2/history/",
        "/admin/library_author/2/delete/",
        "/admin/library_book/",
        "/admin/library_book/1/",
        "/admin/library_book/add/",
        "/admin/library_author/?q=" + EVIL,
        "/admin/library_book/?f.author_id=" + EVIL,
        "/admin/library_book/?o=" + EVIL,
    ]
    for path in pages:
        html = site.page(path)
        assert "<script>alert" not in html, path
        assert "<img src=x" not in html, path
    assert "&lt;script&gt;" in site.page("/admin/library_book/")
    confirm = site.post("/admin/library_book/", [("action", "delete"), ("ids", "1"), ("back", "")])
    assert "<script>alert" not in confirm.text
    assert "&lt;script&gt;" in confirm.text
    found = site.client.get("/admin/library_author/search.json?q=script").json()["results"]
    assert found[0]["text"].startswith("<script>")  # JSON data; the script renders it as text


@pytest.mark.parametrize(
    "path",
    [
        "/admin/library_book/999999/",
        "/admin/library_book/abc/",
        "/admin/library_book/1%20OR%201=1/",
        "/admin/library_book/-1/delete/",
        "/admin/library_book/99999999999999999999999/",
        "/admin/library_book/abc/history/",
        "/admin/nosuchmodel/",
        "/admin/nosuchmodel/1/",
        "/admin/static/..%2Fsite.py",
        "/admin/static/admin.py",
        "/admin/users/999/",
        "/admin/tasks/999/",
    ],
)
def test_forged_ids_are_404(make_site: MakeSite, path: str) -> None:
    site = _site(make_site)
    site.run(seed(site.db, authors=1, books=1, tags=1))
    response = site.client.get(path, headers={"accept": "application/json"})
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/problem+json")


class VisibleAuthors(ModelAdmin):
    """Authors whose name starts with "Secret" are hidden from the admin."""

    def get_query(self, request: Any, statement: Any) -> Any:
        return statement.where(~Author.name.startswith("Secret"))


def test_foreign_keys_to_rows_the_user_may_not_see_are_form_errors(make_site: MakeSite) -> None:
    site = _site(make_site)
    site.admin.register(Author, VisibleAuthors)

    async def setup() -> None:
        async with site.db.scope() as session:
            session.add_all(
                [Author(id=1, name="Public", bio=""), Author(id=2, name="Secret agent", bio="")]
            )

    site.run(setup())
    form = site.page("/admin/library_book/add/")
    assert "Public" in form
    assert "Secret agent" not in form
    for author_id in ("2", "404"):
        response = site.post(
            "/admin/library_book/add/",
            {"title": "t", "author_id": author_id},
            token_from="/admin/library_book/add/",
        )
        assert response.status_code == 422
        assert 'id="f-author_id-error"' in response.text
        assert "not available" in response.text
    assert site.client.get("/admin/library_author/2/").status_code == 404
    assert site.client.get("/admin/library_author/search.json?q=Secret").json() == {"results": []}


def test_inline_rows_of_another_parent_cannot_be_edited(make_site: MakeSite) -> None:
    site = _site(make_site)
    site.run(
        seed(site.db, authors=2, books=4, tags=0)
    )  # author 1: books 2, 4; author 2: books 1, 3
    data = {
        "name": "Author 1",
        "email": "",
        "born": "",
        "bio": "",
        "books-total": "1",
        "books-0-id": "1",
        "books-0-title": "stolen",
        "books-0-pages": "1",
    }
    response = site.post("/admin/library_author/1/", data, token_from="/admin/library_author/1/")
    assert response.status_code == 422
    assert "no longer belongs" in response.text

    async def title() -> str:
        async with site.db.scope() as session:
            return str(await session.scalar(sa.select(Book.title).where(Book.id == 1)))

    assert site.run(title()) == "Book 1"


def test_oversized_forms_are_413_and_bad_values_are_reported(make_site: MakeSite) -> None:
    site = _site(make_site, max_body_size=10_000)
    response = site.post(
        "/admin/library_tag/add/", {"name": "x" * 20_000}, token_from="/admin/library_tag/add/"
    )
    assert response.status_code == 413
    upload = site.client.post(
        "/admin/library_tag/add/",
        files={"name": ("big.bin", b"x" * 20_000)},
        headers={"origin": "http://testserver", "sec-fetch-site": "same-origin"},
    )
    assert upload.status_code == 413
    json_body = site.client.post(
        "/admin/library_tag/add/",
        json={"name": "x"},
        headers={"origin": "http://testserver", "sec-fetch-site": "same-origin"},
    )
    assert json_body.status_code == 415
    odd = site.page("/admin/library_book/?n=abc&f.published=1&f.author_id=abc")
    assert "Page size &#39;abc&#39; ignored" in odd
    assert "Filter &#39;Author&#39; ignored" in odd
