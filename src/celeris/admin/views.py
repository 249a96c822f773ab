"""The model pages: dashboard, list, create/edit with inlines, delete, history, audit log."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from celeris.admin import actions as bulk
from celeris.admin import pages
from celeris.admin.editing import Editor, current_user, parse_pk
from celeris.admin.forms import display
from celeris.admin.listing import (
    PAGE_SIZES,
    choosable,
    count_rows,
    m2m_labels,
    m2m_link,
    parse_query,
    run_list,
)
from celeris.admin.log import entries, log_table
from celeris.admin.options import ModelAdmin
from celeris.core.errors import NotFound
from celeris.core.params import Depends
from celeris.core.requests import Request
from celeris.core.responses import FileResponse, JSONResponse, Response
from celeris.core.routing import Router

if TYPE_CHECKING:
    from celeris.admin.site import Admin

__all__ = ["build_router"]

STATIC = Path(__file__).parent / "static"
ASSETS = {"admin.css": "text/css", "admin.js": "text/javascript"}
#: A foreign key or many-to-many with more rows than this is an id input (searchable with JS).
SELECT_LIMIT = 200


def build_router(admin: Admin) -> Router:
    """Return the admin's routes (every one behind the staff guard)."""
    router = Router(
        prefix=admin.prefix, dependencies=[Depends(admin.guard)], include_in_schema=False
    )
    views = Views(admin)
    router.get("/", name="admin.index")(views.index)
    router.get("/static/{name}", name="admin.static")(views.static)
    router.get("/log/", name="admin.log")(views.log)
    pages.add_routes(router, admin)
    router.get("/{model}/", name="admin.list")(views.list_page)
    router.post("/{model}/", name="admin.action")(views.action)
    router.get("/{model}/export.csv", name="admin.export")(views.export)
    router.get("/{model}/search.json", name="admin.search")(views.search)
    router.get("/{model}/add/", name="admin.add")(views.editor.add_page)
    router.post("/{model}/add/", name="admin.add.post")(views.editor.add)
    router.get("/{model}/{pk}/", name="admin.edit")(views.editor.edit_page)
    router.post("/{model}/{pk}/", name="admin.edit.post")(views.editor.edit)
    router.get("/{model}/{pk}/delete/", name="admin.delete")(views.delete_page)
    router.post("/{model}/{pk}/delete/", name="admin.delete.post")(views.delete)
    router.get("/{model}/{pk}/history/", name="admin.history")(views.history)
    return router


