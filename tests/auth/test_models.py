"""Emails as identities, the user model and its tables on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Mapped, mapped_column

from celeris.auth import EmailInvalid, SignupError, UserMixin, normalize_email
from celeris.db import Model
from celeris.testing import AsyncTestClient, TestClient

from .conftest import PASSWORD, MakeApp, _admin


def test_email_normal_form_folds_case_width_and_unicode_domains() -> None:
    assert normalize_email("  Ada.Lovelace@Example.ORG ") == "ada.lovelace@example.org"
    # full-width letters (NFKC) fold to their ASCII twins
    assert normalize_email("\uff41da@example.org") == "ada@example.org"
    # a Unicode domain becomes its punycode: it cannot pass for the ASCII one
    assert normalize_email("ada@b\u00fccher.de") == "ada@xn--bcher-kva.de"


@pytest.mark.parametrize(
    "email",
    [
        "p\u0430ypal@example.org",  # a Cyrillic a among Latin letters
        "ada@",
        "@example.org",
        "ada example@example.org",
        "ada@localhost",
        "ada@-bad-.org",
        "a" * 250 + "@example.org",
        "ada@example.org\r\nBcc: x@y.org",
    ],
)
def test_confusable_and_malformed_emails_are_refused(email: str) -> None:
    with pytest.raises(EmailInvalid):
        normalize_email(email)


def test_tables_are_on_the_models_metadata() -> None:
    names = set(Model.metadata.tables)
    assert {
        "celeris_user",
        "celeris_group",
        "celeris_user_group",
        "celeris_group_permission",
    } <= names
    assert {"celeris_api_token", "celeris_device", "celeris_totp", "celeris_recovery_code"} <= names
    assert Model.metadata.tables["celeris_user"].c.email_key.unique


def test_email_is_unique_whatever_the_case(make_app: MakeApp, database_url: str) -> None:
    app, auth, _ = make_app(url=database_url)
    with TestClient(app) as client:
        first = client.post("/auth/signup", json={"email": "Ada@Example.org", "password": PASSWORD})
        assert first.status_code == 201
        again = client.post("/auth/signup", json={"email": "ADA@example.ORG", "password": PASSWORD})
        assert again.status_code == 422
        assert again.headers["content-type"] == "application/problem+json"
        assert again.json()["errors"][0]["loc"] == ["body", "email"]
        confusable = client.post(
            "/auth/signup", json={"email": "\u0430da@example.org", "password": PASSWORD}
        )  # Cyrillic a + Latin "da": refused, not a second "ada"
        assert confusable.status_code == 422


async def test_create_user_refuses_a_duplicate(make_app: MakeApp, database_url: str) -> None:
    app, auth, _ = make_app(url=database_url)
    async with AsyncTestClient(app):
        user = await auth.create_user("grace@example.org", PASSWORD, is_staff=True)
        assert user.id
        assert user.is_staff
        assert not user.is_superuser
        assert user.date_joined
        with pytest.raises(SignupError):
            await auth.create_user("Grace@Example.org", PASSWORD)
        assert (await auth.get_user_by_email("GRACE@example.org")).id == user.id


class Member(UserMixin, Model):
    """An app's own user model."""

    __tablename__ = "auth_test_member"
    display_name: Mapped[str | None] = mapped_column(default=None)


async def test_an_apps_own_user_model_with_usermixin(make_app: MakeApp, database_url: str) -> None:
    app, auth, _ = make_app(url=database_url, user_model=Member)
    async with AsyncTestClient(app) as client:
        r = await client.post(
            "/auth/signup", json={"email": "Grace@Example.org", "password": PASSWORD}
        )
        assert r.status_code == 201
        member = await auth.get_user(r.json()["id"])
        assert isinstance(member, Member)
        assert member.email_key == "grace@example.org"
        assert (await client.get("/me")).json()["email"] == "Grace@Example.org"
        await auth.grant(member, "notes.delete")
        assert (await client.delete("/notes/1")).status_code == 204
        token = (await client.post("/auth/tokens", json={})).json()["token"]
        api = AsyncTestClient(app)
        me = await api.get("/me", headers={"authorization": f"Bearer {token}"})
        assert me.json()["email"] == "Grace@Example.org"
    if database_url.startswith("postgresql"):
        await _admin(database_url, "DROP TABLE IF EXISTS auth_test_member")
