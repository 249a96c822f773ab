"""The ticket store on ``celeris.db``: two ``celeris_*`` tables, SQLite or PostgreSQL.

The tables are the battery's own (``METADATA``), created at start-up like the jobs battery's;
the app's migrations skip ``celeris_*`` tables its models do not declare.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import msgspec
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    case,
    delete,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from celeris.db import Database, create_tables
from celeris.tickets.base import Ticket, TicketGroup, from_micros, micros

__all__ = ["METADATA", "DatabaseStore", "groups_table", "tickets_table"]

METADATA = MetaData()

groups_table = Table(
    "celeris_ticket_groups",
    METADATA,
    Column("id", String(32), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("exc_type", String(300), nullable=False),
    Column("message", Text, nullable=False),
    Column("route", String(500)),
    Column("count", Integer, nullable=False),
    Column("first_seen", BigInteger, nullable=False),  # µs since the epoch: exact cursors
    Column("last_seen", BigInteger, nullable=False),
    Column("resolved", Boolean, nullable=False),
)
tickets_table = Table(
    "celeris_tickets",
    METADATA,
    Column("id", String(32), primary_key=True),
    Column("group_id", String(32), nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("exc_type", String(300), nullable=False),
    Column("message", Text, nullable=False),
    Column("frames", Text, nullable=False),
    Column("request", Text),
    Column("user", Text),
    Column("release", String(200)),
    Column("route", String(500)),
    Column("fingerprint", String(64), nullable=False),
    Column("source", String(16), nullable=False),
)
_g = groups_table.c
_t = tickets_table.c
# PERF: the list page reads groups in this order, and keyset pagination seeks in it.
Index("ix_celeris_ticket_groups_seen", _g.last_seen, _g.id)
Index("ix_celeris_tickets_group", _t.group_id, _t.created)
Index("ix_celeris_tickets_created", _t.created)

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def _like(search: str) -> str:
    escaped = search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filters(search: str | None, resolved: bool | None) -> list[Any]:
    clauses: list[Any] = []
    if search:
        pattern = _like(search)
        columns = (_g.id, _g.exc_type, _g.message, _g.route)
        clauses.append(or_(*(func.lower(column).like(pattern, escape="\\") for column in columns)))
    if resolved is not None:
        clauses.append(_g.resolved.is_(resolved))
    return clauses


def _group(row: Row[Any]) -> TicketGroup:
    values = row._mapping
    return TicketGroup(
        id=values["id"],
        fingerprint=values["fingerprint"],
        exc_type=values["exc_type"],
        message=values["message"],
        route=values["route"],
        count=values["count"],
        first_seen=from_micros(values["first_seen"]),
        last_seen=from_micros(values["last_seen"]),
        resolved=bool(values["resolved"]),
    )


def _ticket(row: Row[Any]) -> Ticket:
    values = row._mapping
    return Ticket(
        id=values["id"],
        group_id=values["group_id"],
        created=from_micros(values["created"]),
        exc_type=values["exc_type"],
        message=values["message"],
        frames=_decode(values["frames"]),
        request=_decode(values["request"]) if values["request"] else None,
        user=_decode(values["user"]) if values["user"] else None,
        release=values["release"],
        route=values["route"],
        fingerprint=values["fingerprint"],
        source=values["source"],
    )


class DatabaseStore:
    """Ticket groups and their samples in a ``celeris.db`` database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def _insert(self) -> Any:
        dialect = self.database.dialect
        return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(groups_table)

    async def open(self) -> None:
        """Create the tickets tables if they are missing."""
        async with self.database.engine.begin() as connection:
            await create_tables(connection, METADATA)

    async def close(self) -> None:
        """Nothing of its own: the database is closed by whoever opened it."""

    async def add(self, tickets: Sequence[Ticket], *, samples: int) -> None:
        """Upsert each ticket's group, insert the ticket, trim the group to ``samples``."""
        async with self.database.engine.begin() as connection:
            # NOTE: a write that timed out after its commit is retried: skip what is stored.
            ids = [ticket.id for ticket in tickets]
            seen = set((await connection.execute(select(_t.id).where(_t.id.in_(ids)))).scalars())
            for ticket in tickets:
                if ticket.id in seen:
                    continue
                seen.add(ticket.id)
                created = micros(ticket.created)
                statement = self._insert().values(
                    id=ticket.group_id,
                    fingerprint=ticket.fingerprint,
                    exc_type=ticket.exc_type[:300],
                    message=ticket.message,
                    route=ticket.route,
                    count=1,
                    first_seen=created,
                    last_seen=created,
                    resolved=False,
                )
                newer = statement.excluded.last_seen > _g.last_seen
                statement = statement.on_conflict_do_update(
                    index_elements=[_g.id],
                    set_={
                        "count": _g.count + 1,
                        "resolved": False,  # NOTE: an error that happens again is open again
                        "last_seen": case(
                            (newer, statement.excluded.last_seen), else_=_g.last_seen
                        ),
                        "message": case((newer, statement.excluded.message), else_=_g.message),
                        "route": case((newer, statement.excluded.route), else_=_g.route),
                        "first_seen": case(
                            (
                                statement.excluded.first_seen < _g.first_seen,
                                statement.excluded.first_seen,
                            ),
                            else_=_g.first_seen,
                        ),
                    },
                ).returning(_g.count)
                count = (await connection.execute(statement)).scalar_one()
                await connection.execute(
                    tickets_table.insert().values(
                        id=ticket.id,
                        group_id=ticket.group_id,
                        created=created,
                        exc_type=ticket.exc_type[:300],
                        message=ticket.message,
                        frames=_encode(ticket.frames).decode(),
                        request=_encode(ticket.request).decode() if ticket.request else None,
                        user=_encode(ticket.user).decode() if ticket.user else None,
                        release=ticket.release,
                        route=ticket.route,
                        fingerprint=ticket.fingerprint,
                        source=ticket.source,
                    )
                )
                if count > samples:
                    newest = (
                        select(_t.id)
                        .where(_t.group_id == ticket.group_id)
                        .order_by(_t.created.desc(), _t.id.desc())
                        .limit(samples)
                    )
                    await connection.execute(
                        delete(tickets_table).where(
                            _t.group_id == ticket.group_id, _t.id.not_in(newest.scalar_subquery())
                        )
                    )

    async def prune(self, *, max_tickets: int, older_than: int) -> int:
        """Delete old tickets, the oldest past ``max_tickets``, and groups left empty."""
        async with self.database.engine.begin() as connection:
            result = await connection.execute(delete(tickets_table).where(_t.created < older_than))
            removed = int(result.rowcount)
            total = (
                await connection.execute(select(func.count()).select_from(tickets_table))
            ).scalar_one()
            if total > max_tickets:
                threshold = (
                    await connection.execute(
                        select(_t.created).order_by(_t.created.desc()).offset(max_tickets).limit(1)
                    )
                ).scalar_one_or_none()
                if threshold is not None:
                    result = await connection.execute(
                        delete(tickets_table).where(_t.created <= threshold)
                    )
                    removed += int(result.rowcount)
            orphan = ~exists().where(_t.group_id == _g.id)
            await connection.execute(delete(groups_table).where(orphan))
        return removed

    async def list(
        self, search: str | None, limit: int, before: tuple[int, str] | None, resolved: bool | None
    ) -> builtins.list[TicketGroup]:
        """Return groups, newest last seen first, after the ``before`` key."""
        clauses = _filters(search, resolved)
        if before is not None:
            moment, group_id = before
            clauses.append(
                or_(_g.last_seen < moment, and_(_g.last_seen == moment, _g.id < group_id))
            )
        query = (
            select(groups_table)
            .where(*clauses)
            .order_by(_g.last_seen.desc(), _g.id.desc())
            .limit(limit)
        )
        async with self.database.engine.connect() as connection:
            rows = (await connection.execute(query)).all()
        return [_group(row) for row in rows]

    async def get(self, group_id: str) -> TicketGroup | None:
        """Return one group with its samples, newest first."""
        async with self.database.engine.connect() as connection:
            row = (await connection.execute(select(groups_table).where(_g.id == group_id))).first()
            if row is None:
                return None
            samples = (
                await connection.execute(
                    select(tickets_table)
                    .where(_t.group_id == group_id)
                    .order_by(_t.created.desc(), _t.id.desc())
                )
            ).all()
        group = _group(row)
        group.samples = [_ticket(sample) for sample in samples]
        return group

    async def ticket(self, ticket_id: str) -> Ticket | None:
        """Return one stored occurrence."""
        async with self.database.engine.connect() as connection:
            row = (
                await connection.execute(select(tickets_table).where(_t.id == ticket_id))
            ).first()
        return None if row is None else _ticket(row)

    async def resolve(self, group_id: str, resolved: bool) -> bool:
        """Mark a group resolved or open."""
        async with self.database.engine.begin() as connection:
            result = await connection.execute(
                update(groups_table).where(_g.id == group_id).values(resolved=resolved)
            )
        return bool(result.rowcount)

    async def delete(self, group_id: str) -> bool:
        """Delete a group and its samples."""
        async with self.database.engine.begin() as connection:
            await connection.execute(delete(tickets_table).where(_t.group_id == group_id))
            result = await connection.execute(delete(groups_table).where(_g.id == group_id))
        return bool(result.rowcount)

    async def count(self, search: str | None, resolved: bool | None) -> int:
        """Return the number of groups."""
        query = select(func.count()).select_from(groups_table).where(*_filters(search, resolved))
        async with self.database.engine.connect() as connection:
            return int((await connection.execute(query)).scalar_one())

    async def purge(self) -> int:
        """Delete every group and ticket."""
        async with self.database.engine.begin() as connection:
            await connection.execute(delete(tickets_table))
            result = await connection.execute(delete(groups_table))
        return int(result.rowcount)
