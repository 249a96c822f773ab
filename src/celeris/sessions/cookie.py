"""``SignedCookie``: the signed (itsdangerous) cookie value, the default session backend.

With no server-side store the session's data itself travels in the cookie, signed and
timestamped (never encrypted: do not put secrets in it); with a store the cookie carries
only a signed session id.
"""

from __future__ import annotations

import logging
from typing import Any

import itsdangerous
import msgspec

__all__ = ["MAX_COOKIE_SIZE", "SessionTooLarge", "SignedCookie"]

logger = logging.getLogger("celeris.sessions")

#: What browsers keep of one cookie (name, value and attributes), RFC 6265 section 6.1.
MAX_COOKIE_SIZE = 4096


class SessionTooLarge(ValueError):
    """The session does not fit in a cookie."""


class _JSON:
    """The msgspec JSON codec in the shape itsdangerous expects of a serializer."""

    @staticmethod
    def dumps(obj: Any) -> bytes:
        return msgspec.json.encode(obj)

    @staticmethod
    def loads(data: bytes) -> Any:
        return msgspec.json.decode(data)


class SignedCookie:
    """Sign and check timestamped cookie values with the app's secret key."""

    __slots__ = ("serializer",)

    def __init__(self, secret_key: str | bytes, *, salt: str = "celeris.sessions") -> None:
        self.serializer = itsdangerous.URLSafeTimedSerializer(
            secret_key, salt=salt, serializer=_JSON
        )

    def dumps(self, payload: Any) -> str:
        """Return the signed (and, when it pays, compressed) cookie value of ``payload``."""
        value: str | bytes = self.serializer.dumps(payload)
        # NOTE: a bytes serializer makes itsdangerous return bytes; the value is ASCII.
        return value.decode("ascii") if isinstance(value, bytes) else value

    def loads(self, value: str, max_age: int) -> tuple[Any, float] | None:
        """Return ``(payload, issued_at)``; None (and a log line) for a bad or old value."""
        if len(value) > MAX_COOKIE_SIZE:
            logger.info("session cookie refused: %d bytes, over %d", len(value), MAX_COOKIE_SIZE)
            return None
        try:
            payload, issued = self.serializer.loads(value, max_age=max_age, return_timestamp=True)
        except itsdangerous.SignatureExpired:
            logger.info("session cookie expired: an empty session instead")
            return None
        except (itsdangerous.BadData, msgspec.DecodeError, ValueError, TypeError):
            # SECURITY: a forged, truncated or garbled cookie is an empty session, never a 500.
            logger.info("session cookie refused: bad signature or encoding")
            return None
        return payload, issued.timestamp()
