"""Grouping, samples, paging, search, resolve, delete and retention on every store."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

import pytest

from celeris import App
from celeris.testing import AsyncTestClient
from celeris.tickets import Ticket, Tickets
from celeris.tickets.memory import MemoryStore


def make_app(**options: Any) -> tuple[App, Tickets]:
    app = App()
    tickets = Tickets(app=app, **options)

    @app.get("/items/{item_id:int}")
    async def item(item_id: int) -> None:
        raise ValueError(f"item {item_id} is broken")

    @app.get("/other")
    async def other() -> None:
        raise TypeError("another error")

    @app.get("/third")
    async def third() -> None:
        raise ValueError("same type, other place")

    return app, tickets


async def test_repeats_group_by_type_and_frames_not_by_numbers(
    store_options: dict[str, Any],
) -> None:
    app, tickets = make_app(**store_options)
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        ids = [(await client.get(f"/items/{n}")).json()["ticket"] for n in range(3)]
        await client.get("/other")
        await client.get("/third")
        assert await tickets.flush(10)
        groups = await tickets.list()
        assert [g.exc_type for g in groups] == ["ValueError", "TypeError", "ValueError"]
        assert [g.count for g in groups] == [1, 1, 3]
        assert await tickets.count() == 3
        items = groups[2]
        assert items.route == "/items/{item_id:int}"
        assert items.message == "item 2 is broken"  # the latest occurrence's message
        assert items.first_seen < items.last_seen
        assert items.samples == []
        full = await tickets.get(items.id)
        assert full is not None
        assert [s.id for s in full.samples] == ids[::-1]  # newest first
        assert full.samples[0].request is not None
        assert full.samples[0].request["path"] == "/items/2"
        assert await tickets.ticket(ids[0]) == full.samples[2]
        assert await tickets.get("no-such-group") is None
        assert await tickets.ticket("no-such-ticket") is None


async def test_only_the_newest_samples_are_kept(store_options: dict[str, Any]) -> None:
    app, tickets = make_app(samples=2, **store_options)
    async with AsyncTestClient(app, raise_server_exceptions=False) as client:
        ids = [(await client.get(f"/items/{n}")).json()["ticket"] for n in range(5)]
        assert await tickets.flush(10)
        (group,) = await tickets.list()
        full = await tickets.get(group.id)
    assert full is not None
    assert full.count == 5
    assert [s.id for s in full.samples] == [ids[4], ids[3]]


def _ticket(tickets: Tickets, n: int, created: datetime.datetime, kind: str = "E") -> Ticket:
    try:
        raise type(kind, (Exception,), {})(f"error {n}")
    except Exception as error:
        ticket = tickets.capturer().ticket(error, now=created)
    return ticket


async def test_keyset_paging_search_resolve_and_delete(store_options: dict[str, Any]) -> None:
    tickets = Tickets(**store_options)
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    async with tickets:
        made = [
            _ticket(tickets, n, start + datetime.timedelta(seconds=n), kind=f"Kind{n}")
            for n in range(7)
        ]
        await tickets.store.add(made, samples=5)
        first = await tickets.list(limit=3)
        assert [g.exc_type.rsplit(".", 1)[-1] for g in first] == ["Kind6", "Kind5", "Kind4"]
        second = await tickets.list(limit=3, before=first[-1].cursor)
        third = await tickets.list(limit=3, before=second[-1].cursor)
        seen = [g.id for g in first + second + third]
        assert len(seen) == len(set(seen)) == 7
        assert await tickets.list(before=third[-1].cursor) == []
        found = await tickets.list(search="kind3")
        assert [g.exc_type.rsplit(".", 1)[-1] for g in found] == ["Kind3"]
        assert await tickets.count("KIND") == 7
        assert await tickets.list(search="100%_") == []  # LIKE wildcards are literal
        target = found[0].id
        assert await tickets.resolve(target)
        group = await tickets.get(target)
        assert group is not None
        assert group.resolved
        assert await tickets.count(resolved=True) == 1
        assert [g.id for g in await tickets.list(resolved=True)] == [target]
        # NOTE: the same error again: the group opens again and counts it
        again = made[3]
        repeat = Ticket(
            **{**{f: getattr(again, f) for f in again.__struct_fields__}, "id": "f" * 32}
        )
        await tickets.store.add([repeat], samples=5)
        group = await tickets.get(target)
        assert group is not None
        assert not group.resolved
        assert group.count == 2
        # NOTE: a write retried after a timeout adds nothing twice
        await tickets.store.add([repeat], samples=5)
        group = await tickets.get(target)
        assert group is not None
        assert group.count == 2
        assert await tickets.delete(target)
        assert not await tickets.delete(target)
        assert not await tickets.resolve(target)
        assert await tickets.count() == 6
        assert await tickets.purge() == 6
        assert await tickets.count() == 0
        with pytest.raises(ValueError, match="cursor"):
            await tickets.list(before="nonsense")
        with pytest.raises(ValueError, match="limit"):
            await tickets.list(limit=0)


async def test_retention_and_max_tickets(store_options: dict[str, Any]) -> None:
    tickets = Tickets(max_tickets=4, retention=7, **store_options)
    now = datetime.datetime.now(datetime.UTC)
    async with tickets:
        old = [_ticket(tickets, n, now - datetime.timedelta(days=30, seconds=n)) for n in range(3)]
        recent = [
            _ticket(tickets, n, now - datetime.timedelta(minutes=10 - n), kind=f"R{n}")
            for n in range(6)
        ]
        await tickets.store.add(old + recent, samples=10)
        assert await tickets.count() == 7
        removed = await tickets.prune()
        assert removed == 5  # three past retention, then the two oldest past max_tickets
        kinds = sorted(g.exc_type.rsplit(".", 1)[-1] for g in await tickets.list())
        assert kinds == ["R2", "R3", "R4", "R5"]


async def test_a_nul_byte_in_a_message_is_stored(store_options: dict[str, Any]) -> None:
    tickets = Tickets(**store_options)
    async with tickets:
        try:
            raise ValueError("before\x00after")
        except ValueError as error:
            ticket = tickets.capture(error)
        assert ticket is not None
        assert await tickets.flush(10)
        stored = await tickets.ticket(ticket.id)
    assert stored is not None
    assert stored.message == "before\\x00after"


class _Refusing(MemoryStore):
    """A memory store that refuses one ticket, as a database refuses a row it cannot hold."""

    def __init__(self, refused: set[str]) -> None:
        super().__init__()
        self.refused = refused
        self.attempts = 0

    async def add(self, tickets: Sequence[Ticket], *, samples: int) -> None:
        if any(ticket.id in self.refused for ticket in tickets):
            self.attempts += 1
            raise ValueError("value too long for type character varying(200)")
        await super().add(tickets, samples=samples)


async def test_a_ticket_the_store_refuses_does_not_hold_back_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    tickets = Tickets("memory://")
    tickets.retry_delay = 0.01
    made = []
    for n in range(4):
        try:
            raise KeyError(n)
        except KeyError as error:
            made.append(tickets.capturer().ticket(error))
    store = _Refusing({made[1].id})
    tickets._store = store
    for ticket in made:
        tickets.enqueue(ticket)
    assert await tickets.flush(5)
    assert "could not be stored, dropped" in caplog.text
    assert store.attempts >= 3
    stored = [await tickets.ticket(ticket.id) for ticket in made]
    assert [ticket is not None for ticket in stored] == [True, False, True, True]
