"""The storage health check, shaped like ``celeris.db.health``'s for one readiness route."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import msgspec

from celeris.storage.errors import StorageUnavailable

if TYPE_CHECKING:
    from celeris.storage.storage import Storage

__all__ = ["Health", "check"]


class Health(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The result of one storage health check."""

    status: str  # "ok" or "unavailable"
    storage: str  # the backend name
    error: str | None = None


async def check(storage: Storage, *, timeout: float = 5.0) -> Health:
    """Ask the store for one object's metadata; never raises."""
    try:
        await asyncio.wait_for(storage.check(), timeout)
    except TimeoutError:
        return Health(status="unavailable", storage=storage.backend.name, error="timed out")
    except (StorageUnavailable, OSError) as error:
        return Health(status="unavailable", storage=storage.backend.name, error=str(error))
    return Health(status="ok", storage=storage.backend.name)
