"""Signed, expiring, single-use tokens for email verification and password reset.

A token carries the user id and a fingerprint of the account state it acts on (the password
hash for a reset, the address and its verified flag for a verification): using it changes that
state, so the same token never works twice, and a token made for one user or purpose is
refused for another. Nothing is stored server side.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Literal

from itsdangerous import BadData, URLSafeTimedSerializer

__all__ = ["Purpose", "TokenSigner"]

Purpose = Literal["verify", "reset"]


def fingerprint(user: Any, purpose: Purpose) -> str:
    """Return a short digest of the account state a ``purpose`` token is bound to."""
    if purpose == "reset":
        last = user.last_login.isoformat() if user.last_login is not None else ""
        state = f"{user.password or ''}|{last}|{user.session_epoch}"
    else:
        state = f"{user.email_key}|{int(bool(user.email_verified))}"
    return hashlib.sha256(state.encode()).hexdigest()[:32]


class TokenSigner:
    """Make and check ``purpose`` tokens with the app's secret key."""

    __slots__ = ("_serializers", "max_age")

    def __init__(self, secret_key: str | bytes, *, max_age: dict[str, int] | None = None) -> None:
        self._serializers = {
            purpose: URLSafeTimedSerializer(secret_key, salt=f"celeris.auth.{purpose}")
            for purpose in ("verify", "reset")
        }
        self.max_age = {"verify": 3 * 86_400, "reset": 3_600, **(max_age or {})}

    def make(self, user: Any, purpose: Purpose) -> str:
        """Return a token for ``user`` and ``purpose``."""
        return str(self._serializers[purpose].dumps([user.id, fingerprint(user, purpose)]))

    def user_id(self, token: str, purpose: Purpose) -> int | None:
        """Return the user id a token names when its signature and age are good, else None."""
        if not isinstance(token, str) or len(token) > 512:
            return None
        try:
            value = self._serializers[purpose].loads(token, max_age=self.max_age[purpose])
        except BadData:
            return None
        if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int)):
            return None
        return value[0]

    def check(self, token: str, user: Any, purpose: Purpose) -> bool:
        """Tell whether ``token`` is a live ``purpose`` token of ``user`` (constant time)."""
        try:
            value = self._serializers[purpose].loads(token, max_age=self.max_age[purpose])
        except BadData:
            return False
        if not (isinstance(value, list) and len(value) == 2 and value[0] == user.id):
            return False
        return hmac.compare_digest(str(value[1]), fingerprint(user, purpose))
