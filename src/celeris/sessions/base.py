"""The session store Protocol: where server-side sessions keep their data."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

__all__ = ["SessionStore", "StoreUnavailable"]


class StoreUnavailable(Exception):
    """The session store cannot be reached (the request that needs it gets a 503)."""


@runtime_checkable
class SessionStore(Protocol):
    """A server-side session store: the cookie carries only a signed session id.

    Every method raises ``StoreUnavailable`` when the store cannot be reached; none hangs
    longer than the store's timeout.
    """

    async def open(self) -> None:
        """Connect (at application start-up)."""

    async def close(self) -> None:
        """Disconnect (at application shutdown)."""

    async def load(self, session_id: str) -> dict[str, Any] | None:
        """Return the session's data, or None when it is unknown or expired."""

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        """Store the session's data for ``max_age`` seconds from now."""

    async def delete(self, session_id: str) -> None:
        """Forget the session."""

    async def ping(self) -> None:
        """Check the store answers (for health checks)."""
