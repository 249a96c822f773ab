from __future__ import annotations

from .conftest import MakeSite


def test_smoke(make_site: MakeSite) -> None:
    site = make_site()
    site.user("staff@example.org", superuser=True)
    site.login("staff@example.org")
    for path in [
        "/admin/",
        "/admin/library_book/",
        "/admin/library_book/add/",
        "/admin/library_author/add/",
        "/admin/log/",
    ]:
        html = site.page(path)
        assert "<h1>" in html
