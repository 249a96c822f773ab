"""Start-up checks: each mistake has a stable id and says how to fix it."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from examples.admin import Author, Book, Tag
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from celeris import App
from celeris.admin import Admin, AdminConfigError, InlineAdmin, ModelAdmin
from celeris.auth import Auth
from celeris.db import Database
from celeris.security import CSRF
from celeris.sessions import Sessions


def _parts(tmp_path: Any, *, csrf: bool = True) -> tuple[App, Database, Auth]:
    app = App()
    db = Database(f"sqlite:///{tmp_path}/c.db", app=app, root_path=tmp_path)
    Sessions(app=app, secret_key="s" * 40)
    if csrf:
        CSRF(app=app, secret_key="s" * 40)
    return app, db, Auth(app=app, db=db, secret_key="s" * 40)


def _admin(tmp_path: Any) -> Admin:
    app, db, auth = _parts(tmp_path)
    return Admin(app=app, db=db, auth=auth)


def _refused(admin: Admin, model: type[Any], **options: Any) -> str:
    cls = type("BadAdmin", (ModelAdmin,), options)
    with pytest.raises(AdminConfigError) as error:
        admin.register(model, cls)
    return str(error.value)


@pytest.mark.parametrize(
    ("options", "code", "fix"),
    [
        ({"list_display": ["titel"]}, "admin.E108", "use one of: author_id, id, pages"),
        ({"list_display": "title"}, "admin.E108", "make it a list"),
        ({"search_fields": ["nope"]}, "admin.E126", "not a column of Book"),
        ({"search_fields": ["pages"]}, "admin.E127", "search only text columns"),
        ({"list_filter": ["nope"]}, "admin.E116", "not a column"),
        ({"ordering": ["-nope"]}, "admin.E033", "'-nope'"),
        ({"readonly_fields": ["nope"]}, "admin.E035", "not a column"),
        ({"exclude": ["nope"]}, "admin.E014", "not a column"),
        ({"widgets": {"title": "wysiwyg"}}, "admin.E141", "use one of:"),
        ({"widgets": {"nope": "text"}}, "admin.E140", "not a field"),
        ({"actions": ["archive"]}, "admin.E131", "define `async def archive(self, session, rows)`"),
        ({"list_per_page": 0}, "admin.E118", "from 1 to 500"),
        ({"slug": "log"}, "admin.E150", "set ModelAdmin.slug"),
    ],
)
def test_option_naming_what_does_not_exist(
    tmp_path: Any, options: dict[str, Any], code: str, fix: str
) -> None:
    message = _refused(_admin(tmp_path), Book, **options)
    assert message.startswith(code)
    assert fix in message


class _Base(DeclarativeBase):
    pass


_pair_link = sa.Table(
    "pair_link",
    _Base.metadata,
    sa.Column("owner_id", sa.Integer, primary_key=True),
    sa.Column("owner_kind", sa.Integer, primary_key=True),
    sa.Column("item_id", sa.ForeignKey("pair_item.id"), primary_key=True),
    sa.ForeignKeyConstraint(["owner_id", "owner_kind"], ["pair_owner.id", "pair_owner.kind"]),
)


class PairItem(_Base):
    __tablename__ = "pair_item"
    id: Mapped[int] = mapped_column(primary_key=True)


class PairOwner(_Base):
    """A many-to-many through two columns to the owner: not shown in lists (E109)."""

    __tablename__ = "pair_owner"
    __table_args__ = (sa.UniqueConstraint("id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[int] = mapped_column(default=0)
    items: Mapped[list[PairItem]] = relationship(secondary=_pair_link)


def test_many_to_many_in_list_display(tmp_path: Any) -> None:
    admin = _admin(tmp_path)
    admin.register(Book, type("BookAdmin", (ModelAdmin,), {"list_display": ["id", "tags"]}))
    message = _refused(admin, PairOwner, list_display=["id", "items"])
    assert message.startswith("admin.E109")
    assert "one column to each side" in message


def test_inline_without_a_relationship_and_duplicate_slug(tmp_path: Any) -> None:
    admin = _admin(tmp_path)

    class TagInline(InlineAdmin):
        model = Tag

    message = _refused(admin, Author, inlines=[TagInline])
    assert message.startswith("admin.E202")
    assert "declare one" in message
    admin.register(Tag)
    assert _refused(admin, Author, slug="library_tag").startswith("admin.E151")
    assert admin.registry["library_tag"].model is Tag


def test_missing_csrf_fails_at_start_up(tmp_path: Any) -> None:
    app, db, auth = _parts(tmp_path, csrf=False)
    with pytest.raises(AdminConfigError, match=r"admin\.E401: .*add CSRF\(app=app\)"):
        Admin(app=app, db=db, auth=auth)
