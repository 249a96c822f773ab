"""Staff only, per-model permissions, CSRF on every form."""

from __future__ import annotations

import re

import pytest
from examples.admin import seed

from .conftest import MakeSite, Site

PARAMS = {
    "{model}": "library_book",
    "{pk}": "1",
    "{name}": "admin.css",
    "{user_id:int}": "1",
    "{group_id:int}": "1",
    "{job_id}": "x",
    "{ticket_id}": "x",
    "{task_id:int}": "1",
}
SAME_ORIGIN = {"origin": "http://testserver", "sec-fetch-site": "same-origin"}


def _urls(site: Site) -> list[tuple[str, str]]:
    out = []
    for route in site.admin.router.iter_routes():
        path = route.path
        for key, value in PARAMS.items():
            path = path.replace(key, value)
        assert "{" not in path, path
        out.extend((method, path) for method in sorted(route.methods) if method != "HEAD")
    return out


def test_every_admin_url_refuses_non_staff_and_anonymous(make_site: MakeSite) -> None:
    site = make_site()
    site.run(seed(site.db, authors=1, books=1, tags=1))
    urls = _urls(site)
    assert len(urls) >= 25
    site.client.cookies.clear()
    for method, path in urls:
        response = site.client.request(
            method, path, headers={"accept": "text/html", **SAME_ORIGIN}, follow_redirects=False
        )
        if method == "GET":
            assert response.status_code == 303, (method, path, response.status_code)
            assert response.headers["location"].startswith("/auth/login?next=")
        else:
            assert response.status_code == 401, (method, path, response.status_code)
    site.user("member@example.org", staff=False, perms=("library_book.view", "library_book.delete"))
    site.login("member@example.org")
    for method, path in urls:
        response = site.client.request(
            method, path, headers={"accept": "application/json", **SAME_ORIGIN}, data={"a": "b"}
        )
        assert response.status_code == 403, (method, path, response.status_code)
        assert response.json()["detail"] == "The admin is for staff users."


def test_no_delete_permission_no_delete_button_and_403(make_site: MakeSite) -> None:
    site = make_site()
    site.run(seed(site.db, authors=2, books=3, tags=1))
    site.user("editor@example.org", perms=("library_book.view", "library_book.change"))
    site.login("editor@example.org")
    listing = site.page("/admin/library_book/")
    assert 'value="delete"' not in listing
    assert "Mark as published" in listing
    form = site.page("/admin/library_book/1/")
    assert "/delete/" not in form
    assert ">Save<" in form
    assert "Authors" not in site.page("/admin/")  # no view permission on authors
    assert site.client.get("/admin/library_author/").status_code == 403
    assert site.client.get("/admin/library_book/1/delete/").status_code == 403
    assert site.post("/admin/library_book/1/delete/", {}).status_code == 403
    bulk = site.post("/admin/library_book/", {"action": "delete", "ids": "1", "confirm": "1"})
    assert bulk.status_code == 403
    assert site.client.get("/admin/library_book/add/").status_code == 403
    assert site.client.get("/admin/library_book/1/").status_code == 200

    site.user("viewer@example.org", perms=("library_book.view",))
    site.login("viewer@example.org")
    form = site.page("/admin/library_book/1/")
    assert ">Save<" not in form
    assert re.search(r'id="f-title"[^>]*readonly', form)
    assert site.post("/admin/library_book/1/", {"title": "changed"}).status_code == 403
    assert "Mark as published" not in site.page("/admin/library_book/")


@pytest.mark.parametrize(
    "headers", [{}, {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}]
)
def test_forms_need_the_csrf_token(make_site: MakeSite, headers: dict[str, str]) -> None:
    site = make_site()
    site.user("staff@example.org", superuser=True)
    site.login("staff@example.org")
    page = site.page("/admin/library_tag/add/")
    assert 'name="csrf_token"' in page
    response = site.client.post("/admin/library_tag/add/", data={"name": "x"}, headers=headers)
    assert response.status_code == 403
    assert "CSRF" in response.text


def test_the_log_shows_only_models_the_user_may_view(make_site: MakeSite) -> None:
    site = make_site()
    site.user("root@example.org", superuser=True)
    site.login("root@example.org")
    site.run(seed(site.db, authors=1, books=0, tags=0))
    site.post("/admin/library_author/add/", {"name": "Hidden author"}, token_from="/admin/")
    site.post("/admin/library_tag/add/", {"name": "visible tag"}, token_from="/admin/")
    assert "Hidden author" in site.page("/admin/log/")
    site.user("tags@example.org", perms=("library_tag.view",))
    site.login("tags@example.org")
    for path in ("/admin/", "/admin/log/"):
        html = site.page(path)
        assert "visible tag" in html
        assert "Hidden author" not in html
