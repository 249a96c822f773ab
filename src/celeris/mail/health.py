"""The mail health check, shaped like ``celeris.db.health``'s for one readiness route."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import msgspec

from celeris.mail.errors import MailError

if TYPE_CHECKING:
    from celeris.mail.mailer import Mailer

__all__ = ["Health", "check"]


class Health(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The result of one mail health check."""

    status: str  # "ok" or "unavailable"
    mail: str  # the backend name
    error: str | None = None


async def check(mailer: Mailer, *, timeout: float = 5.0) -> Health:
    """Ask the mail backend whether it can deliver (SMTP: connect, EHLO, NOOP); never raises."""
    try:
        await asyncio.wait_for(mailer.check(), timeout)
    except TimeoutError:
        return Health(status="unavailable", mail=mailer.backend.name, error="timed out")
    except (MailError, OSError) as error:
        return Health(status="unavailable", mail=mailer.backend.name, error=str(error))
    return Health(status="ok", mail=mailer.backend.name)
