"""The cache's health check, shaped like ``celeris.db.health``'s for one readiness route."""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from celeris.cache.cache import Cache

__all__ = ["Health", "check"]


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
