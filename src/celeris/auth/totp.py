"""Second factor: TOTP (RFC 6238, pyotp) with an SVG QR code, and one-time recovery codes.

A code is accepted once: the time step it matched is recorded with a conditional UPDATE, so a
replayed code (or the same code raced twice) finds the step already taken. Recovery codes are
kept as SHA-256 digests (80 random bits each) and spent the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import pyotp
import segno
import sqlalchemy as sa

from celeris.auth.models import RecoveryCode, TOTPDevice

if TYPE_CHECKING:
    from celeris.auth.manager import Auth

__all__ = ["Enrollment", "TwoFactor"]

RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off paper and typed back


class Enrollment(NamedTuple):
    """What a user needs to add the account to an authenticator app."""

    secret: str
    uri: str
    qr_svg: str


def _recovery_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _digest(code: str) -> str:
    normal = code.strip().lower().replace("-", "").replace(" ", "")
    return hashlib.sha256(normal.encode()).hexdigest()


class TwoFactor:
    """TOTP enrollment and checks for one ``Auth``."""

    def __init__(self, auth: Auth, *, issuer: str, valid_window: int = 1) -> None:
        self.auth = auth
        self.issuer = issuer
        self.valid_window = valid_window

    async def enabled(self, user_id: int) -> bool:
        """Tell whether the user has a confirmed authenticator."""
        async with self.auth.reader() as db:
            found = await db.execute(
                sa.select(TOTPDevice.user_id).where(
                    TOTPDevice.user_id == user_id, TOTPDevice.confirmed.is_(True)
                )
            )
            return found.first() is not None

    async def begin(self, user: Any) -> Enrollment:
        """Start (or restart) enrollment: a new secret, not active until ``confirm``."""
        if await self.enabled(user.id):
            raise ValueError("two-factor authentication is on already; turn it off first")
        secret = pyotp.random_base32()
        async with self.auth.db.scope() as db:
            await db.execute(sa.delete(TOTPDevice).where(TOTPDevice.user_id == user.id))
            db.add(TOTPDevice(user_id=user.id, secret=secret, confirmed=False, last_step=0))
        uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=self.issuer)
        # NOTE: the QR code is drawn here, as inline SVG: the secret never reaches a third party.
        svg = segno.make(uri, error="m").svg_inline(scale=4, title="Authenticator QR code")
        return Enrollment(secret, uri, svg)

    async def confirm(self, user: Any, code: str) -> list[str] | None:
        """Turn TOTP on if ``code`` matches the pending secret; return fresh recovery codes."""
        async with self.auth.db.scope() as db:
            device = await db.get(TOTPDevice, user.id)
            if device is None or device.confirmed:
                return None
            step = self._match(device.secret, code)
            if step is None:
                return None
            device.confirmed = True
            device.last_step = step
            await db.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
            codes = [_recovery_code() for _ in range(RECOVERY_CODES)]
            db.add_all(RecoveryCode(user_id=user.id, digest=_digest(c)) for c in codes)
        return codes

    async def disable(self, user: Any) -> None:
        """Turn the second factor off and spend every recovery code."""
        async with self.auth.db.scope() as db:
            await db.execute(sa.delete(TOTPDevice).where(TOTPDevice.user_id == user.id))
            await db.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))

    def _match(self, secret: str, code: str) -> int | None:
        """Return the time step ``code`` is valid for (within the window), else None."""
        code = code.strip().replace(" ", "")
        if not (code.isdigit() and len(code) == 6):
            return None
        totp = pyotp.TOTP(secret)
        now = int(time.time()) // totp.interval
        for step in range(now - self.valid_window, now + self.valid_window + 1):
            if hmac.compare_digest(totp.generate_otp(step), code):
                return step
        return None

    async def verify(self, user_id: int, code: str) -> bool:
        """Accept a TOTP code (once) or an unused recovery code of ``user_id``."""
        if len(code) > 64:
            return False
        async with self.auth.db.scope() as db:
            device = await db.get(TOTPDevice, user_id)
            if device is None or not device.confirmed:
                return False
            step = self._match(device.secret, code)
            if step is not None:
                # SECURITY: only a step later than the last accepted one: no replays.
                taken = await db.execute(
                    sa.update(TOTPDevice)
                    .where(TOTPDevice.user_id == user_id, TOTPDevice.last_step < step)
                    .values(last_step=step)
                )
                return bool(taken.rowcount == 1)  # type: ignore[attr-defined]
            spent = await db.execute(
                sa.update(RecoveryCode)
                .where(
                    RecoveryCode.user_id == user_id,
                    RecoveryCode.digest == _digest(code),
                    RecoveryCode.used.is_(False),
                )
                .values(used=True)
            )
            return bool(spent.rowcount == 1)  # type: ignore[attr-defined]

    async def recovery_codes_left(self, user_id: int) -> int:
        """Return how many recovery codes are unused."""
        async with self.auth.reader() as db:
            count = await db.scalar(
                sa.select(sa.func.count())
                .select_from(RecoveryCode)
                .where(RecoveryCode.user_id == user_id, RecoveryCode.used.is_(False))
            )
            return int(count or 0)
