"""The mail health check, shaped like ``celeris.db.health``'s for one readiness route."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

from celeris.mail.errors import MailError

if TYPE_CHECKING:
    from celeris.mail.mailer import Mailer

__all__ = ["Health", "check", "register_health"]


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


def register_health(app: Any, name: str, check: Callable[[], Awaitable[Any]]) -> str:
    """Add ``check`` to ``app.state.health_checks`` (name -> coroutine function); return the name.

    NOTE: the convention a readiness route (``add_health_route``, ``/readyz``) reads: each
    check returns a Struct whose ``status`` is ``"ok"`` or ``"unavailable"``, and never raises.
    """
    state = getattr(app, "state", None)
    if state is None:  # not a celeris App: nothing to register with
        return name
    checks = state.health_checks if "health_checks" in state else None
    if checks is None:
        checks = state.health_checks = {}
    unique, n = name, 1
    while unique in checks:
        n += 1
        unique = f"{name}-{n}"
    checks[unique] = check
    return unique
