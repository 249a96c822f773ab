"""The list page's query: search, filters, sort, keyset pages and counts that stay cheap.

PERF: a list page never runs ``COUNT(*)`` over a large table. The first page fetches one row
more than it shows to know whether there is a next; the total is exact on SQLite and small
tables, the planner's estimate (``pg_class.reltuples``) on a large PostgreSQL table, and a
bounded count ("10,000+") for a filtered one. Later pages seek past the last row seen
(keyset), so page 20,000 costs what page 1 costs; the previous page seeks back from the first
row shown the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from celeris.admin.forms import FormError, parse_value
from celeris.admin.options import ModelAdmin
from celeris.db.pagination import InvalidCursor, Ordering, decode_cursor, encode_cursor

__all__ = [
    "LARGE_TABLE",
    "ListQuery",
    "Page",
    "count_rows",
    "keyset_page",
    "m2m_labels",
    "m2m_link",
    "page_cursors",
    "run_list",
]

#: Past this many rows (by the planner's estimate) a PostgreSQL table is counted by estimate.
LARGE_TABLE = 100_000
#: A filtered list on a large table counts at most this many rows.
COUNT_CAP = 10_000
#: A many-to-many cell of the list names this many related rows, then "… (N in all)".
M2M_SHOWN = 3
PAGE_SIZES = (10, 25, 50, 100, 200, 500)


@dataclass(slots=True)
class ListQuery:
    """The list page's query string, checked: bad parts are dropped with a message."""

    search: str = ""
    filters: dict[str, Any] = field(default_factory=dict)
    raw_filters: dict[str, str] = field(default_factory=dict)
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    sort_param: str = ""
    per_page: int = 50
    cursor: str | None = None
    before: str | None = None
    columns: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    def params(self, **changes: Any) -> dict[str, str]:
        """Return the query parameters of this list, with ``changes`` (None removes one)."""
        out: dict[str, str] = {}
        if self.search:
            out["q"] = self.search
        for name, raw in self.raw_filters.items():
            out[f"f.{name}"] = raw
        if self.sort_param:
            out["o"] = self.sort_param
        out["n"] = str(self.per_page)
        for key, value in changes.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = str(value)
        return out


def choosable(admin: ModelAdmin) -> list[str]:
    """Return the columns a list may show: the default ones, then every other shown column."""
    columns = admin.columns()
    hidden = admin.hidden()
    fields = admin.info.fields
    extra = [
        n
        for n in admin.info.column_names
        if n not in columns and n not in hidden and fields[n].kind not in ("binary",)
    ]
    return columns + extra


def parse_query(admin: ModelAdmin, params: Any, columns: list[str]) -> ListQuery:
    """Read search, filters, sort, page size, cursor and column choice from the query string.

    ``columns`` are the default columns; ``?c=`` chooses among ``choosable(admin)``.
    """
    query = ListQuery(per_page=admin.list_per_page)
    fields = admin.info.fields
    query.search = (params.get("q") or "").strip()[:200] if admin.search_fields else ""
    for name in admin.list_filter:
        raw = params.get(f"f.{name}")
        if raw is None or raw == "":
            continue
        info = fields[name]
        try:
            value = parse_value(info, raw) if info.kind != "bool" else raw in ("1", "yes", "true")
        except FormError as error:
            query.messages.append(f"Filter {info.label!r} ignored: {error}")
            continue
        query.filters[name] = value
        query.raw_filters[name] = raw
    sort = params.get("o")
    if sort:
        keys = []
        for part in sort.split(",")[:3]:
            name = part.removeprefix("-")
            if name in fields and fields[name].kind not in ("m2m", "json", "binary"):
                keys.append((name, part.startswith("-")))
            else:
                query.messages.append(f"Sorting by {part!r} ignored: no such column.")
        if keys:
            query.sort = keys
            query.sort_param = ",".join(("-" if d else "") + n for n, d in keys)
    if not query.sort:
        query.sort = [(o.removeprefix("-"), o.startswith("-")) for o in admin.ordering]
    size = params.get("n")
    if size:
        try:
            wanted = int(size)
        except ValueError:
            wanted = -1
        if 1 <= wanted <= 500:
            query.per_page = wanted
        else:
            query.messages.append(f"Page size {size[:20]!r} ignored: choose 1 to 500.")
    query.cursor, query.before = page_cursors(params)
    cols = params.getlist("c") if hasattr(params, "getlist") else []
    if cols:
        allowed = set(choosable(admin))
        chosen = [c for c in cols if c in allowed]
        query.columns = chosen or columns
    else:
        query.columns = columns
    return query


def page_cursors(params: Any) -> tuple[str | None, str | None]:
    """Return the ``?after=`` and ``?before=`` cursors of a query string (one at most)."""
    after, before = params.get("after") or None, params.get("before") or None
    if after and before:
        raise InvalidCursor("Give one page cursor, after or before, not both.")
    return after, before


