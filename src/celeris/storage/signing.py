"""Signed, expiring URLs for files the app serves itself (local and memory storage)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

__all__ = ["URLSigner"]


class URLSigner:
    """HMAC-SHA256 over the name and the expiry time; compared in constant time."""

    def __init__(self, secret: str | bytes) -> None:
        key = secret.encode() if isinstance(secret, str) else secret
        # NOTE: derive a key for this purpose only, so the app's SECRET_KEY signs nothing else here.
        self._key = hmac.new(key, b"celeris.storage.url", hashlib.sha256).digest()

    def signature(self, name: str, expires: int) -> str:
        mac = hmac.new(self._key, f"{name}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()

    def sign(self, name: str, expires_in: float) -> tuple[int, str]:
        """Return ``(expires, signature)`` for a URL valid ``expires_in`` seconds from now."""
        expires = int(time.time() + expires_in)
        return expires, self.signature(name, expires)

    def verify(self, name: str, expires: str | None, signature: str | None) -> str | None:
        """Return None when valid, else why not ("missing", "expired", "invalid")."""
        if not expires or not signature:
            return "missing"
        try:
            when = int(expires)
        except ValueError:
            return "invalid"
        if not hmac.compare_digest(self.signature(name, when), signature):
            return "invalid"
        if when < time.time():
            return "expired"
        return None
