"""``get_or_404`` and ``CRUDRouter``: a REST resource generated from one model.

``CRUDRouter(Note, db)`` serves, under ``/note`` (or ``prefix=``):

- ``GET /note`` list: equality filters per column (``?author_id=3``), ``order_by=-created,id``,
  ``limit``/``offset`` pages, or cursor pages (``?cursor=`` for the first, then ``next_cursor``);
- ``GET /note/{id}``, ``POST /note`` (201), ``PATCH /note/{id}`` (partial),
  ``DELETE /note/{id}`` (204).

The handlers are ordinary celeris handlers with real annotations (compiled once like any
other), so validation and OpenAPI come from the core. Writes run on ``db.session``, which
commits before the response is sent: a unique violation is a 409, and a client that got 201
reads its write.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import msgspec
from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from celeris.core.errors import (
    BadRequest,
    Conflict,
    NotFound,
    RequestValidationError,
    ServiceUnavailable,
)
from celeris.core.params import Depends, Query
from celeris.core.routing import Router
from celeris.db.database import Database
from celeris.db.pagination import Ordering, encode_cursor, paginate, paginate_cursor
from celeris.db.schemas import Field, ModelSchemas, schemas_for, to_read_many, values_of

__all__ = ["CRUDRouter", "get_or_404", "page_schema"]

M = TypeVar("M")

_MAX_OFFSET = 2**63 - 1  # SQL's BIGINT: a larger OFFSET fails in the driver (a 500), not a 422
_RESERVED = frozenset({"limit", "offset", "cursor", "order_by", "session"})


async def get_or_404(
    session: AsyncSession, model: type[M], ident: Any, *, detail: str | None = None
) -> M:
    """Return the ``model`` row with primary key ``ident`` or raise ``NotFound`` (404)."""
    # PERF: Session.get looks in the identity map first and uses a cached compiled SELECT.
    try:
        found = await session.get(model, ident)
    except (OverflowError, sa_exc.DBAPIError) as error:
        if not _overflowed(error):
            raise
        found = None  # NOTE: a key the column cannot hold names no row
    if found is None:
        raise NotFound(detail or f"{model.__name__} {ident!r} does not exist.")
    return found


def _overflowed(error: BaseException | None) -> bool:
    """Tell whether the driver refused to bind a value out of its column's integer range.

    SQLite raises ``OverflowError`` past int64; asyncpg a ``DataError`` caused by one past
    int4/int8. Both happen before anything is sent, so the transaction is still usable.
    """
    seen = 0
    while error is not None and seen < 8:  # NOTE: a bounded walk down the cause chain
        if isinstance(error, OverflowError):
            return True
        orig = getattr(error, "orig", None)
        error = orig if isinstance(orig, BaseException) else error.__cause__
        seen += 1
    return False


def page_schema(read: type[msgspec.Struct]) -> type[msgspec.Struct]:
    """Return the list-response Struct for a read schema (concrete, so OpenAPI names it)."""
    name = read.__name__.removesuffix("Read") + "Page"
    return msgspec.defstruct(
        name,
        [
            ("items", list[read]),  # type: ignore[valid-type]
            ("limit", int),
            ("offset", int | None, None),
            ("total", int | None, None),
            ("next_cursor", str | None, None),
        ],
        kw_only=True,
        module=read.__module__,
    )


def _endpoint(
    name: str, function: Callable[..., Any], parameters: list[inspect.Parameter], returns: Any
) -> Callable[..., Any]:
    """Give a generated handler a real signature and annotations for the core and OpenAPI."""
    function.__name__ = function.__qualname__ = name
    function.__signature__ = inspect.Signature(parameters, return_annotation=returns)  # type: ignore[attr-defined]
    function.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": returns}
    return function


def _param(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def _invalid(name: str, message: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ["query", name], "msg": message, "type": "value_error"}])


class CRUDRouter(Router):
    """A ``Router`` serving list / get / create / update / delete for one model."""

    def __init__(
        self,
        model: type[Any],
        db: Database,
        *,
        prefix: str | None = None,
        tags: list[str] | None = None,
        dependencies: Sequence[Any] | None = None,
        filters: Iterable[str] | None = None,
        ordering: Iterable[str] | None = None,
        default_limit: int = 20,
        max_limit: int = 100,
        methods: Iterable[str] = ("list", "get", "create", "update", "delete"),
    ) -> None:
        self.model = model
        self.db = db
        self.schemas: ModelSchemas = schemas_for(model)
        table = model.__tablename__
        # NOTE: the prefix is kept out of Router's own so the collection lives at ``/note``
        # rather than ``/note/`` (a route path must start with "/").
        self.path = (prefix if prefix is not None else f"/{table}").rstrip("/")
        if not self.path.startswith("/"):
            raise ValueError(f"CRUDRouter prefix {prefix!r} must start with '/'")
        super().__init__(
            tags=tags if tags is not None else [model.__name__], dependencies=dependencies
        )
        if not 1 <= default_limit <= max_limit:
            raise ValueError("CRUDRouter needs 1 <= default_limit <= max_limit")
        self.default_limit = default_limit
        self.max_limit = max_limit
        readable = {f.name: f for f in self.schemas.fields if not f.write_only}
        self.filters = self._pick(filters, readable, "filters", scalar_only=True)
        self.ordering = self._pick(ordering, readable, "ordering", scalar_only=False)
        self.key = self.schemas.primary_key
        self._server_generated = any(
            f.column.server_default is not None
            or f.column.server_onupdate is not None
            or f.column.computed is not None
            for f in self.schemas.fields
        )
        self.page = page_schema(self.schemas.read)
        self._session = Depends(db.session)
        # PERF: reads run in autocommit (no BEGIN/COMMIT round trips).
        self._reader = Depends(db.read_session)
        builders = {
            "list": self._add_list,
            "get": self._add_get,
            "create": self._add_create,
            "update": self._add_update,
            "delete": self._add_delete,
        }
        for method in methods:
            if method not in builders:
                raise ValueError(f"unknown CRUD method {method!r}; choose from {sorted(builders)}")
            builders[method](table)

    @staticmethod
    def _pick(
        names: Iterable[str] | None, readable: dict[str, Field], what: str, *, scalar_only: bool
    ) -> dict[str, Field]:
        if names is None:
            return {
                name: f
                for name, f in readable.items()
                if name not in _RESERVED and (not scalar_only or _filter_type(f) is not None)
            }
        picked = {}
        for name in names:
            if name not in readable or name in _RESERVED:
                raise ValueError(f"{what}: {name!r} is not a readable column name")
            if scalar_only and _filter_type(readable[name]) is None:
                raise ValueError(f"{what}: column {name!r} cannot be filtered by equality")
            picked[name] = readable[name]
        return picked

    # --- list -----------------------------------------------------------------------------

    def _order(self, order_by: str | None) -> list[Ordering]:
        keys: list[Ordering] = []
        for raw in (order_by or "").split(","):
            token = raw.strip()
            if not token:
                continue
            descending = token.startswith("-")
            name = token.lstrip("-+")
            field = self.ordering.get(name)
            if field is None:
                allowed = ", ".join(sorted(self.ordering))
                raise _invalid("order_by", f"cannot order by {name!r}; allowed: {allowed}")
            keys.append(Ordering(getattr(self.model, name), descending))
        if not any(key.column.key == self.key.name for key in keys):
            keys.append(Ordering(getattr(self.model, self.key.name)))  # a unique tie-breaker
        return keys

    def _add_list(self, table: str) -> None:
        model, read, page, filters = self.model, self.schemas.read, self.page, self.filters
        max_limit = self.max_limit
        columns = {name: getattr(model, name) for name in filters}

        async def list_rows(**kwargs: Any) -> Any:
            session: AsyncSession = kwargs["session"]
            limit: int = kwargs["limit"]
            offset: int = kwargs["offset"]
            cursor: str | None = kwargs["cursor"]
            if not 1 <= limit <= max_limit:
                raise _invalid("limit", f"limit must be between 1 and {max_limit}")
            if not 0 <= offset <= _MAX_OFFSET:
                raise _invalid("offset", f"offset must be between 0 and {_MAX_OFFSET}")
            statement = select(model)
            for name, column in columns.items():
                value = kwargs.get(name)
                if value is not None:
                    statement = statement.where(column == value)
            ordering = self._order(kwargs["order_by"])
            if cursor is not None:
                # NOTE: a forged cursor raises InvalidCursor, itself a 400 BadRequest.
                rows, next_cursor = await paginate_cursor(
                    session, statement, ordering=ordering, limit=limit, cursor=cursor or None
                )
                items = to_read_many(rows, read)
                return page(items=items, limit=limit, next_cursor=next_cursor)
            order = [k.column.desc() if k.descending else k.column.asc() for k in ordering]
            rows, total = await paginate(
                session, statement.order_by(*order), limit=limit, offset=offset
            )
            more = total is not None and offset + len(rows) < total
            next_cursor = (
                encode_cursor([getattr(rows[-1], k.column.key) for k in ordering])
                if more and rows
                else None
            )
            items = to_read_many(rows, read)
            return page(
                items=items, limit=limit, offset=offset, total=total, next_cursor=next_cursor
            )

        parameters = [
            _param("session", AsyncSession, self._reader),
            _param("limit", int, Query(self.default_limit, description=f"1..{max_limit}")),
            _param("offset", int, Query(0)),
            _param(
                "cursor",
                str | None,
                Query(
                    None, description="Cursor paging: empty for the first page, then next_cursor."
                ),
            ),
            _param(
                "order_by",
                str | None,
                Query(None, description="Comma-separated columns, '-' for descending."),
            ),
        ]
        parameters += [
            _param(name, _filter_type(f) | None, Query(None)) for name, f in filters.items()
        ]
        endpoint = _endpoint(f"list_{table}", list_rows, parameters, page)
        self.add_route(
            self.path,
            endpoint,
            ["GET"],
            summary=f"List {table} rows",
            responses={400: BadRequest, 503: ServiceUnavailable},
        )

    # --- single rows ----------------------------------------------------------------------

    def _key_param(self) -> inspect.Parameter:
        return _param(self.key.name, self.key.python_type)

    def _add_get(self, table: str) -> None:
        model, read, key = self.model, self.schemas.read, self.key.name

        async def get_row(**kwargs: Any) -> Any:
            row = await get_or_404(kwargs["session"], model, kwargs[key])
            return msgspec.convert(row, read, from_attributes=True)

        parameters = [self._key_param(), _param("session", AsyncSession, self._reader)]
        endpoint = _endpoint(f"get_{table}", get_row, parameters, read)
        self.add_route(
            f"{self.path}/{{{key}}}",
            endpoint,
            ["GET"],
            summary=f"Get one {table} row",
            responses={404: NotFound, 503: ServiceUnavailable},
        )

    async def _save(self, session: AsyncSession, row: Any) -> Any:
        """Flush, reload server-generated values; return the read Struct (``db.session`` commits)."""
        await session.flush()
        if self._server_generated:  # PERF: the extra SELECT only when the database fills values
            await session.refresh(row)
        return msgspec.convert(row, self.schemas.read, from_attributes=True)

    def _add_create(self, table: str) -> None:
        model, create = self.model, self.schemas.create

        async def create_row(**kwargs: Any) -> Any:
            session: AsyncSession = kwargs["session"]
            row = model(**values_of(kwargs["data"]))
            session.add(row)
            return await self._save(session, row)

        parameters = [_param("data", create), _param("session", AsyncSession, self._session)]
        endpoint = _endpoint(f"create_{table}", create_row, parameters, self.schemas.read)
        self.add_route(
            self.path,
            endpoint,
            ["POST"],
            status_code=201,
            summary=f"Create a {table} row",
            responses={409: Conflict, 503: ServiceUnavailable},
        )

    def _add_update(self, table: str) -> None:
        model, update, key = self.model, self.schemas.update, self.key.name

        async def update_row(**kwargs: Any) -> Any:
            session: AsyncSession = kwargs["session"]
            row = await get_or_404(session, model, kwargs[key])
            for name, value in values_of(kwargs["data"]).items():
                setattr(row, name, value)
            return await self._save(session, row)

        parameters = [
            self._key_param(),
            _param("data", update),
            _param("session", AsyncSession, self._session),
        ]
        endpoint = _endpoint(f"update_{table}", update_row, parameters, self.schemas.read)
        self.add_route(
            f"{self.path}/{{{key}}}",
            endpoint,
            ["PATCH"],
            summary=f"Update a {table} row partially",
            responses={404: NotFound, 409: Conflict, 503: ServiceUnavailable},
        )

    def _add_delete(self, table: str) -> None:
        model, key = self.model, self.key.name

        async def delete_row(**kwargs: Any) -> None:
            session: AsyncSession = kwargs["session"]
            row = await get_or_404(session, model, kwargs[key])
            await session.delete(row)  # NOTE: db.session commits before the 204 is sent

        parameters = [self._key_param(), _param("session", AsyncSession, self._session)]
        endpoint = _endpoint(f"delete_{table}", delete_row, parameters, None)
        self.add_route(
            f"{self.path}/{{{key}}}",
            endpoint,
            ["DELETE"],
            status_code=204,
            summary=f"Delete a {table} row",
            responses={404: NotFound, 409: Conflict, 503: ServiceUnavailable},
        )


def _filter_type(field: Field) -> Any:
    """Return the query-parameter type used to filter on ``field``, or None if unfilterable."""
    annotation = field.python_type
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) is Literal:
        return annotation
    if not isinstance(annotation, type) or annotation in (bytes, dict, list):
        return None
    return annotation