def orderings(admin: ModelAdmin, query: ListQuery) -> list[Ordering]:
    """Return the keyset ordering: the chosen sort, ended by the primary key."""
    model = admin.model
    pk = admin.info.pk.name
    keys = [Ordering(getattr(model, n), d) for n, d in query.sort if n != pk]
    pk_desc = next((d for n, d in query.sort if n == pk), bool(keys and keys[-1].descending))
    keys.append(Ordering(getattr(model, pk), pk_desc))
    return keys


def filtered(admin: ModelAdmin, request: Any, query: ListQuery) -> Any:
    """Return the statement of the rows the list shows (before sort and page)."""
    model = admin.model
    statement = admin.get_query(request, sa.select(model))
    if query.search:
        escaped = query.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        statement = statement.where(
            sa.or_(*(getattr(model, n).ilike(pattern, escape="\\") for n in admin.search_fields))
        )
    for name, value in query.filters.items():
        column = getattr(model, name)
        statement = statement.where(column.is_(None) if value is None else column == value)
    return statement


@dataclass(slots=True)
class Page:
    """One page of a list: its rows, the cursors of the pages beside it, whether it is the first."""

    rows: list[Any]
    next_cursor: str | None = None
    previous_cursor: str | None = None
    first: bool = True


def _seek(keys: list[Ordering], values: tuple[Any, ...], forward: bool) -> Any:
    """Return "the row comes after ``values``" (``forward``) or "before" them, in ``keys``' order."""
    # NOTE: bound parameters, as SQLAlchemy refuses `<` beside a literal True or False.
    bound = [sa.bindparam(None, v, type_=k.column.type) for k, v in zip(keys, values, strict=True)]
    clauses = []
    for index, key in enumerate(keys):
        equal = [keys[i].column == bound[i] for i in range(index)]
        column, value = key.column, bound[index]
        beyond = column < value if key.descending == forward else column > value
        clauses.append(sa.and_(*equal, beyond))
    return sa.or_(*clauses)


def _order(keys: list[Ordering], forward: bool) -> list[Any]:
    """Return the ORDER BY of ``keys`` (reversed when not ``forward``)."""
    return [k.column.desc() if k.descending == forward else k.column.asc() for k in keys]


def _values(row: Any, keys: list[Ordering]) -> tuple[Any, ...]:
    return tuple(getattr(row, k.column.key) for k in keys)


def _offset(cursor: str) -> int:
    """Return the row offset inside an offset page's cursor."""
    (offset,) = decode_cursor(cursor, [Ordering(sa.literal(0, sa.Integer))])
    return max(0, int(offset))


async def run_list(
    session: AsyncSession, admin: ModelAdmin, request: Any, query: ListQuery
) -> Page:
    """Return one page of a model's list and the cursors of the next and previous pages."""
    return await keyset_page(
        session,
        filtered(admin, request, query),
        orderings(admin, query),
        query.per_page,
        after=query.cursor,
        before=query.before,
    )


async def keyset_page(
    session: AsyncSession,
    statement: Any,
    keys: list[Ordering],
    size: int,
    *,
    after: str | None = None,
    before: str | None = None,
) -> Page:
    """Return one page of ``statement``'s rows in ``keys``' order (ended by a unique key).

    ``after`` is the cursor of the page after a row, ``before`` of the page before one (the
    "Previous" link: the first row of the page shown); both seek by keyset. Going back past the
    first row shows the first page, full. The users page pages with it too.
    """
    if not all(not getattr(k.column, "nullable", True) or k.column.primary_key for k in keys):
        # NOTE: a nullable sort key cannot seek (NULLs do not compare): pages by offset, and a
        # cursor holds the offset of the page's first row (after) or of the next page's (before).
        if after:
            offset = _offset(after)
        elif before:
            offset = max(0, _offset(before) - size)
        else:
            offset = 0
        found = await session.scalars(
            statement.order_by(*_order(keys, True)).offset(offset).limit(size + 1)
        )
        rows = list(found.all())
        return Page(
            rows[:size],
            encode_cursor([offset + size]) if len(rows) > size else None,
            encode_cursor([offset]) if offset else None,
            first=offset == 0,
        )

    async def fetch(where: Any, forward: bool, limit: int) -> list[Any]:
        ordered = where.order_by(*_order(keys, forward)).limit(limit)
        return list((await session.scalars(ordered)).all())

    async def beyond(row: Any, forward: bool) -> bool:
        return bool(
            await fetch(statement.where(_seek(keys, _values(row, keys), forward)), forward, 1)
        )

    if before:
        values = decode_cursor(before, keys)
        rows = await fetch(statement.where(_seek(keys, values, False)), False, size + 1)
        if len(rows) > size:
            rows = rows[:size][::-1]
            next_cursor = (
                encode_cursor(_values(rows[-1], keys)) if await beyond(rows[-1], True) else None
            )
            return Page(rows, next_cursor, encode_cursor(_values(rows[0], keys)), first=False)
        # NOTE: back at the start (fewer rows before than a page): the first page, full.
    where = statement
    if after:
        where = statement.where(_seek(keys, decode_cursor(after, keys), True))
    # PERF: one row more than shown tells whether a next page exists, without counting.
    rows = await fetch(where, True, size + 1)
    page = Page(rows[:size])
    if len(rows) > size:
        page.next_cursor = encode_cursor(_values(page.rows[-1], keys))
    if after:
        page.first = False
        if page.rows and await beyond(page.rows[0], False):
            page.previous_cursor = encode_cursor(_values(page.rows[0], keys))
        elif page.rows:
            page.first = True
    return page


