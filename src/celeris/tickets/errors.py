"""The tickets battery's configuration error (stable ids: ``tickets.E001``...)."""

from __future__ import annotations

__all__ = ["TicketsConfigError"]


class TicketsConfigError(ValueError):
    """A mistake in how Tickets is set up; the message names the fix."""