class Views:
    """The handlers of the model pages for one ``Admin``."""

    def __init__(self, admin: Admin) -> None:
        self.admin = admin
        self.editor = Editor(admin, self)

    # --- dashboard, assets, log -------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        admin, user = self.admin, current_user(request)
        rows = []
        for model_admin in await admin.visible_models(request, user):
            count, how = await admin.count(model_admin, request)
            rows.append(
                {
                    "admin": model_admin,
                    "count": count,
                    "how": how,
                    "can_add": await admin.can(request, user, model_admin.name, "add"),
                }
            )
        statement = await self.visible_log(request, entries(limit=15))
        async with admin.db.scope() as session:
            recent = (await session.execute(statement)).mappings().all()
        return await admin.render(request, user, "index", rows=rows, recent=recent)

    async def visible_log(self, request: Request, statement: Any) -> Any:
        """Restrict log entries to the models the user may view (a superuser sees all)."""
        admin, user = self.admin, current_user(request)
        if "*" in await admin.permissions(request, user):
            return statement
        visible = [m.name for m in await admin.visible_models(request, user)]
        if await admin.can(request, user, "auth", "view"):
            visible += ["auth.user", "auth.group"]
        return statement.where(log_table.c.model.in_(visible))

    async def static(self, request: Request, name: str) -> Response:
        if name not in ASSETS:
            raise NotFound("No such asset.")
        return FileResponse(
            STATIC / name,
            media_type=ASSETS[name],
            content_disposition_type="inline",
            headers={"cache-control": "public, max-age=3600"},
        )

    async def log(self, request: Request, before: int | None = None) -> Response:
        admin, user = self.admin, current_user(request)
        statement = entries(limit=100)
        if before is not None:
            statement = statement.where(log_table.c.id < before)
        statement = await self.visible_log(request, statement)
        async with admin.db.scope() as session:
            rows = (await session.execute(statement)).mappings().all()
        older = rows[-1]["id"] if len(rows) == 100 else None
        return await admin.render(
            request, user, "log", rows=rows, older=older, title="Audit log", object=None
        )

    # --- list ---------------------------------------------------------------------------------

    async def list_page(self, request: Request, model: str) -> Response:
        admin, user = self.admin, current_user(request)
        model_admin = admin.model_admin(model)
        await admin.require(request, user, model, "view")
        context = await self.list_context(request, model_admin)
        return await admin.render(request, user, "list", **context)

    async def list_context(self, request: Request, model_admin: ModelAdmin) -> dict[str, Any]:
        admin, user = self.admin, current_user(request)
        columns = model_admin.columns()
        query = parse_query(model_admin, request.query_params, columns)
        async with admin.db.scope() as session:
            page = await run_list(session, model_admin, request, query)
            rows = page.rows
            count, how = await count_rows(session, model_admin, request, query)
            filters = await self.filter_choices(session, model_admin, request, query)
            labels = await self.relation_labels(session, model_admin, rows, query.columns)
        info = model_admin.info
        table = []
        for row in rows:
            cells = [self.cell(model_admin, row, name, labels) for name in query.columns]
            table.append({"pk": getattr(row, info.pk.name), "cells": cells})
        actions = await bulk.available(admin, request, user, model_admin)
        return {
            "model_admin": model_admin,
            "title": model_admin.verbose_plural,
            "query": query,
            "columns": [(n, self.column_label(model_admin, n)) for n in query.columns],
            "all_columns": [(n, self.column_label(model_admin, n)) for n in choosable(model_admin)],
            "sortable": {
                n
                for n in query.columns
                if n in info.fields and info.fields[n].kind not in ("m2m", "json", "binary")
            },
            "rows": table,
            "next_cursor": page.next_cursor,
            "previous_cursor": page.previous_cursor,
            "first_page": page.first,
            "count": count,
            "how": how,
            "filters": filters,
            "page_sizes": PAGE_SIZES,
            "actions": actions,
            "can_add": await admin.can(request, user, model_admin.name, "add"),
            "list_messages": query.messages,
        }

    def column_label(self, model_admin: ModelAdmin, name: str) -> str:
        info = model_admin.info.fields.get(name)
        if info is not None:
            return info.label
        method = getattr(model_admin, name, None)
        return str(getattr(method, "short_description", name.replace("_", " ").capitalize()))

    def cell(
        self, model_admin: ModelAdmin, row: Any, name: str, labels: dict[str, dict[Any, str]]
    ) -> str:
        info = model_admin.info.fields.get(name)
        if info is None:
            relation = model_admin.info.relations.get(name)
            if relation is not None:
                return labels.get(name, {}).get(
                    tuple(getattr(row, c) for c in relation.local_columns), ""
                )
            return display(getattr(model_admin, name)(row))
        if info.kind == "m2m":
            link = m2m_link(model_admin.model, name)
            owner = getattr(row, link.owner_key) if link is not None else None
            return labels.get(name, {}).get(owner, "")
        value = getattr(row, name)
        if info.kind == "fk" and value is not None:
            return labels.get(name, {}).get(value, str(value))
        return display(value)

    async def relation_labels(
        self, session: Any, model_admin: ModelAdmin, rows: list[Any], columns: list[str]
    ) -> dict[str, dict[Any, str]]:
        """Return the names of the rows that foreign keys and many-to-many fields in ``columns``
        point at (one query each, for the whole page)."""
        out: dict[str, dict[Any, str]] = {}
        for name in columns:
            info = model_admin.info.fields.get(name)
            relation = model_admin.info.relations.get(name)
            if info is not None and info.kind == "m2m" and info.target is not None:
                target_admin = self.admin.by_model.get(info.target) or ModelAdmin(info.target)
                out[name] = await m2m_labels(
                    session, model_admin.model, name, rows, target_admin.str_of
                )
            elif info is not None and info.kind == "fk" and info.target is not None:
                keys = {getattr(r, name) for r in rows} - {None}
                out[name] = await self.names_of(session, info.target, keys)
            elif (
                relation is not None
                and relation.direction == "one"
                and len(relation.local_columns) == 1
            ):
                local = relation.local_columns[0]
                keys = {getattr(r, local) for r in rows} - {None}
                names = await self.names_of(session, relation.target, keys)
                out[name] = {(k,): v for k, v in names.items()}
        return out

    async def names_of(self, session: Any, target: type[Any], keys: set[Any]) -> dict[Any, str]:
        if not keys:
            return {}
        target_admin = self.admin.by_model.get(target) or ModelAdmin(target)
        pk = getattr(target, target_admin.info.pk.name)
        found = (await session.scalars(sa.select(target).where(pk.in_(keys)))).all()
        return {getattr(t, target_admin.info.pk.name): target_admin.str_of(t) for t in found}

    async def filter_choices(
        self, session: Any, model_admin: ModelAdmin, request: Request, query: Any
    ) -> list[dict[str, Any]]:
        out = []
        for name in model_admin.list_filter:
            info = model_admin.info.fields[name]
            choices: list[tuple[str, str]] | None = None
            if info.kind == "bool":
                choices = [("1", "Yes"), ("0", "No")]
            elif info.kind == "enum":
                choices = [(n, v) for n, v in info.choices]
            elif info.kind == "fk" and info.target is not None:
                options = await self.options(session, info.target, request)
                if options is not None:
                    choices = options
            out.append(
                {
                    "name": name,
                    "label": info.label,
                    "choices": choices,
                    "current": query.raw_filters.get(name, ""),
                }
            )
        return out

    async def options(
        self, session: Any, target: type[Any], request: Request
    ) -> list[tuple[str, str]] | None:
        """Return (id, name) of every row of ``target`` the request may see, None when too many."""
        target_admin = self.admin.by_model.get(target) or ModelAdmin(target)
        statement = target_admin.get_query(request, sa.select(target))
        pk = getattr(target, target_admin.info.pk.name)
        found = (await session.scalars(statement.order_by(pk).limit(SELECT_LIMIT + 1))).all()
        if len(found) > SELECT_LIMIT:
            return None
        return [(str(getattr(t, target_admin.info.pk.name)), target_admin.str_of(t)) for t in found]

    # --- search (the foreign-key select's endpoint) ------------------------------------------

    async def search(self, request: Request, model: str, q: str = "", limit: int = 20) -> Response:
        admin, user = self.admin, current_user(request)
        model_admin = admin.model_admin(model)
        await admin.require(request, user, model, "view")
        limit = max(1, min(limit, 50))
        statement = model_admin.get_query(request, sa.select(model_admin.model))
        pk_name = model_admin.info.pk.name
        pk = getattr(model_admin.model, pk_name)
        text = q.strip()[:100]
        if text:
            clauses = []
            if text.isdigit() and model_admin.info.pk.kind == "int":
                clauses.append(pk == int(text))
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            searched = model_admin.search_fields or [
                n for n in ("name", "title", "email", "label") if n in model_admin.info.fields
            ]
            clauses += [
                getattr(model_admin.model, n).ilike(f"%{escaped}%", escape="\\") for n in searched
            ]
            if not clauses:
                return JSONResponse({"results": []})
            statement = statement.where(sa.or_(*clauses))
        async with admin.db.scope() as session:
            found = (await session.scalars(statement.order_by(pk).limit(limit))).all()
        return JSONResponse(
            {
                "results": [
                    {"id": str(getattr(r, pk_name)), "text": model_admin.str_of(r)} for r in found
                ]
            }
        )

    # --- actions and export --------------------------------------------------------------------

    async def action(self, request: Request, model: str) -> Response:
        return await bulk.handle(self, request, self.admin.model_admin(model))

    async def export(self, request: Request, model: str) -> Response:
        return await bulk.export(self, request, self.admin.model_admin(model))

    # --- forms --------------------------------------------------------------------------------

    # --- delete and history ---------------------------------------------------------------------

    async def cascade(
        self, session: Any, model_admin: ModelAdmin, obj: Any, depth: int = 0
    ) -> list[dict[str, Any]]:
        """Return what deleting ``obj`` also deletes, unlinks or is blocked by."""
        out = []
        for relation in model_admin.info.relations.values():
            if relation.direction == "one" or len(relation.local_columns) != 1:
                continue
            target_admin = self.admin.by_model.get(relation.target) or ModelAdmin(relation.target)
            if relation.direction == "m2m":
                collection = await getattr(obj.awaitable_attrs, relation.name)
                if collection:
                    out.append(
                        {
                            "what": "unlinked",
                            "label": relation.name,
                            "count": len(collection),
                            "names": [target_admin.str_of(t) for t in collection[:10]],
                            "children": [],
                        }
                    )
                continue
            remote = relation.remote_columns[0]
            key = getattr(obj, relation.local_columns[0])
            column = getattr(relation.target, remote)
            count = int(await session.scalar(sa.select(sa.func.count()).where(column == key)) or 0)
            if not count:
                continue
            some = (
                await session.scalars(sa.select(relation.target).where(column == key).limit(10))
            ).all()
            if relation.orm_delete or relation.db_ondelete == "CASCADE":
                what = "deleted"
            elif relation.db_ondelete == "SET NULL" or target_admin.info.fields[remote].nullable:
                what = "unlinked"
            else:
                what = "blocking"
            children = []
            if what == "deleted" and depth < 2:
                for child in some:
                    children += await self.cascade(session, target_admin, child, depth + 1)
            out.append(
                {
                    "what": what,
                    "label": target_admin.verbose_plural,
                    "count": count,
                    "names": [target_admin.str_of(t) for t in some],
                    "children": children,
                }
            )
        return out

    async def delete_page(self, request: Request, model: str, pk: str) -> Response:
        admin, user = self.admin, current_user(request)
        model_admin = admin.model_admin(model)
        await admin.require(request, user, model, "delete")
        async with admin.db.scope() as session:
            obj = await admin.get_object(session, model_admin, request, pk)
            await admin.require_object(request, user, model, "delete", obj)
            effects = await self.cascade(session, model_admin, obj)
        return await admin.render(
            request,
            user,
            "delete",
            model_admin=model_admin,
            obj=obj,
            pk=pk,
            title=f"Delete {model_admin.str_of(obj)}?",
            effects=effects,
            blocked=any(e["what"] == "blocking" for e in effects),
        )

    async def delete(self, request: Request, model: str, pk: str) -> Response:
        admin, user = self.admin, current_user(request)
        model_admin = admin.model_admin(model)
        await admin.require(request, user, model, "delete")
        await admin.read_form(request)
        try:
            async with admin.db.scope() as session:
                obj = await admin.get_object(session, model_admin, request, pk)
                await admin.require_object(request, user, model, "delete", obj)
                await self.editor.load_relations(session, model_admin, obj)
                name = model_admin.str_of(obj)
                await bulk.delete_one(admin, session, user, model_admin, obj)
        except sa_exc.IntegrityError:
            return admin.redirect(
                request,
                admin.url(model, pk, "delete"),
                "Not deleted: other rows still refer to it.",
            )
        return admin.redirect(
            request, admin.url(model), f"Deleted {model_admin.verbose.lower()} “{name}”."
        )

    async def history(self, request: Request, model: str, pk: str) -> Response:
        admin, user = self.admin, current_user(request)
        model_admin = admin.model_admin(model)
        await admin.require(request, user, model, "view")
        async with admin.db.scope() as session:
            obj = (
                await session.scalars(
                    model_admin.get_query(request, sa.select(model_admin.model)).where(
                        getattr(model_admin.model, model_admin.info.pk.name)
                        == parse_pk(model_admin, pk)
                    )
                )
            ).first()
            if obj is not None:
                await admin.require_object(request, user, model, "view", obj)
            rows = (
                (await session.execute(entries(model_admin.name, pk, limit=200))).mappings().all()
            )
        if obj is None and not rows:
            raise NotFound("No such object.")
        return await admin.render(
            request,
            user,
            "log",
            rows=rows,
            older=None,
            model_admin=model_admin,
            object=obj,
            pk=pk,
            title=f"History of {model_admin.str_of(obj) if obj is not None else pk}",
        )
