"""The list's "Previous" link: keyset back one page on the same sort, filters and size."""

from __future__ import annotations

import base64
import html
import json
import re

import pytest
import sqlalchemy as sa
from examples.admin import seed

from .conftest import MakeSite, Site, superuser_site


def _site(make_site: MakeSite) -> Site:
    site = superuser_site(make_site)
    site.run(seed(site.db, authors=3, books=34, tags=0))
    return site


def _ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'name="ids" value="(\d+)"', page)]


def _link(page: str, rel: str, path: str = "") -> str | None:
    found = re.search(rf'rel="{rel}" href="{path}\?([^"]+)"', page)
    return html.unescape(found.group(1)) if found else None


def _cursor(link: str, name: str) -> list[object]:
    value = re.search(rf"(?:^|&){name}=([^&]+)", link).group(1)  # type: ignore[union-attr]
    return list(json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))))


def _walk(site: Site, query: str) -> list[list[int]]:
    """Go Next to the last page, then Previous back to the first; return the pages forward."""
    page = site.page(f"/admin/library_book/?{query}")
    assert _link(page, "prev") is None
    assert "First page" not in page
    forward = [(_ids(page), page)]
    while (after := _link(page, "next")) is not None:
        page = site.page(f"/admin/library_book/?{after}")
        forward.append((_ids(page), page))
    assert len(forward) > 2
    ids, page = forward[-1]
    for expected, _ in reversed(forward[:-1]):
        before = _link(page, "prev")
        assert before is not None
        assert "after=" not in before
        page = site.page(f"/admin/library_book/?{before}")
        assert _ids(page) == expected
    assert _link(page, "prev") is None
    assert "First page" not in page
    return [ids for ids, _ in forward]


BOOKS = range(1, 35)  # seeded: title "Book <id>", author 1 + id % 3, published when id % 3 == 0


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("n=10", list(BOOKS)),
        ("n=10&o=-id", sorted(BOOKS, reverse=True)),
        # ties end by the primary key, in the direction of the last sort key
        ("n=10&o=published", sorted(BOOKS, key=lambda i: (i % 3 == 0, i))),
        ("n=10&o=-published", sorted(BOOKS, key=lambda i: (i % 3 != 0, -i))),
        ("n=10&o=title", sorted(BOOKS, key=lambda i: f"Book {i}")),
        (
            "n=5&f.author_id=2&o=-title",
            sorted((i for i in BOOKS if 1 + i % 3 == 2), key=lambda i: f"Book {i}", reverse=True),
        ),
        ("n=4&q=Book+1", [i for i in BOOKS if str(i).startswith("1")]),
    ],
)
def test_next_then_previous_shows_the_same_rows(
    make_site: MakeSite, query: str, expected: list[int]
) -> None:
    site = _site(make_site)
    pages = _walk(site, query)
    assert [i for page in pages for i in page] == expected
    size = int(query.split("&")[0].removeprefix("n="))
    assert all(len(p) == size for p in pages[:-1])


def test_previous_is_keyset_and_keeps_filters_and_columns(make_site: MakeSite) -> None:
    site = _site(make_site)
    first = site.page("/admin/library_book/?n=10&f.published=0&c=title&c=pages")
    second = site.page("/admin/library_book/?" + str(_link(first, "next")))
    before = _link(second, "prev")
    assert before is not None
    assert "f.published=0" in before
    assert "n=10" in before
    assert "c=pages" in before
    assert _cursor(before, "before") == [_ids(second)[0]]  # a row's key, not an offset
    assert _ids(site.page(f"/admin/library_book/?{before}")) == _ids(first)
    # the First page link is there from the second page on
    assert "First page" in second
    # one cursor at a time, and a forged one is a 400 problem
    for bad in (f"{before}&after=WzFd", "before=!!!"):
        response = site.client.get(
            f"/admin/library_book/?{bad}", headers={"accept": "application/json"}
        )
        assert response.status_code == 400, bad
        assert response.headers["content-type"].startswith("application/problem+json")
    # going back past the start shows the first page, full
    near = site.page("/admin/library_book/?n=10&before=WzNd")  # the rows before id 3
    assert _ids(near) == list(range(1, 11))
    assert _link(near, "prev") is None
    assert "First page" not in near


@pytest.mark.parametrize("sort", ["pages", "-pages"])
def test_a_nullable_sort_pages_back_by_offset(make_site: MakeSite, sort: str) -> None:
    site = _site(make_site)
    pages = _walk(site, f"n=10&o={sort}")
    order = sorted(range(1, 35), key=lambda i: 50 + i % 900, reverse=sort.startswith("-"))
    assert [i for p in pages for i in p] == order
    second = site.page(
        "/admin/library_book/?"
        + str(_link(site.page(f"/admin/library_book/?n=10&o={sort}"), "next"))
    )
    before = _link(second, "prev")
    assert before is not None
    assert _cursor(before, "before") == [10]


USERS = "/admin/users/"


def _user_ids(page: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/admin/users/(\d+)/"', page)]


def test_the_users_list_pages_back_and_forth_by_keyset(make_site: MakeSite) -> None:
    site = superuser_site(make_site)
    model = site.auth.user_model

    async def add_users() -> None:
        # NOTE: inserted, not signed up: 120 password hashes would only slow the test
        async with site.db.scope() as session:
            await session.execute(
                sa.insert(model),
                [
                    {"email": f"u{i:03}@example.org", "email_key": f"u{i:03}@example.org"}
                    for i in range(120)
                ],
            )

    site.run(add_users())
    everyone = [row.id for row in site.rows(sa.select(model.id).order_by(model.id))]
    assert len(everyone) == 121
    page = site.page("/admin/users/")
    assert _link(page, "prev", USERS) is None
    assert "First page" not in page
    forward = [_user_ids(page)]
    pages = [page]
    while (after := _link(page, "next", USERS)) is not None:
        assert "after=" in after
        page = site.page(f"/admin/users/?{after}")
        forward.append(_user_ids(page))
        pages.append(page)
        assert "First page" in page
    assert [len(p) for p in forward] == [50, 50, 21]
    assert [i for p in forward for i in p] == everyone
    for expected in reversed(forward[:-1]):
        before = _link(page, "prev", USERS)
        assert before is not None
        assert "after=" not in before
        assert _cursor(before, "before") == [_user_ids(page)[0]]  # a row's key, not an offset
        page = site.page(f"/admin/users/?{before}")
        assert _user_ids(page) == expected
    assert _link(page, "prev", USERS) is None
    assert "First page" not in page
    # the search stays on every link; one cursor at a time, and a forged one is a 400 problem
    searched = site.page("/admin/users/?q=u0")  # u000 to u099
    after = _link(searched, "next", USERS)
    assert after is not None
    assert "q=u0" in after
    second = site.page(f"/admin/users/?{after}")
    assert len(_user_ids(second)) == 50
    assert _link(second, "next", USERS) is None
    before = _link(second, "prev", USERS)
    assert before is not None
    assert "q=u0" in before
    assert _user_ids(site.page(f"/admin/users/?{before}")) == _user_ids(searched)
    assert 'href="/admin/users/?q=u0">First page' in second
    for bad in ("before=WzFd&after=WzFd", "after=!!!", "before=WyJ4Il0"):
        response = site.client.get(f"/admin/users/?{bad}", headers={"accept": "application/json"})
        assert response.status_code == 400, bad
        assert response.headers["content-type"].startswith("application/problem+json")
