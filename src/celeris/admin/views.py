"""The model pages: dashboard, list, create/edit with inlines, delete, history, audit log."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from celeris.admin import actions as bulk
from celeris.admin import pages
from celeris.admin.checks import inline_relation
from celeris.admin.forms import FormError, display, input_type, parse_value, to_text
from celeris.admin.introspect import FieldInfo, ModelInfo, inspect_model
from celeris.admin.listing import PAGE_SIZES, choosable, count_rows, parse_query, run_list
from celeris.admin.log import entries, log_table, snapshot, write_log
from celeris.admin.options import InlineAdmin, ModelAdmin
from celeris.core.errors import BadRequest, NotFound
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
    router.get("/{model}/add/", name="admin.add")(views.add_page)
    router.post("/{model}/add/", name="admin.add.post")(views.add)
    router.get("/{model}/{pk}/", name="admin.edit")(views.edit_page)
    router.post("/{model}/{pk}/", name="admin.edit.post")(views.edit)
    router.get("/{model}/{pk}/delete/", name="admin.delete")(views.delete_page)
    router.post("/{model}/{pk}/delete/", name="admin.delete.post")(views.delete)
    router.get("/{model}/{pk}/history/", name="admin.history")(views.history)
    return router


def _user(request: Request) -> Any:
    return request.state.user


class Views:
    """The handlers of the model pages for one ``Admin``."""

    def __init__(self, admin: Admin) -> None:
        self.admin = admin

    # --- dashboard, assets, log -------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        admin, user = self.admin, _user(request)
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
        admin, user = self.admin, _user(request)
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
        admin, user = self.admin, _user(request)
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
        admin, user = self.admin, _user(request)
        model_admin = admin.model_admin(model)
        await admin.require(request, user, model, "view")
        context = await self.list_context(request, model_admin)
        return await admin.render(request, user, "list", **context)

    async def list_context(self, request: Request, model_admin: ModelAdmin) -> dict[str, Any]:
        admin, user = self.admin, _user(request)
        columns = model_admin.columns()
        query = parse_query(model_admin, request.query_params, columns)
        async with admin.db.scope() as session:
            rows, next_cursor = await run_list(session, model_admin, request, query)
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
            "next_cursor": next_cursor,
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
        value = getattr(row, name)
        if info.kind == "fk" and value is not None:
            return labels.get(name, {}).get(value, str(value))
        return display(value)

    async def relation_labels(
        self, session: Any, model_admin: ModelAdmin, rows: list[Any], columns: list[str]
    ) -> dict[str, dict[Any, str]]:
        """Return the names of the rows that foreign keys in ``columns`` point at (one query each)."""
        out: dict[str, dict[Any, str]] = {}
        for name in columns:
            info = model_admin.info.fields.get(name)
            relation = model_admin.info.relations.get(name)
            if info is not None and info.kind == "fk" and info.target is not None:
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
        admin, user = self.admin, _user(request)
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

    def inlines(
        self, model_admin: ModelAdmin
    ) -> list[tuple[type[InlineAdmin], str, ModelInfo, list[str]]]:
        out = []
        for inline in model_admin.inlines:
            relation_name = inline_relation(model_admin, inline)
            if relation_name is None:
                continue
            relation = model_admin.info.relations[relation_name]
            info = inspect_model(relation.target)
            names = (
                list(inline.fields)
                if inline.fields
                else [
                    f.name
                    for f in info.fields.values()
                    if not (f.primary_key and f.autoincrement)
                    and f.name not in relation.remote_columns
                    and f.kind != "m2m"
                ]
            )
            out.append((inline, relation_name, info, names))
        return out

    async def form_rows(
        self,
        session: Any,
        request: Request,
        model_admin: ModelAdmin,
        names: list[str],
        info: ModelInfo,
        values: dict[str, Any],
        errors: dict[str, str],
        *,
        prefix: str = "",
        readonly: set[str] = frozenset(),  # type: ignore[assignment]
    ) -> list[dict[str, Any]]:
        rows = []
        for name in names:
            field = info.fields[name]
            key = prefix + name
            widget = input_type(field, model_admin.widgets.get(name) if not prefix else None)
            row: dict[str, Any] = {
                "name": key,
                "id": "f-" + key,
                "label": field.label,
                "widget": widget,
                "field": field,
                "value": values.get(name, ""),
                "error": errors.get(key),
                "required": field.required and field.kind not in ("bool", "m2m"),
                "readonly": name in readonly,
                "maxlength": field.max_length,
                "choices": field.choices,
                "options": None,
                "search_url": None,
                "step": "any" if field.kind in ("float", "decimal") else None,
            }
            if (
                field.kind in ("fk", "m2m")
                and field.target is not None
                and widget in ("relation", "select")
            ):
                row["options"] = await self.options(session, field.target, request)
                target_admin = self.admin.by_model.get(field.target)
                if target_admin is not None:
                    row["search_url"] = self.admin.url(target_admin.name, "search.json")
            rows.append(row)
        return rows

    def initial(
        self, model_admin: ModelAdmin, info: ModelInfo, names: list[str], obj: Any
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name in names:
            field = info.fields[name]
            if obj is None:
                default = (
                    getattr(field.column, "default", None) if field.column is not None else None
                )
                arg = getattr(default, "arg", None)
                values[name] = (
                    to_text(field, arg) if default is not None and not callable(arg) else ""
                )
                if field.kind == "bool":
                    values[name] = bool(arg) if default is not None and not callable(arg) else False
                if field.kind == "m2m":
                    values[name] = []
                continue
            value = obj.__dict__.get(name)
            if field.kind == "m2m":
                target: Any = field.target
                pk = (self.admin.by_model.get(target) or ModelAdmin(target)).info.pk.name
                values[name] = [str(getattr(t, pk)) for t in (value or [])]
            elif field.kind == "bool":
                values[name] = bool(value)
            else:
                values[name] = to_text(field, value)
        return values

    async def form_page(
        self,
        request: Request,
        model_admin: ModelAdmin,
        obj: Any,
        *,
        values: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        inline_values: dict[str, list[dict[str, Any]]] | None = None,
        status: int = 200,
    ) -> Response:
        admin, user = self.admin, _user(request)
        names = model_admin.form_fields()
        errors = errors or {}
        readonly = set(model_admin.readonly_fields)
        can_change = obj is None or await admin.can(request, user, model_admin.name, "change")
        if not can_change:
            readonly = set(names)
        async with admin.db.scope() as session:
            if values is None:
                values = self.initial(model_admin, model_admin.info, names, obj)
            rows = await self.form_rows(
                session,
                request,
                model_admin,
                names,
                model_admin.info,
                values,
                errors,
                readonly=readonly,
            )
            groups = []
            for inline, relation_name, info, inline_names in self.inlines(model_admin):
                if inline_values is not None and relation_name in inline_values:
                    current = inline_values[relation_name]
                else:
                    children = (
                        list(getattr(obj, relation_name, None) or []) if obj is not None else []
                    )
                    current = [
                        {
                            "__id": to_text(info.pk, getattr(c, info.pk.name)),
                            **self.initial(model_admin, info, inline_names, c),
                        }
                        for c in children[: inline.max_rows]
                    ]
                    current += [
                        {"__id": "", **self.initial(model_admin, info, inline_names, None)}
                        for _ in range(inline.extra)
                    ]
                forms = []
                for index, row_values in enumerate(current):
                    prefix = f"{relation_name}-{index}-"
                    forms.append(
                        {
                            "id": row_values.get("__id", ""),
                            "prefix": prefix,
                            "delete": bool(row_values.get("__delete")),
                            "rows": await self.form_rows(
                                session,
                                request,
                                ModelAdmin(info.model, info),
                                inline_names,
                                info,
                                row_values,
                                errors,
                                prefix=prefix,
                            ),
                        }
                    )
                groups.append(
                    {
                        "name": relation_name,
                        "label": relation_name.replace("_", " ").capitalize(),
                        "columns": [info.fields[n].label for n in inline_names],
                        "forms": forms,
                    }
                )
        pk = getattr(obj, model_admin.info.pk.name) if obj is not None else None
        return await admin.render(
            request,
            user,
            "form",
            status,
            model_admin=model_admin,
            obj=obj,
            pk=pk,
            title=(
                model_admin.str_of(obj) if obj is not None else f"Add {model_admin.verbose.lower()}"
            ),
            rows=rows,
            inlines=groups,
            form_error=errors.get("__all__"),
            error_count=len(errors),
            can_change=can_change,
            can_delete=obj is not None
            and await admin.can(request, user, model_admin.name, "delete"),
        )

    async def load_relations(self, session: Any, model_admin: ModelAdmin, obj: Any) -> None:
        """Load the many-to-many and inline collections an edit form shows."""
        for field in model_admin.info.fields.values():
            if field.kind == "m2m":
                await getattr(obj.awaitable_attrs, field.name)
        for _inline, relation_name, _info, _names in self.inlines(model_admin):
            await getattr(obj.awaitable_attrs, relation_name)

    async def add_page(self, request: Request, model: str) -> Response:
        model_admin = self.admin.model_admin(model)
        await self.admin.require(request, _user(request), model, "add")
        return await self.form_page(request, model_admin, None)

    async def edit_page(self, request: Request, model: str, pk: str) -> Response:
        admin = self.admin
        model_admin = admin.model_admin(model)
        await admin.require(request, _user(request), model, "view")
        async with admin.db.scope() as session:
            obj = await admin.get_object(session, model_admin, request, pk)
            await self.load_relations(session, model_admin, obj)
        return await self.form_page(request, model_admin, obj)

    async def add(self, request: Request, model: str) -> Response:
        model_admin = self.admin.model_admin(model)
        await self.admin.require(request, _user(request), model, "add")
        return await self.save(request, model_admin, None)

    async def edit(self, request: Request, model: str, pk: str) -> Response:
        model_admin = self.admin.model_admin(model)
        await self.admin.require(request, _user(request), model, "change")
        return await self.save(request, model_admin, pk)

    async def parse_fields(
        self,
        session: Any,
        request: Request,
        model_admin: ModelAdmin,
        info: ModelInfo,
        names: list[str],
        form: Any,
        errors: dict[str, str],
        *,
        prefix: str = "",
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return (parsed values, raw values) of a form's fields; record errors by field."""
        parsed: dict[str, Any] = {}
        raw: dict[str, Any] = {}
        for name in names:
            field = info.fields[name]
            key = prefix + name
            if field.kind == "m2m":
                ids = [v for v in form.getlist(key) if isinstance(v, str)]
                ids = [part.strip() for v in ids for part in v.split(",") if part.strip()]
                raw[name] = ids
                try:
                    parsed[name] = await self.related(session, request, field, ids)
                except FormError as error:
                    errors[key] = str(error)
                continue
            value = form.get(key)
            if value is not None and not isinstance(value, str):
                errors[key] = "Upload files through a file field."
                continue
            raw[name] = (
                (value not in (None, "", "0", "off")) if field.kind == "bool" else (value or "")
            )
            try:
                parsed[name] = parse_value(field, value)
                if field.kind == "fk" and parsed[name] is not None and field.target is not None:
                    await self.related(session, request, field, [str(parsed[name])])
            except FormError as error:
                errors[key] = str(error)
        return parsed, raw

    async def related(
        self, session: Any, request: Request, field: FieldInfo, ids: list[str]
    ) -> list[Any]:
        """Return the rows of ``field``'s target with these ids; FormError if one is not visible."""
        target = field.target
        assert target is not None
        target_admin = self.admin.by_model.get(target) or ModelAdmin(target)
        pk_field = target_admin.info.pk
        keys = []
        for text in ids:
            try:
                keys.append(parse_value(_required(pk_field), text))
            except FormError:
                raise FormError(f"{text[:40]!r} is not a valid id.") from None
        if not keys:
            return []
        pk = getattr(target, pk_field.name)
        statement = target_admin.get_query(request, sa.select(target)).where(pk.in_(keys))
        found = (await session.scalars(statement)).all()
        if len({getattr(f, pk_field.name) for f in found}) != len(set(keys)):
            # SECURITY: a row that does not exist and one this user may not see read alike.
            raise FormError("Select a valid choice: that row does not exist or is not available.")
        return list(found)

    async def save(self, request: Request, model_admin: ModelAdmin, pk: str | None) -> Response:
        admin, user = self.admin, _user(request)
        form = await admin.read_form(request)
        info = model_admin.info
        readonly = set(model_admin.readonly_fields)
        names = [n for n in model_admin.form_fields() if n not in readonly]
        errors: dict[str, str] = {}
        inline_raw: dict[str, list[dict[str, Any]]] = {}
        logs: list[dict[str, Any]] = []
        try:
            async with admin.db.scope() as session:
                obj = None
                if pk is not None:
                    obj = await admin.get_object(session, model_admin, request, pk)
                    await self.load_relations(session, model_admin, obj)
                parsed, raw = await self.parse_fields(
                    session, request, model_admin, info, names, form, errors
                )
                inline_rows = await self.parse_inlines(
                    session, request, model_admin, form, errors, inline_raw
                )
                if errors:
                    return await self.form_page(
                        request,
                        model_admin,
                        obj,
                        values=raw,
                        errors=errors,
                        inline_values=inline_raw,
                        status=422,
                    )
                columns = info.column_names
                before = None if obj is None else self.snapshot(model_admin, obj)
                if obj is None:
                    obj = model_admin.model()
                    session.add(obj)
                for name, value in parsed.items():
                    setattr(obj, name, value)
                await session.flush()
                for relation_name, child_info, rows in inline_rows:
                    collection = await getattr(obj.awaitable_attrs, relation_name)
                    existing = {str(getattr(c, child_info.pk.name)): c for c in collection}
                    for child_id, values, delete in rows:
                        child = existing.get(child_id) if child_id else None
                        if child_id and child is None:
                            errors["__all__"] = (
                                "A related row on this form no longer belongs to it."
                            )
                            raise _Invalid
                        if delete and child is not None:
                            logs.append(
                                self.entry(
                                    "delete",
                                    child_info,
                                    child,
                                    before=snapshot(child, child_info.column_names),
                                )
                            )
                            await session.delete(child)
                            continue
                        if delete:
                            continue
                        child_before = (
                            None if child is None else snapshot(child, child_info.column_names)
                        )
                        if child is None:
                            child = child_info.model()
                            collection.append(child)
                        for name, value in values.items():
                            setattr(child, name, value)
                        await session.flush()
                        logs.append(
                            self.entry(
                                "add" if child_before is None else "change",
                                child_info,
                                child,
                                before=child_before,
                                after=snapshot(child, child_info.column_names),
                            )
                        )
                await session.flush()
                after = self.snapshot(model_admin, obj)
                object_id = getattr(obj, info.pk.name)
                changed = before is None or any(before.get(k) != after.get(k) for k in after)
                if changed:
                    await write_log(
                        session,
                        user=user,
                        action="add" if before is None else "change",
                        model=model_admin.name,
                        object_id=object_id,
                        object_repr=model_admin.str_of(obj),
                        before=before,
                        after=after,
                    )
                for entry in logs:
                    if entry["action"] != "change" or entry["before"] != entry["after"]:
                        await write_log(session, user=user, **entry)
                del columns
        except (_Invalid, sa_exc.IntegrityError) as error:
            if isinstance(error, sa_exc.IntegrityError):
                errors["__all__"] = _integrity_message(error)
            # NOTE: the failed transaction expired the row: show it as it is in the database.
            fresh = None
            if pk is not None:
                async with admin.db.scope() as session:
                    fresh = await admin.get_object(session, model_admin, request, pk)
                    await self.load_relations(session, model_admin, fresh)
            return await self.form_page(
                request,
                model_admin,
                fresh,
                values=raw,
                errors=errors,
                inline_values=inline_raw or None,
                status=422,
            )
        target = (
            admin.url(model_admin.name, object_id)
            if "_continue" in form
            else admin.url(model_admin.name)
        )
        if "_addanother" in form:
            target = admin.url(model_admin.name, "add")
        return admin.redirect(
            request, target, f"Saved {model_admin.verbose.lower()} “{model_admin.str_of(obj)}”."
        )

    def entry(
        self, action: str, info: ModelInfo, obj: Any, *, before: Any = None, after: Any = None
    ) -> dict[str, Any]:
        child_admin = self.admin.by_model.get(info.model) or ModelAdmin(info.model, info)
        return {
            "action": action,
            "model": child_admin.name,
            "object_id": getattr(obj, info.pk.name),
            "object_repr": child_admin.str_of(obj),
            "before": before,
            "after": after,
        }

    def snapshot(self, model_admin: ModelAdmin, obj: Any) -> dict[str, Any]:
        values = snapshot(obj, model_admin.info.column_names)
        for field in model_admin.info.fields.values():
            if field.kind == "m2m" and field.name in obj.__dict__:
                target = self.admin.by_model.get(field.target) or ModelAdmin(field.target)  # type: ignore[arg-type]
                values[field.name] = sorted(
                    str(getattr(t, target.info.pk.name)) for t in obj.__dict__[field.name]
                )
        return values

    async def parse_inlines(
        self,
        session: Any,
        request: Request,
        model_admin: ModelAdmin,
        form: Any,
        errors: dict[str, str],
        raw_out: dict[str, list[dict[str, Any]]],
    ) -> list[tuple[str, ModelInfo, list[tuple[str, dict[str, Any], bool]]]]:
        out = []
        for inline, relation_name, info, names in self.inlines(model_admin):
            try:
                total = min(
                    int(form.get(f"{relation_name}-total") or 0), inline.max_rows + inline.extra
                )
            except ValueError:
                raise BadRequest(f"{relation_name}-total must be a number.") from None
            rows: list[tuple[str, dict[str, Any], bool]] = []
            raw_rows: list[dict[str, Any]] = []
            for index in range(max(total, 0)):
                prefix = f"{relation_name}-{index}-"
                child_id = str(form.get(prefix + "id") or "")
                delete = form.get(prefix + "delete") is not None
                present = [form.get(prefix + n) for n in names]
                blank = all(v in (None, "") for v in present)
                if not child_id and blank:
                    raw_rows.append({"__id": "", **dict.fromkeys(names, "")})
                    continue
                row_errors: dict[str, str] = {}
                parsed, raw = await self.parse_fields(
                    session, request, model_admin, info, names, form, row_errors, prefix=prefix
                )
                raw_rows.append({"__id": child_id, "__delete": delete, **raw})
                if delete:
                    rows.append((child_id, {}, True))
                    continue
                errors.update(row_errors)
                rows.append((child_id, parsed, False))
            raw_out[relation_name] = raw_rows
            out.append((relation_name, info, rows))
        return out

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
        admin, user = self.admin, _user(request)
        model_admin = admin.model_admin(model)
        await admin.require(request, user, model, "delete")
        async with admin.db.scope() as session:
            obj = await admin.get_object(session, model_admin, request, pk)
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
        admin, user = self.admin, _user(request)
        model_admin = admin.model_admin(model)
        await admin.require(request, user, model, "delete")
        await admin.read_form(request)
        try:
            async with admin.db.scope() as session:
                obj = await admin.get_object(session, model_admin, request, pk)
                await self.load_relations(session, model_admin, obj)
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
        admin, user = self.admin, _user(request)
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


class _Invalid(Exception):
    """A form error found while saving (rolls the transaction back)."""


def _required(info: FieldInfo) -> FieldInfo:
    return replace(
        info,
        kind="int" if info.kind == "fk" else info.kind,
        required=True,
        nullable=False,
        max_length=None,
    )


def parse_pk(model_admin: ModelAdmin, pk: str) -> Any:
    try:
        return parse_value(_required(model_admin.info.pk), pk)
    except FormError:
        raise NotFound("No such object.") from None


def _integrity_message(error: sa_exc.IntegrityError) -> str:
    text = str(error.orig).lower()
    if "unique" in text or "duplicate" in text:
        return "Not saved: another row already has this value (a unique field)."
    if "foreign key" in text:
        return "Not saved: a related row does not exist."
    if "not null" in text or "null value" in text:
        return "Not saved: a required value is missing."
    return "Not saved: the database refused the change (a constraint)."
