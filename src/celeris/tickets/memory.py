"""The ``memory://`` ticket store: one process, gone when it stops (tests, development)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence

from celeris.tickets.base import Ticket, TicketGroup, micros

__all__ = ["MemoryStore"]


def _matches(group: TicketGroup, search: str | None) -> bool:
    if not search:
        return True
    needle = search.lower()
    fields = (group.id, group.exc_type, group.message, group.route or "")
    return any(needle in field.lower() for field in fields)


class MemoryStore:
    """Ticket groups in a dict, each with its newest samples."""

    def __init__(self) -> None:
        self.groups: dict[str, TicketGroup] = {}

    async def open(self) -> None:
        """Nothing to connect."""

    async def close(self) -> None:
        """Nothing to release."""

    async def add(self, tickets: Sequence[Ticket], *, samples: int) -> None:
        """Count each ticket in its group and keep the group's ``samples`` newest."""
        for ticket in tickets:
            if await self.ticket(ticket.id) is not None:
                continue
            group = self.groups.get(ticket.group_id)
            if group is None:
                group = self.groups[ticket.group_id] = TicketGroup(
                    id=ticket.group_id,
                    fingerprint=ticket.fingerprint,
                    exc_type=ticket.exc_type,
                    message=ticket.message,
                    route=ticket.route,
                    count=0,
                    first_seen=ticket.created,
                    last_seen=ticket.created,
                )
            group.count += 1
            group.resolved = False  # NOTE: a resolved error that happens again is open again
            if ticket.created >= group.last_seen:
                group.last_seen, group.message, group.route = (
                    ticket.created,
                    ticket.message,
                    ticket.route,
                )
            group.first_seen = min(group.first_seen, ticket.created)
            group.samples.insert(0, ticket)
            group.samples.sort(key=lambda sample: sample.created, reverse=True)
            del group.samples[samples:]

    async def prune(self, *, max_tickets: int, older_than: int) -> int:
        """Drop tickets older than ``older_than`` µs, then the oldest past ``max_tickets``."""
        removed = 0
        every: builtins.list[tuple[int, str, str]] = []
        for group in self.groups.values():
            kept = [s for s in group.samples if micros(s.created) >= older_than]
            removed += len(group.samples) - len(kept)
            group.samples = kept
            every.extend((micros(s.created), s.id, group.id) for s in kept)
        if len(every) > max_tickets:
            every.sort()
            for _, ticket_id, group_id in every[: len(every) - max_tickets]:
                group = self.groups[group_id]
                group.samples = [s for s in group.samples if s.id != ticket_id]
                removed += 1
        for group_id in [key for key, group in self.groups.items() if not group.samples]:
            del self.groups[group_id]
        return removed

    def _ordered(self, search: str | None, resolved: bool | None) -> builtins.list[TicketGroup]:
        found = [
            group
            for group in self.groups.values()
            if _matches(group, search) and (resolved is None or group.resolved is resolved)
        ]
        found.sort(key=lambda group: (micros(group.last_seen), group.id), reverse=True)
        return found

    async def list(
        self, search: str | None, limit: int, before: tuple[int, str] | None, resolved: bool | None
    ) -> builtins.list[TicketGroup]:
        """Return groups without samples, newest last seen first, after ``before``."""
        found = self._ordered(search, resolved)
        if before is not None:
            found = [g for g in found if (micros(g.last_seen), g.id) < before]
        return [_bare(group) for group in found[:limit]]

    async def get(self, group_id: str) -> TicketGroup | None:
        """Return a copy of the group with its samples."""
        group = self.groups.get(group_id)
        if group is None:
            return None
        copy = _bare(group)
        copy.samples = builtins.list(group.samples)
        return copy

    async def ticket(self, ticket_id: str) -> Ticket | None:
        """Return one stored occurrence."""
        for group in self.groups.values():
            for sample in group.samples:
                if sample.id == ticket_id:
                    return sample
        return None

    async def resolve(self, group_id: str, resolved: bool) -> bool:
        """Mark a group resolved or open."""
        group = self.groups.get(group_id)
        if group is None:
            return False
        group.resolved = resolved
        return True

    async def delete(self, group_id: str) -> bool:
        """Delete a group and its samples."""
        return self.groups.pop(group_id, None) is not None

    async def count(self, search: str | None, resolved: bool | None) -> int:
        """Return the number of groups."""
        return len(self._ordered(search, resolved))

    async def purge(self) -> int:
        """Delete every group."""
        count = len(self.groups)
        self.groups.clear()
        return count


def _bare(group: TicketGroup) -> TicketGroup:
    return TicketGroup(
        id=group.id,
        fingerprint=group.fingerprint,
        exc_type=group.exc_type,
        message=group.message,
        route=group.route,
        count=group.count,
        first_seen=group.first_seen,
        last_seen=group.last_seen,
        resolved=group.resolved,
    )
