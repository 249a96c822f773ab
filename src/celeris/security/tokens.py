"""CSRF token secrets and their per-response masks (so a compressed page cannot leak them)."""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets

__all__ = ["mask", "new_secret", "same_secret", "unmask"]

SECRET_BYTES = 32
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def new_secret() -> str:
    """Return a new token secret (URL-safe text, 256 bits)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _xor(a: bytes, b: bytes) -> bytes:
    """Return ``a`` XOR ``b`` (same length), the whole buffer at once."""
    # PERF: one big-int XOR in C, not a Python loop over the bytes.
    return (int.from_bytes(a) ^ int.from_bytes(b)).to_bytes(len(a))


def mask(secret: str) -> str:
    """Return ``secret`` XOR-ed with a fresh random pad, pad first (different every call)."""
    # SECURITY: BREACH: a secret repeated verbatim in compressed pages can be guessed byte by
    # byte through the response size; a new pad per render makes every copy look random.
    # The pad comes from the OS CSPRNG (os.urandom, what secrets.token_bytes returns).
    raw = secret.encode("ascii")
    size = len(raw)
    pad = os.urandom(size)
    # PERF: inline, big-endian defaults, binascii: this runs on every page with a form.
    masked = (int.from_bytes(pad) ^ int.from_bytes(raw)).to_bytes(size)
    encoded = binascii.b2a_base64(pad + masked, newline=False).translate(_URLSAFE)
    return encoded.rstrip(b"=").decode("ascii")


def unmask(token: str) -> str | None:
    """Return the secret a masked token carries; None when it is not a token."""
    if not token or len(token) > 256:
        return None
    try:
        raw = _b64decode(token)
    except (binascii.Error, ValueError):
        return None
    if len(raw) % 2:
        return None
    half = len(raw) // 2
    try:
        return _xor(raw[:half], raw[half:]).decode("ascii")
    except UnicodeDecodeError:
        return None


def same_secret(token: str | None, secret: str | None) -> bool:
    """Tell, in constant time, whether a submitted (masked) token carries ``secret``."""
    if not token or not secret:
        return False
    carried = unmask(token)
    if carried is None:
        return False
    return hmac.compare_digest(carried.encode("ascii"), secret.encode("ascii"))
