"""The cache's health check, shaped like ``celeris.db.health``'s for one readiness route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from celeris.cache.cache import Cache

__all__ = ["Health", "check", "register_health"]


class Health(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The result of one cache health check."""

    status: str  # "ok" or "unavailable"
    cache: str  # the backend name
    latency_ms: float | None = None
    error: str | None = None


async def check(cache: Cache, *, timeout: float = 2.0) -> Health:
    """Ping the cache's backend; return its health without raising."""
    ok, seconds, error = await cache.health(timeout)
    if not ok:
        return Health(status="unavailable", cache=cache.backend.name, error=error)
    assert seconds is not None
    return Health(status="ok", cache=cache.backend.name, latency_ms=round(seconds * 1000, 3))


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
