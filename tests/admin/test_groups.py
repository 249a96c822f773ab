"""Groups: rename (a unique, non-empty name) and delete after a confirmation page."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from celeris.auth.models import Group, group_permission, user_group

from .conftest import MakeSite, Site, superuser_site


def _group(site: Site, name: str, *members: str, perms: tuple[str, ...] = ()) -> int:
    async def make() -> int:
        for email in members:
            user = await site.auth.create_user(email, "correct horse battery staple")
            await site.auth.add_to_group(user, name, *perms)
        if not members:
            async with site.db.scope() as session:
                session.add(Group(name=name))
        async with site.db.scope() as session:
            return int(await session.scalar(sa.select(Group.id).where(Group.name == name)) or 0)

    return site.run(make())


def _log(site: Site) -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    rows = site.rows(
        sa.text(
            "SELECT action, object_repr, before, after FROM celeris_admin_log "
            "WHERE model = 'auth.group' ORDER BY id"
        ),
    )
    return [(a, r, json.loads(b or "{}"), json.loads(c or "{}")) for a, r, b, c in rows]


def test_rename_a_group_with_errors_beside_the_name(make_site: MakeSite) -> None:
    site = superuser_site(make_site)
    editors = _group(site, "Editors")
    _group(site, "Readers")
    url = f"/admin/groups/{editors}/rename/"
    page = site.page(f"/admin/groups/{editors}/")
    assert 'action="/admin/groups/' in page
    assert 'id="group-name"' in page
    for name, message in (
        ("Readers", "Another group has this name."),
        ("   ", "Enter the group&#39;s name."),
        ("x" * 151, "At most 150 characters."),
    ):
        refused = site.post(url, {"name": name}, token_from=f"/admin/groups/{editors}/")
        assert refused.status_code == 422, name
        assert f'id="group-name-error">{message}</p>' in refused.text
        assert 'aria-describedby="group-name-error"' in refused.text
    missing = site.post(url, {}, token_from="/admin/groups/")
    assert missing.status_code == 422
    assert [r[0] for r in site.rows(sa.select(Group.name).order_by(Group.name))] == [
        "Editors",
        "Readers",
    ]
    renamed = site.post(url, {"name": "  <Writers>  "}, token_from="/admin/groups/")
    assert renamed.status_code == 200
    assert "Renamed group Editors to &lt;Writers&gt;." in renamed.text
    assert "<Writers>" not in renamed.text
    assert site.rows(sa.select(Group.name).where(Group.id == editors)) == [("<Writers>",)]
    same = site.post(url, {"name": "<Writers>"}, token_from="/admin/groups/")
    assert same.status_code == 200
    assert _log(site) == [("change", "<Writers>", {"name": "Editors"}, {"name": "<Writers>"})]
    # forged ids: 404
    for path in ("/admin/groups/99999/rename/", "/admin/groups/99999/delete/"):
        assert site.post(path, {"name": "x"}, token_from="/admin/groups/").status_code == 404
    assert site.client.get("/admin/groups/99999/delete/").status_code == 404


def test_delete_a_group_after_its_confirmation_page(make_site: MakeSite) -> None:
    site = superuser_site(make_site)
    staff = _group(site, "<Staff>", "a@example.org", "b@example.org", perms=("library_book.view",))
    empty = _group(site, "Empty")
    page = site.page(f"/admin/groups/{staff}/delete/")
    assert "2 users are in this group" in page
    assert "“&lt;Staff&gt;”" in page
    assert "<Staff>" not in page
    assert "<code>library_book.view</code>" in page
    assert "No users are in this group." in site.page(f"/admin/groups/{empty}/delete/")
    assert f'href="/admin/groups/{staff}/delete/"' in site.page(f"/admin/groups/{staff}/")
    done = site.post(f"/admin/groups/{staff}/delete/", {}, token_from="/admin/groups/")
    assert done.status_code == 200
    assert "Deleted group &lt;Staff&gt;." in done.text
    assert site.rows(sa.select(Group.name)) == [("Empty",)]
    assert site.rows(sa.select(user_group)) == []
    assert site.rows(sa.select(group_permission)) == []
    assert _log(site) == [
        (
            "delete",
            "<Staff>",
            {"name": "<Staff>", "permissions": ["library_book.view"], "members": 2},
            {},
        )
    ]
    assert site.client.get(f"/admin/groups/{staff}/").status_code == 404


def test_rename_and_delete_need_auth_change(make_site: MakeSite) -> None:
    site = superuser_site(make_site)
    group = _group(site, "Editors")
    site.user("viewer@example.org", perms=("auth.view",))
    site.user("outsider@example.org", staff=False)
    site.login("viewer@example.org")
    page = site.page(f"/admin/groups/{group}/")
    assert "Rename" not in page
    assert "Delete group" not in page
    assert site.client.get(f"/admin/groups/{group}/delete/").status_code == 403
    for path in (f"/admin/groups/{group}/rename/", f"/admin/groups/{group}/delete/"):
        assert site.post(path, {"name": "x"}, token_from="/admin/groups/").status_code == 403
    site.login("outsider@example.org")
    assert site.client.get(f"/admin/groups/{group}/delete/").status_code == 403
    # a cross-site post, or one without Fetch Metadata and a wrong token: refused, no change
    site.login("root@example.org")
    for headers in ({"sec-fetch-site": "cross-site"}, {}):
        forged = site.client.post(
            f"/admin/groups/{group}/delete/", data={"csrf_token": "forged"}, headers=headers
        )
        assert forged.status_code == 403, headers
    assert site.rows(sa.select(Group.name)) == [("Editors",)]
    assert _log(site) == []


def test_adding_a_group_with_an_empty_name_is_a_form_error(make_site: MakeSite) -> None:
    site = superuser_site(make_site)
    refused = site.post("/admin/groups/", {"name": " "}, token_from="/admin/groups/")
    assert refused.status_code == 422
    assert 'id="name-error">Enter the group&#39;s name.</p>' in refused.text
