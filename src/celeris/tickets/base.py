"""What a ticket is, and the Protocol every ticket store implements."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

__all__ = [
    "Ticket",
    "TicketGroup",
    "TicketStore",
    "from_micros",
    "make_cursor",
    "micros",
    "read_cursor",
]


class Ticket(msgspec.Struct, kw_only=True):
    """One stored occurrence of an error: where it happened and what the request was."""

    id: str
    group_id: str
    created: datetime.datetime
    exc_type: str
    message: str
    #: Innermost last; each: filename, lineno, function, context_lines, locals, in_app.
    frames: list[dict[str, Any]]
    #: method, path, url, query, headers, client, route (and data, when the body was read).
    request: dict[str, Any] | None = None
    user: dict[str, Any] | None = None
    release: str | None = None
    route: str | None = None
    fingerprint: str = ""
    #: ``"app"`` for an exception the app raised, ``"sentry"`` for an event sent by a Sentry SDK.
    source: str = "app"


class TicketGroup(msgspec.Struct, kw_only=True):
    """The repeats of one error (one fingerprint): a count, first and last seen, samples."""

    id: str
    fingerprint: str
    exc_type: str
    message: str
    route: str | None
    count: int
    first_seen: datetime.datetime
    last_seen: datetime.datetime
    resolved: bool = False
    #: The most recent occurrences kept, newest first (empty in ``list()`` answers).
    samples: list[Ticket] = msgspec.field(default_factory=list)

    @property
    def cursor(self) -> str:
        """Return the keyset cursor after this group: ``list(before=group.cursor)``."""
        return make_cursor(micros(self.last_seen), self.id)


def micros(moment: datetime.datetime) -> int:
    """Return ``moment`` as integer microseconds since the epoch (exact, unlike floats)."""
    delta = moment - datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime.datetime:
    """Return the UTC datetime of ``value`` microseconds since the epoch."""
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
    return epoch + datetime.timedelta(microseconds=int(value))


def make_cursor(last_seen: int, group_id: str) -> str:
    """Return the opaque keyset cursor of a group."""
    return f"{last_seen}.{group_id}"


def read_cursor(cursor: str) -> tuple[int, str]:
    """Return ``(last_seen, id)`` of a cursor; ValueError if it is not one."""
    moment, dot, group_id = cursor.partition(".")
    if not dot or not group_id or not moment.isdigit():
        raise ValueError(f"not a ticket cursor: {cursor!r}")
    return int(moment), group_id


class TicketStore(Protocol):
    """Where tickets live: memory, or tables in a ``celeris.db`` database."""

    async def open(self) -> None:
        """Connect (and create the tables if they are missing)."""

    async def close(self) -> None:
        """Release what ``open`` took."""

    async def add(self, tickets: Sequence[Ticket], *, samples: int) -> None:
        """Store ``tickets``: count each in its group, keep its group's ``samples`` newest."""

    async def prune(self, *, max_tickets: int, older_than: int) -> int:
        """Delete tickets older than ``older_than`` µs and the oldest past ``max_tickets``."""

    async def list(
        self, search: str | None, limit: int, before: tuple[int, str] | None, resolved: bool | None
    ) -> list[TicketGroup]:
        """Return groups, newest last seen first, after the ``before`` key."""

    async def get(self, group_id: str) -> TicketGroup | None:
        """Return one group with its samples, newest first."""

    async def ticket(self, ticket_id: str) -> Ticket | None:
        """Return one stored occurrence."""

    async def resolve(self, group_id: str, resolved: bool) -> bool:
        """Mark a group resolved (or open again); False if there is no such group."""

    async def delete(self, group_id: str) -> bool:
        """Delete a group and its samples; False if there is no such group."""

    async def count(self, search: str | None, resolved: bool | None) -> int:
        """Return the number of groups."""

    async def purge(self) -> int:
        """Delete every group; return how many there were."""