async def estimated_rows(session: AsyncSession, table: sa.Table) -> int | None:
    """Return the planner's row estimate of a PostgreSQL table (None elsewhere or unknown)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    name = table.name if table.schema is None else f"{table.schema}.{table.name}"
    value = await session.scalar(
        sa.text("SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(:name)"),
        {"name": name},
    )
    return None if value is None or value < 0 else int(value)


async def count_rows(
    session: AsyncSession, admin: ModelAdmin, request: Any, query: ListQuery
) -> tuple[int, str]:
    """Return (count, how): how is "exact", "estimate" or "at least"."""
    estimate = await estimated_rows(session, admin.info.table)
    statement = filtered(admin, request, query)
    plain = not query.search and not query.filters
    if estimate is not None and estimate > LARGE_TABLE:
        if plain and admin.get_query.__func__ is ModelAdmin.get_query:  # type: ignore[attr-defined]
            return estimate, "estimate"
        capped = (
            statement.with_only_columns(sa.literal(1), maintain_column_froms=True)
            .limit(COUNT_CAP + 1)
            .subquery()
        )
        found = int(await session.scalar(sa.select(sa.func.count()).select_from(capped)) or 0)
        return min(found, COUNT_CAP), ("at least" if found > COUNT_CAP else "exact")
    counted = sa.select(sa.func.count()).select_from(statement.order_by(None).subquery())
    return int(await session.scalar(counted) or 0), "exact"


@dataclass(slots=True, frozen=True)
class M2MLink:
    """A many-to-many relationship through one association table, one column each side."""

    owner_key: str  # the owner's attribute the association table points at
    link_owner: sa.Column[Any]  # the association table's column to the owner
    link_target: sa.Column[Any]  # the association table's column to the related row
    target_column: sa.Column[Any]  # the related table's column it points at


def m2m_link(model: type[Any], name: str) -> M2MLink | None:
    """Return how ``model.name`` (a many-to-many relationship) joins, or None if not simply."""
    mapper = sa.inspect(model)
    prop = mapper.relationships.get(name)
    if prop is None or prop.secondary is None:
        return None
    owner_pairs, target_pairs = prop.synchronize_pairs, prop.secondary_synchronize_pairs or []
    if len(owner_pairs) != 1 or len(target_pairs) != 1:
        return None
    (owner_column, link_owner), (target_column, link_target) = owner_pairs[0], target_pairs[0]
    return M2MLink(
        owner_key=mapper.get_property_by_column(owner_column).key,
        link_owner=link_owner,
        link_target=link_target,
        target_column=target_column,
    )


async def m2m_labels(
    session: AsyncSession,
    model: type[Any],
    name: str,
    rows: list[Any],
    str_of: Any,
) -> dict[Any, str]:
    """Return each row's related rows of ``name`` as "a, b, c … (7 in all)", keyed by the row.

    PERF: one query for the whole page, whatever its size: a window numbers each row's links
    (and counts them), and only the first ``M2M_SHOWN`` related rows of each are loaded.
    """
    link = m2m_link(model, name)
    if link is None or not rows:
        return {}
    target = sa.inspect(model).relationships[name].mapper.class_
    keys = {getattr(r, link.owner_key) for r in rows} - {None}
    if not keys:
        return {}
    numbered = (
        sa.select(
            link.link_owner.label("owner"),
            link.link_target.label("target"),
            sa.func.row_number()
            .over(partition_by=link.link_owner, order_by=link.link_target)
            .label("n"),
            sa.func.count().over(partition_by=link.link_owner).label("total"),
        )
        .where(link.link_owner.in_(keys))
        .subquery()
    )
    statement = (
        sa.select(numbered.c.owner, numbered.c.total, target)
        .join(target, link.target_column == numbered.c.target)
        .where(numbered.c.n <= M2M_SHOWN)
        .order_by(numbered.c.owner, numbered.c.n)
    )
    names: dict[Any, list[str]] = {}
    totals: dict[Any, int] = {}
    for owner, total, related in (await session.execute(statement)).all():
        names.setdefault(owner, []).append(str_of(related))
        totals[owner] = int(total)
    out = {}
    for owner, shown in names.items():
        text = ", ".join(shown)
        out[owner] = f"{text} … ({totals[owner]} in all)" if totals[owner] > len(shown) else text
    return out
