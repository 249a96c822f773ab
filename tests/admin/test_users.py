"""The users section's "Add user" page: through Auth.create_user, errors beside their field."""

from __future__ import annotations

import json
import re

import sqlalchemy as sa

from celeris.auth.models import Group, User, user_group

from .conftest import MakeSite, Site, superuser_site

NEW = "a much longer passphrase, for ursula"


def _add(site: Site, **fields: object) -> object:
    data: list[tuple[str, str]] = []
    for key, value in fields.items():
        for one in value if isinstance(value, list) else [value]:
            data.append((key, str(one)))
    return site.post("/admin/users/add/", data, token_from="/admin/users/add/")


def _group(site: Site, name: str) -> int:
    async def make() -> int:
        async with site.db.scope() as session:
            group = Group(name=name)
            session.add(group)
            await session.flush()
            return group.id

    return site.run(make())


def test_add_a_user_through_the_auth_battery(make_site: MakeSite) -> None:
    site = superuser_site(make_site)
    editors = _group(site, "<Editors>")
    _group(site, "Readers")
    page = site.page("/admin/users/add/")
    assert 'type="password" id="u-password" name="password"' in page
    assert 'id="u-password2"' in page
    assert "&lt;Editors&gt;" in page
    assert 'href="/admin/users/add/"' in site.page("/admin/users/")
    response = _add(
        site,
        email="Ursula@Example.org",
        password=NEW,
        password2=NEW,
        is_staff="1",
        groups=[editors],
    )
    assert response.status_code == 200, response.text[:500]  # followed the 303
    assert "Added user Ursula@Example.org." in response.text
    [(user_id, email, hashed, staff, superuser)] = site.rows(
        sa.select(User.id, User.email, User.password, User.is_staff, User.is_superuser).where(
            User.email_key == "ursula@example.org"
        )
    )
    assert str(response.url).endswith(f"/admin/users/{user_id}/")
    assert (email, staff, superuser) == ("Ursula@Example.org", True, False)
    assert hashed.startswith("$argon2id$")
    assert NEW not in hashed
    assert site.run(site.auth.hasher.verify(NEW, hashed))[0]  # the auth battery's own hash
    assert site.rows(sa.select(user_group.c.group_id).where(user_group.c.user_id == user_id)) == [
        (editors,)
    ]
    [(action, repr_, after)] = site.rows(
        sa.text(
            "SELECT action, object_repr, after FROM celeris_admin_log WHERE model = 'auth.user'"
        )
    )
    logged = json.loads(after)
    assert (action, repr_) == ("add", "Ursula@Example.org")
    assert logged["is_staff"] is True
    assert logged["groups"] == [editors]
    assert "password" not in after
    assert "$argon2" not in after
    # the new account signs in with that password
    site.client.cookies.clear()
    signed_in = site.client.post(
        "/auth/login", json={"email": "ursula@example.org", "password": NEW}
    )
    assert signed_in.status_code in (200, 204)


def test_errors_stand_beside_their_field(make_site: MakeSite) -> None:
    site = superuser_site(make_site)
    site.user("ada@example.org")
    cases = [
        ({"email": "ADA@example.org"}, "email", "An account with this email address exists."),
        ({"email": ""}, "email", "Enter the user&#39;s email address."),
        ({"email": "<b>not</b>"}, "email", "Enter a valid email address."),
        ({"password2": NEW + "!"}, "password2", "The two passwords differ"),
        ({"password": "", "password2": ""}, "password", "Choose a password."),
        ({"password": "short", "password2": "short"}, "password", "This password is too short"),
        ({"password": "password123", "password2": "password123"}, "password", "too common"),
        ({"password": "x" * 5000, "password2": "x" * 5000}, "password", "Passwords are at most"),
        ({"groups": "999"}, "groups", "no group has the id &#39;999&#39;"),
        ({"groups": "²"}, "groups", "no group has the id &#39;²&#39;"),
    ]
    for change, field, message in cases:
        fields = {"email": "new@example.org", "password": NEW, "password2": NEW, **change}
        response = _add(site, **fields)
        assert response.status_code == 422, change
        found = re.search(rf'id="u-{field}-error">([^<]*)<', response.text)
        assert found, (change, response.text[-2000:])
        assert message in found.group(1), (change, found.group(1))
        assert f'aria-describedby="u-{field}-error"' in response.text
        assert NEW not in response.text  # a password never comes back
    assert "&lt;b&gt;not&lt;/b&gt;" in _add(site, email="<b>not</b>").text
    assert [r[0] for r in site.rows(sa.select(User.email_key).order_by(User.id))] == [
        "root@example.org",
        "ada@example.org",
    ]
    assert site.rows(sa.text("SELECT id FROM celeris_admin_log")) == []


def test_adding_users_needs_staff_and_auth_change(make_site: MakeSite) -> None:
    site = superuser_site(make_site)
    site.user("viewer@example.org", perms=("auth.view",))
    site.user("changer@example.org", perms=("auth.change",))
    site.user("member@example.org", staff=False, perms=("auth.change",))
    fields = {"email": "new@example.org", "password": NEW, "password2": NEW}
    site.login("viewer@example.org")
    assert "/admin/users/add/" not in site.page("/admin/users/")
    assert site.client.get("/admin/users/add/").status_code == 403
    assert _add_from(site, "/admin/users/", fields).status_code == 403
    site.login("member@example.org")
    assert site.client.get("/admin/users/add/").status_code == 403
    # auth.change adds users, but only a superuser makes a superuser
    site.login("changer@example.org")
    page = site.page("/admin/users/add/")
    assert 'name="is_superuser"' not in page
    done = _add_from(site, "/admin/users/add/", {**fields, "is_superuser": "1"})
    assert done.status_code == 200
    assert site.rows(
        sa.select(User.is_superuser, User.is_staff).where(User.email_key == "new@example.org")
    ) == [(False, False)]
    # a cross-site post is refused
    refused = site.client.post(
        "/admin/users/add/",
        data={**fields, "email": "other@example.org"},
        headers={"sec-fetch-site": "cross-site"},
    )
    assert refused.status_code == 403
    assert site.rows(sa.select(User.id).where(User.email_key == "other@example.org")) == []


def _add_from(site: Site, page: str, fields: dict[str, str]) -> object:
    return site.post("/admin/users/add/", fields, token_from=page)


def test_a_superuser_may_add_a_superuser(make_site: MakeSite) -> None:
    site = superuser_site(make_site)
    assert 'name="is_superuser"' in site.page("/admin/users/add/")
    _add(site, email="boss@example.org", password=NEW, password2=NEW, is_superuser="1")
    assert site.rows(sa.select(User.is_superuser).where(User.email_key == "boss@example.org")) == [
        (True,)
    ]
