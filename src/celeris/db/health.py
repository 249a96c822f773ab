"""A ``/healthz``-style readiness check of the database.

``add_health_route(app, db)`` serves ``GET /healthz``: 200 ``{"status": "ok", ...}`` when a
``SELECT 1`` answers within ``timeout`` seconds, else 503 problem+json with ``Retry-After``.
Load balancers and orchestrators poll it to take an instance out of rotation while its
database is away; it never raises and never hangs past the timeout.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import msgspec

from celeris.core.errors import ServiceUnavailable
from celeris.core.responses import JSONResponse, Response

if TYPE_CHECKING:  # NOTE: annotations only: Database imports this module to register check()
    from celeris.db.database import Database

__all__ = ["Health", "add_health_route", "check"]


class Health(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The result of one health check."""

    status: str  # "ok" or "unavailable"
    database: str  # the dialect name
    latency_ms: float | None = None
    error: str | None = None


async def check(db: Database, *, timeout: float = 2.0) -> Health:
    """Ping the database; return its health without raising."""
    try:
        seconds = await asyncio.wait_for(db.ping(), timeout)
    except Exception as error:
        reason = "timed out" if isinstance(error, TimeoutError) else type(error).__name__
        return Health(status="unavailable", database=db.dialect, error=reason)
    return Health(status="ok", database=db.dialect, latency_ms=round(seconds * 1000, 3))


def add_health_route(
    app: Any, db: Database, path: str = "/healthz", *, timeout: float = 2.0
) -> None:
    """Serve the database health check at ``path`` on ``app`` (an App or a Router)."""

    async def healthz() -> Response:
        health = await check(db, timeout=timeout)
        if health.status == "ok":
            return JSONResponse(msgspec.to_builtins(health))
        problem = ServiceUnavailable(
            f"The database is unavailable ({health.error}).",
            retry_after=db.retry_after,
            extra={"database": health.database},
        )
        return problem.to_response()

    app.add_route(
        path,
        healthz,
        ["GET"],
        name="healthz",
        tags=["health"],
        summary="Database health",
        responses={503: ServiceUnavailable},
    )
