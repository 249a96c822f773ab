"""The create and edit forms: fields from columns, many-to-many, inline rows, saving and logging."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from celeris.admin.checks import inline_relation
from celeris.admin.forms import FormError, input_type, parse_value, to_text
from celeris.admin.introspect import FieldInfo, ModelInfo, inspect_model
from celeris.admin.log import snapshot, write_log
from celeris.admin.options import InlineAdmin, ModelAdmin
from celeris.core.errors import BadRequest, NotFound
from celeris.core.requests import Request
from celeris.core.responses import Response

if TYPE_CHECKING:
    from celeris.admin.site import Admin
    from celeris.admin.views import Views

__all__ = ["Editor", "current_user", "parse_pk"]


def current_user(request: Request) -> Any:
    """Return the staff user the admin's guard found for ``request``."""
    return request.state.user


class Editor:
    """The handlers of the add and edit forms for one ``Admin``."""

    def __init__(self, admin: Admin, views: Views) -> None:
        self.admin = admin
        self.views = views

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
                row["options"] = await self.views.options(session, field.target, request)
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
        admin, user = self.admin, current_user(request)
        names = model_admin.form_fields()
        errors = errors or {}
        readonly = set(model_admin.readonly_fields)
        can_change = obj is None or await admin.can_object(
            request, user, model_admin.name, "change", obj
        )
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
            and await admin.can_object(request, user, model_admin.name, "delete", obj),
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
        await self.admin.require(request, current_user(request), model, "add")
        return await self.form_page(request, model_admin, None)

    async def edit_page(self, request: Request, model: str, pk: str) -> Response:
        admin = self.admin
        model_admin = admin.model_admin(model)
        await admin.require(request, current_user(request), model, "view")
        async with admin.db.scope() as session:
            obj = await admin.get_object(session, model_admin, request, pk)
            await admin.require_object(request, current_user(request), model, "view", obj)
            await self.load_relations(session, model_admin, obj)
        return await self.form_page(request, model_admin, obj)

    async def add(self, request: Request, model: str) -> Response:
        model_admin = self.admin.model_admin(model)
        await self.admin.require(request, current_user(request), model, "add")
        return await self.save(request, model_admin, None)

    async def edit(self, request: Request, model: str, pk: str) -> Response:
        model_admin = self.admin.model_admin(model)
        await self.admin.require(request, current_user(request), model, "change")
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
        admin, user = self.admin, current_user(request)
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
                    await admin.require_object(request, user, model_admin.name, "change", obj)
                    await self.load_relations(session, model_admin, obj)
                parsed, raw = await self.parse_fields(
                    session, request, model_admin, info, names, form, errors
                )
                inline_rows = await self.parse_inlines(
                    session, request, model_admin, form, errors, inline_raw
                )
                await self.check_unique(session, model_admin, obj, parsed, errors)
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

    async def check_unique(
        self,
        session: Any,
        model_admin: ModelAdmin,
        obj: Any,
        parsed: dict[str, Any],
        errors: dict[str, str],
    ) -> None:
        """Report a value another row already has in a unique column beside its field.

        The database's constraint still decides (a race answers with the form's message).
        """
        info = model_admin.info
        model = model_admin.model
        pk = getattr(model, info.pk.name)
        unique = {c.name for c in info.table.columns if c.unique}
        for constraint in info.table.constraints:
            if isinstance(constraint, sa.UniqueConstraint) and len(constraint.columns) == 1:
                unique |= {c.name for c in constraint.columns}
        for name, value in parsed.items():
            field = info.fields[name]
            if value is None or field.column is None or field.column.name not in unique:
                continue
            statement = sa.select(pk).where(getattr(model, name) == value).limit(1)
            if obj is not None:
                statement = statement.where(pk != getattr(obj, info.pk.name))
            if (await session.execute(statement)).first() is not None:
                errors[name] = (
                    f"Another {model_admin.verbose.lower()} has this {field.label.lower()}."
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
