"""Password hashing on pwdlib's argon2id, off the event loop, with the same cost for strangers."""

from __future__ import annotations

import asyncio
import secrets

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

__all__ = ["MAX_PASSWORD_BYTES", "PasswordHasher", "PasswordTooLong", "check_length"]

#: SECURITY: longer passwords are refused before hashing: argon2 would hash 1 MB happily,
#: and an attacker posting many of them would buy CPU time with bandwidth.
MAX_PASSWORD_BYTES = 4096


class PasswordTooLong(ValueError):
    """The password is longer than ``MAX_PASSWORD_BYTES`` (refused without hashing)."""


def check_length(password: str) -> bytes:
    """Return the password's UTF-8 bytes, or raise ``PasswordTooLong`` (before any hashing)."""
    # NOTE: len(str) <= bytes; a cheap bound first so a 1 MB string is never encoded.
    if len(password) > MAX_PASSWORD_BYTES:
        raise PasswordTooLong(f"Passwords are at most {MAX_PASSWORD_BYTES} bytes.")
    raw = password.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise PasswordTooLong(f"Passwords are at most {MAX_PASSWORD_BYTES} bytes.")
    return raw


class PasswordHasher:
    """Hash and verify passwords (argon2id); both run in a worker thread.

    ``time_cost``, ``memory_cost`` (KiB) and ``parallelism`` are argon2's parameters (the
    argon2-cffi defaults, RFC 9106's second recommendation, unless given). A stored hash made
    with other parameters is verified and reported as needing an upgrade.
    """

    __slots__ = ("_dummy", "_hash")

    def __init__(
        self, *, time_cost: int = 3, memory_cost: int = 65536, parallelism: int = 4
    ) -> None:
        self._hash = PasswordHash(
            (Argon2Hasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism),)
        )
        self._dummy: str | None = None

    def hash_sync(self, password: str) -> str:
        """Return the hash of ``password`` (blocking: prefer ``await hash()``)."""
        check_length(password)
        return self._hash.hash(password)

    async def hash(self, password: str) -> str:
        """Return the hash of ``password``, computed in a worker thread."""
        check_length(password)
        # PERF: argon2 takes tens of milliseconds of CPU; the event loop keeps serving.
        return await asyncio.to_thread(self._hash.hash, password)

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self._hash.hash(secrets.token_urlsafe(16))
        return self._dummy

    async def warm(self) -> None:
        """Make the stand-in hash now (at start-up), not on the first unknown-email login.

        SECURITY: made lazily, the first such login would cost two argon2 runs and answer
        measurably later than one for a real account.
        """
        await asyncio.to_thread(self._dummy_hash)

    def _verify_and_update(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        if stored is None:
            # SECURITY: no account (or no password): spend one hash anyway, so the answer
            # takes as long as for a real account and cannot tell who has one.
            self._hash.verify(password, self._dummy_hash())
            return False, None
        try:
            return self._hash.verify_and_update(password, stored)
        except Exception:  # an unknown or corrupt hash format: a failed check, never a 500
            return False, None

    async def verify(self, password: str, stored: str | None) -> tuple[bool, str | None]:
        """Return (matches, new hash or None): the new hash when the parameters changed.

        ``stored=None`` (unknown user) costs one hash and answers False.
        """
        check_length(password)
        return await asyncio.to_thread(self._verify_and_update, password, stored)
