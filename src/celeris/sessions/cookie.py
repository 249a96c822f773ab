"""``SignedCookie``: the signed (itsdangerous) cookie value, the default session backend.

With no server-side store the session's data itself travels in the cookie, signed and
timestamped (never encrypted: do not put secrets in it); with a store the cookie carries
only a signed session id.
"""

from __future__ import annotations

import base64
import hmac
import logging
import zlib
from typing import Any

import itsdangerous
import itsdangerous.signer
import msgspec

__all__ = ["MAX_COOKIE_SIZE", "SessionTooLarge", "SignedCookie"]

logger = logging.getLogger("celeris.sessions")

#: What browsers keep of one cookie (name, value and attributes), RFC 6265 section 6.1.
MAX_COOKIE_SIZE = 4096


class SessionTooLarge(ValueError):
    """The session does not fit in a cookie."""


class _HMAC(itsdangerous.signer.SigningAlgorithm):
    """HMAC-SHA1 through the one-shot C ``hmac.digest`` (itsdangerous's default, faster)."""

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return hmac.digest(key, value, "sha1")


class _Signer(itsdangerous.TimestampSigner):
    """A timestamp signer that derives its key once, not on every call."""

    def __init__(self, secret_key: str | bytes, salt: str) -> None:
        super().__init__(secret_key, salt=salt, algorithm=_HMAC())
        self._derived = super().derive_key()

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        if secret_key is None:
            return self._derived
        return super().derive_key(secret_key)


class SignedCookie:
    """Sign and check timestamped cookie values with the app's secret key."""

    __slots__ = ("signer",)

    def __init__(self, secret_key: str | bytes, *, salt: str = "celeris.sessions") -> None:
        # PERF: one signer for the process (itsdangerous's serializers make one per call),
        # JSON by msgspec; the format is itsdangerous's URL-safe one ("." marks zlib).
        self.signer = _Signer(secret_key, salt)

    def dumps(self, payload: Any) -> str:
        """Return the signed (and, when it pays, compressed) cookie value of ``payload``."""
        data = msgspec.json.encode(payload)
        compressed = zlib.compress(data) if len(data) > 64 else data
        prefix = b""
        if len(compressed) < len(data) - 1:
            data, prefix = compressed, b"."
        encoded = prefix + base64.urlsafe_b64encode(data).rstrip(b"=")
        return self.signer.sign(encoded).decode("ascii")

    def loads(self, value: str, max_age: int) -> tuple[Any, float] | None:
        """Return ``(payload, issued_at)``; None (and a log line) for a bad or old value."""
        if len(value) > MAX_COOKIE_SIZE:
            logger.info("session cookie refused: %d bytes, over %d", len(value), MAX_COOKIE_SIZE)
            return None
        try:
            encoded, issued = self.signer.unsign(value, max_age=max_age, return_timestamp=True)
            # NOTE: only a value we signed gets decoded (and decompressed) at all.
            compressed = encoded[:1] == b"."
            if compressed:
                encoded = encoded[1:]
            data = base64.urlsafe_b64decode(encoded + b"=" * (-len(encoded) % 4))
            if compressed:
                data = _inflate(data)
            payload = msgspec.json.decode(data)
        except itsdangerous.SignatureExpired:
            logger.info("session cookie expired: an empty session instead")
            return None
        except (itsdangerous.BadData, msgspec.DecodeError, ValueError, TypeError, zlib.error):
            # SECURITY: a forged, truncated or garbled cookie is an empty session, never a 500.
            logger.info("session cookie refused: bad signature or encoding")
            return None
        return payload, issued.timestamp()


def _inflate(data: bytes) -> bytes:
    """Decompress at most 64 KiB (a signed cookie is ours, but stay bounded anyway)."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, 65536)
    if inflater.unconsumed_tail:
        raise ValueError("session cookie inflates past 64 KiB")
    return out
