"""The admin consults the auth battery's object-level check (``Auth(object_permission=...)``)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from examples.admin import Book, seed

from .conftest import MakeSite, Site


def refuse(user: Any, permission: str, obj: Any) -> bool:
    """Refuse everything on book 2, and deleting book 3."""
    if not isinstance(obj, Book):
        return True
    if obj.id == 2:
        return False
    return not (obj.id == 3 and permission.endswith(".delete"))


def _site(make_site: MakeSite) -> Site:
    site = make_site(auth_options={"object_permission": refuse})
    site.run(seed(site.db, authors=2, books=5, tags=2))
    perms = ("library_book.change", "library_book.delete")  # change implies view
    site.user("editor@example.org", perms=perms)
    site.login("editor@example.org")
    return site


def test_a_refused_object_answers_403_on_its_pages(make_site: MakeSite) -> None:
    site = _site(make_site)
    client = site.client
    for path in ("/admin/library_book/2/", "/admin/library_book/2/delete/"):
        assert client.get(path).status_code == 403, path
    assert client.get("/admin/library_book/2/history/").status_code == 403
    assert site.post("/admin/library_book/2/delete/", {}).status_code == 403
    saved = site.post("/admin/library_book/2/", {"title": "Renamed"})
    assert saved.status_code == 403
    assert site.rows(sa.select(Book.title).where(Book.id == 2))[0][0] != "Renamed"
    # The others are fine, and book 1 offers its delete button.
    form = site.page("/admin/library_book/1/")
    assert "/admin/library_book/1/delete/" in form
    assert site.client.get("/admin/library_book/1/history/").status_code == 200
    assert site.client.get("/admin/library_book/1/delete/").status_code == 200


def test_delete_refused_for_one_object_hides_its_button(make_site: MakeSite) -> None:
    site = _site(make_site)
    form = site.page("/admin/library_book/3/")
    assert ">Save<" in form
    assert "/admin/library_book/3/delete/" not in form
    assert site.client.get("/admin/library_book/3/delete/").status_code == 403
    assert site.post("/admin/library_book/3/delete/", {}).status_code == 403
    deleted = site.post("/admin/library_book/4/delete/", {}, follow_redirects=False)
    assert deleted.status_code == 303
    assert not site.rows(sa.select(Book.id).where(Book.id == 4))


def test_bulk_delete_skips_refused_objects_and_says_so(make_site: MakeSite) -> None:
    site = _site(make_site)
    data = [("action", "delete"), ("confirm", "1"), *(("ids", str(i)) for i in (1, 2, 3))]
    response = site.post("/admin/library_book/", data)
    assert response.status_code == 200
    assert "done on 1 rows. 2 skipped" in response.text
    left = {row[0] for row in site.rows(sa.select(Book.id))}
    assert {2, 3} <= left
    assert 1 not in left


def test_bulk_action_skips_an_object_it_may_not_change(make_site: MakeSite) -> None:
    site = _site(make_site)
    data = [("action", "publish"), *(("ids", str(i)) for i in (1, 2))]
    response = site.post("/admin/library_book/", data)
    assert response.status_code == 200
    assert "1 skipped" in response.text
