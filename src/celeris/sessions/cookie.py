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
from itsdangerous.encoding import want_bytes

__all__ = [
    "MAX_COOKIE_SIZE",
    "VERIFIED_CACHE_SIZE",
    "VERIFIED_JSON_SIZE",
    "SessionTooLarge",
    "SignedCookie",
]

logger = logging.getLogger("celeris.sessions")

#: What browsers keep of one cookie (name, value and attributes), RFC 6265 section 6.1.
MAX_COOKIE_SIZE = 4096

#: How many verified cookie values each signer remembers (least recently used dropped first).
VERIFIED_CACHE_SIZE = 1024
#: The largest (decompressed) session JSON kept there; larger ones are checked every time.
VERIFIED_JSON_SIZE = 8192


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
        # PERF: itsdangerous derives the key per sign and per verify (verify passes the
        # secret explicitly); the derivation is a pure function of the secret and the salt.
        self._derived: dict[bytes, bytes] = {}
        for key in self.secret_keys:
            self._derived[key] = super().derive_key(key)

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        derived = self._derived.get(key)
        return super().derive_key(key) if derived is None else derived


class SignedCookie:
    """Sign and check timestamped cookie values with the app's secret key."""

    __slots__ = ("signer", "verified")

    def __init__(self, secret_key: str | bytes, *, salt: str = "celeris.sessions") -> None:
        # PERF: one signer for the process (itsdangerous's serializers make one per call),
        # JSON by msgspec; the format is itsdangerous's URL-safe one ("." marks zlib).
        self.signer = _Signer(secret_key, salt)
        #: Cookie values whose signature was checked -> (their JSON, their timestamp).
        # SECURITY: the key is the exact signed text, so only a value that passed the full
        # check is ever found here; a changed byte is another key and is checked in full.
        self.verified: dict[str, tuple[bytes, int]] = {}

    def dumps(self, payload: Any) -> str:
        """Return the signed (and, when it pays, compressed) cookie value of ``payload``."""
        json = msgspec.json.encode(payload)
        data = json
        compressed = zlib.compress(data) if len(data) > 64 else data
        prefix = b""
        if len(compressed) < len(data) - 1:
            data, prefix = compressed, b"."
        encoded = prefix + base64.urlsafe_b64encode(data).rstrip(b"=")
        value = self.signer.sign(encoded).decode("ascii")
        # PERF: the browser sends this value back on its next request: it is known good.
        self._remember(value, json, self.signer.get_timestamp())
        return value

    def loads(self, value: str, max_age: int) -> tuple[Any, float] | None:
        """Return ``(payload, issued_at)``; None (and a log line) for a bad or old value."""
        if len(value) > MAX_COOKIE_SIZE:
            logger.info("session cookie refused: %d bytes, over %d", len(value), MAX_COOKIE_SIZE)
            return None
        hit = self.verified.pop(value, None)
        if hit is not None:
            # PERF: a value seen before skips the HMAC, base64 and zlib; its age is still
            # checked now, by itsdangerous's rule, and its JSON decoded afresh (the session
            # gets its own mutable copy).
            self.verified[value] = hit  # the most recently used, last
            json, issued = hit
            if not self._fresh(issued, max_age):
                return None
            return msgspec.json.decode(json), float(issued)
        try:
            encoded, stamp = self.signer.unsign(value, return_timestamp=True)
            # NOTE: only a value we signed gets decoded (and decompressed) at all.
            compressed = encoded[:1] == b"."
            if compressed:
                encoded = encoded[1:]
            data = base64.urlsafe_b64decode(encoded + b"=" * (-len(encoded) % 4))
            if compressed:
                data = _inflate(data)
            payload = msgspec.json.decode(data)
        except (itsdangerous.BadData, msgspec.DecodeError, ValueError, TypeError, zlib.error):
            # SECURITY: a forged, truncated or garbled cookie is an empty session, never a 500.
            logger.info("session cookie refused: bad signature or encoding")
            return None
        issued = int(stamp.timestamp())
        self._remember(value, data, issued)
        if not self._fresh(issued, max_age):
            return None
        return payload, float(issued)

    def _fresh(self, issued: int, max_age: int) -> bool:
        """Tell whether a value signed at ``issued`` is still valid (itsdangerous's rule)."""
        age = self.signer.get_timestamp() - issued
        if age > max_age or age < 0:
            logger.info("session cookie expired: an empty session instead")
            return False
        return True

    def _remember(self, value: str, json: bytes, issued: int) -> None:
        if len(json) > VERIFIED_JSON_SIZE:
            return  # NOTE: the cache stays under VERIFIED_CACHE_SIZE x (4 KiB + 8 KiB)
        verified = self.verified
        if len(verified) >= VERIFIED_CACHE_SIZE:
            # NOTE: a sync handler may decode in a worker thread: tolerate a racing eviction.
            try:
                del verified[next(iter(verified))]
            except (KeyError, RuntimeError, StopIteration):
                pass
        verified[value] = (json, issued)


def _inflate(data: bytes) -> bytes:
    """Decompress at most 64 KiB (a signed cookie is ours, but stay bounded anyway)."""
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, 65536)
    if inflater.unconsumed_tail:
        raise ValueError("session cookie inflates past 64 KiB")
    return out
