"""The battery's tables: users, groups, permissions, API tokens, devices and second factors.

Everything is on ``celeris.db.Model.metadata`` as soon as ``celeris.auth`` is imported, so
``celeris db revision --autogenerate`` writes the migration with the app's own; without a
migrations folder, ``Auth`` creates the missing tables at start-up. The side tables key rows by
``user_id`` without a foreign key, so they serve a ``UserMixin`` model of any table name too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from celeris.db import Model

__all__ = [
    "ApiToken",
    "Device",
    "Group",
    "Passkey",
    "RecoveryCode",
    "SocialAccount",
    "TOTPDevice",
    "User",
    "UserMixin",
    "group_permission",
    "side_tables",
    "user_group",
    "user_permission",
]


def utcnow() -> datetime:
    """Return the current time, timezone-aware (UTC)."""
    return datetime.now(UTC)


class UserMixin:
    """The columns and flags ``Auth`` needs: mix it into your own model (``class Member(UserMixin, Model)``)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The address as the user typed it (shown back to them).
    email: Mapped[str] = mapped_column(sa.String(254))
    #: Its normal form (``normalize_email``): unique, so case and look-alikes cannot collide.
    email_key: Mapped[str] = mapped_column(sa.String(254), unique=True, index=True)
    #: The argon2id hash; None for accounts that sign in only through a social provider.
    password: Mapped[str | None] = mapped_column(sa.String(255), default=None)
    is_active: Mapped[bool] = mapped_column(default=True)
    is_staff: Mapped[bool] = mapped_column(default=False)
    is_superuser: Mapped[bool] = mapped_column(default=False)
    email_verified: Mapped[bool] = mapped_column(default=False)
    last_login: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), default=None)
    date_joined: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    #: Bumped by "sign out everywhere" and password changes: older sessions and JWTs lapse.
    session_epoch: Mapped[int] = mapped_column(default=0)

    @property
    def is_authenticated(self) -> bool:
        """True: a user object is a signed-in user (templates test it)."""
        return True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r} email={self.email!r}>"


class User(UserMixin, Model):
    """The ready user model (table ``celeris_user``)."""

    __tablename__ = "celeris_user"


class Group(Model):
    """A named set of permissions that users join."""

    __tablename__ = "celeris_group"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(150), unique=True)


user_group = sa.Table(
    "celeris_user_group",
    Model.metadata,
    sa.Column("user_id", sa.Integer, primary_key=True),
    sa.Column("group_id", sa.ForeignKey("celeris_group.id", ondelete="CASCADE"), primary_key=True),
)

#: Permissions are ``"app.action"`` strings (``"notes.delete"``), granted to groups or users.
group_permission = sa.Table(
    "celeris_group_permission",
    Model.metadata,
    sa.Column("group_id", sa.ForeignKey("celeris_group.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("permission", sa.String(150), primary_key=True),
)

user_permission = sa.Table(
    "celeris_user_permission",
    Model.metadata,
    sa.Column("user_id", sa.Integer, primary_key=True),
    sa.Column("permission", sa.String(150), primary_key=True),
)


class ApiToken(Model):
    """A personal API token: only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "celeris_api_token"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    #: The first characters of the token, to recognise it in a list.
    prefix: Mapped[str] = mapped_column(sa.String(16))
    digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: Space-separated scopes (``"notes.read notes.write"``); empty means every scope.
    scopes: Mapped[str] = mapped_column(sa.String(1000), default="")
    created: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    expires: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), default=None)
    last_used: Mapped[datetime | None] = mapped_column(sa.DateTime(timezone=True), default=None)
    revoked: Mapped[bool] = mapped_column(default=False)


class Device(Model):
    """One place a user is signed in: a browser session, an API token or a passkey."""

    __tablename__ = "celeris_device"
    id: Mapped[str] = mapped_column(sa.String(43), primary_key=True)
    user_id: Mapped[int] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # "session", "token", "passkey"
    label: Mapped[str] = mapped_column(sa.String(200), default="")
    created: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class TOTPDevice(Model):
    """A user's authenticator app: the TOTP secret and the last time step accepted."""

    __tablename__ = "celeris_totp"
    user_id: Mapped[int] = mapped_column(primary_key=True)
    secret: Mapped[str] = mapped_column(sa.String(64))
    confirmed: Mapped[bool] = mapped_column(default=False)
    #: SECURITY: a code is accepted once: steps at or before this one are replays.
    last_step: Mapped[int] = mapped_column(sa.BigInteger, default=0)


class RecoveryCode(Model):
    """A one-time recovery code (its SHA-256), used when the authenticator is lost."""

    __tablename__ = "celeris_recovery_code"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(index=True)
    digest: Mapped[str] = mapped_column(sa.String(64))
    used: Mapped[bool] = mapped_column(default=False)


class Passkey(Model):
    """A WebAuthn credential registered by a user."""

    __tablename__ = "celeris_passkey"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(index=True)
    credential_id: Mapped[bytes] = mapped_column(sa.LargeBinary(1024), unique=True)
    public_key: Mapped[bytes] = mapped_column(sa.LargeBinary(2048))
    sign_count: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    name: Mapped[str] = mapped_column(sa.String(100), default="passkey")
    created: Mapped[datetime] = mapped_column(sa.DateTime(timezone=True), default=utcnow)


class SocialAccount(Model):
    """A link between a user and an OAuth2 / OpenID Connect provider's account."""

    __tablename__ = "celeris_social_account"
    __table_args__ = (sa.UniqueConstraint("provider", "subject"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(index=True)
    provider: Mapped[str] = mapped_column(sa.String(50))
    subject: Mapped[str] = mapped_column(sa.String(255))


def side_tables() -> list[sa.Table]:
    """Return the tables every user model shares (everything but the user table)."""
    models: list[Any] = [Group, ApiToken, Device, TOTPDevice, RecoveryCode, Passkey, SocialAccount]
    return [model.__table__ for model in models] + [user_group, group_permission, user_permission]
