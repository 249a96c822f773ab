"""Personal API tokens: shown once, stored as SHA-256, scoped, expiring, revocable, cached.

A token is ``cel_`` and 256 random bits, so a fast digest is safe to store and to look up by.
With a ``Cache``, a token's user and scopes are kept for ``token_cache_ttl`` seconds: a warm
token costs one cache look-up and no query; revoking it deletes the entry.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa

from celeris.auth.models import ApiToken

if TYPE_CHECKING:
    from celeris.auth.manager import Auth

__all__ = ["TOKEN_PREFIX", "CachedToken", "PersonalTokens", "token_digest"]

TOKEN_PREFIX = "cel_"


class CachedToken(msgspec.Struct, frozen=True):
    """What a personal token resolves to, as kept in the cache between requests."""

    token_id: int
    user_id: int
    email: str
    email_key: str
    is_staff: bool
    is_superuser: bool
    email_verified: bool
    scopes: tuple[str, ...]
    expires: float | None


def token_digest(token: str) -> str:
    """Return the stored form of a personal token (SHA-256: the token has 256 random bits)."""
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    # NOTE: SQLite gives naive datetimes back; they were written in UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


class PersonalTokens:
    """The personal tokens of one ``Auth``'s users."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth

    async def create(
        self,
        user: Any,
        name: str,
        *,
        scopes: Sequence[str] = (),
        expires_in: float | None = None,
    ) -> tuple[str, ApiToken]:
        """Return (the token, shown this once; its row). Only the token's SHA-256 is stored."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        expires = _now() + timedelta(seconds=expires_in) if expires_in is not None else None
        row = ApiToken(
            user_id=user.id,
            name=name[:100],
            prefix=token[:12],
            digest=token_digest(token),
            scopes=" ".join(scopes),
            expires=expires,
        )
        async with self.auth.db.scope() as db:
            db.add(row)
        return token, row

    async def of_user(self, user: Any) -> list[ApiToken]:
        """Return ``user``'s live tokens (never the tokens themselves)."""
        async with self.auth.reader() as db:
            rows = await db.execute(
                sa.select(ApiToken)
                .where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False))
                .order_by(ApiToken.id)
            )
            return list(rows.scalars())

    async def revoke(self, user: Any, token_id: int) -> bool:
        """Revoke one of ``user``'s tokens; False if it is not theirs or not there."""
        async with self.auth.db.scope() as db:
            row = await db.get(ApiToken, token_id)
            if row is None or row.user_id != user.id or row.revoked:
                return False
            row.revoked = True
            digest = row.digest
        await self.forget([digest])
        return True

    async def forget(self, digests: list[str]) -> None:
        if self.auth.cache is not None and digests:
            await self.auth.cache.delete(*(f"auth:token:{d}" for d in digests))

    async def user_for(self, token: str) -> tuple[Any, tuple[str, ...]] | None:
        """Return (user, scopes) of a live personal token, else None: one cache look-up when warm."""
        digest = token_digest(token)
        key = f"auth:token:{digest}"
        cache = self.auth.cache
        cached: CachedToken | None = None
        if cache is not None:
            # PERF: a warm token costs this one look-up: no database round trip.
            cached = await cache.get(key, None, type=CachedToken)
        if cached is None:
            cached = await self._load(digest)
            if cached is None:
                return None
            if cache is not None:
                await cache.set(key, cached, ttl=self.auth.token_cache_ttl)
        if cached.expires is not None and cached.expires <= _now().timestamp():
            return None
        user = self.auth.user_model(
            id=cached.user_id,
            email=cached.email,
            email_key=cached.email_key,
            is_active=True,
            is_staff=cached.is_staff,
            is_superuser=cached.is_superuser,
            email_verified=cached.email_verified,
        )
        return user, cached.scopes

    async def _load(self, digest: str) -> CachedToken | None:
        model = self.auth.user_model
        statement = (
            sa.select(ApiToken, model)
            .join(model, model.id == ApiToken.user_id)
            .where(
                ApiToken.digest == digest, ApiToken.revoked.is_(False), model.is_active.is_(True)
            )
        )
        try:
            async with self.auth.reader() as db:
                found = (await db.execute(statement)).first()
                if found is None:
                    return None
                row, user = found
                # NOTE: last use is recorded when the token is (re)loaded, so at most once per
                # cache lifetime: a hot token does not write on every request.
                await db.execute(
                    sa.update(ApiToken).where(ApiToken.id == row.id).values(last_used=_now())
                )
        except Exception as exc:
            self.auth.unavailable(exc)
            raise
        expires = _aware(row.expires)
        return CachedToken(
            token_id=row.id,
            user_id=user.id,
            email=user.email,
            email_key=user.email_key,
            is_staff=user.is_staff,
            is_superuser=user.is_superuser,
            email_verified=user.email_verified,
            scopes=tuple(row.scopes.split()),
            expires=expires.timestamp() if expires is not None else None,
        )
