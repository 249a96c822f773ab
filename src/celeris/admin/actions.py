"""Bulk actions on selected rows (``delete`` built in), CSV export and bulk runs as jobs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import sqlalchemy as sa

from celeris.admin.forms import FormError, parse_value
from celeris.admin.listing import filtered, parse_query
from celeris.admin.log import snapshot, task_table, write_log
from celeris.admin.options import ModelAdmin
from celeris.core.datastructures import QueryParams
from celeris.core.errors import BadRequest, Forbidden
from celeris.core.requests import Request
from celeris.core.responses import Response, StreamingResponse

if TYPE_CHECKING:
    from celeris.admin.site import Admin
    from celeris.admin.views import Views

__all__ = [
    "apply",
    "available",
    "delete_one",
    "export",
    "handle",
    "neutralise",
    "register_bulk_job",
    "selection",
]

BATCH = 200
#: SECURITY: spreadsheet apps run a cell that starts with these as a formula (CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """Return a CSV cell that a spreadsheet shows as text, never runs as a formula."""
    return "'" + text if text.startswith(FORMULA_START) else text


async def available(
    admin: Admin, request: Request, user: Any, model_admin: ModelAdmin
) -> list[tuple[str, str]]:
    """Return the (name, label) of the bulk actions this user may run on the model."""
    out = []
    if await admin.can(request, user, model_admin.name, "delete"):
        out.append(("delete", f"Delete selected {model_admin.verbose_plural.lower()}"))
    for name in model_admin.actions:
        if name == "delete":
            continue
        method = getattr(model_admin, name)
        permission = getattr(method, "admin_permission", "change")
        if await admin.can(request, user, model_admin.name, permission):
            out.append((name, getattr(method, "admin_label", name.replace("_", " ").capitalize())))
    return out


def _pk(model_admin: ModelAdmin, text: str) -> Any:
    info = model_admin.info.pk
    try:
        return parse_value(info if info.kind != "fk" else _int_like(info), text)
    except FormError:
        raise BadRequest(f"{text[:40]!r} is not an id of {model_admin.verbose}.") from None


def _int_like(info: Any) -> Any:
    return replace(info, kind="int")


def selection(model_admin: ModelAdmin, request: Request | None, choice: dict[str, Any]) -> Any:
    """Return the statement of the chosen rows: ``{"ids": [...]}`` or ``{"query": "q=..."}``."""
    if "ids" in choice:
        keys = [_pk(model_admin, str(i)) for i in choice["ids"]]
        column = getattr(model_admin.model, model_admin.info.pk.name)
        return model_admin.get_query(request, sa.select(model_admin.model)).where(column.in_(keys))
    params = QueryParams(parse_qsl(str(choice.get("query", "")), keep_blank_values=True))
    query = parse_query(model_admin, params, model_admin.columns())
    return filtered(model_admin, request, query)


async def delete_one(
    admin: Admin, session: Any, user: Any, model_admin: ModelAdmin, obj: Any
) -> None:
    """Delete one row (the ORM cascades run) and log its last values."""
    await write_log(
        session,
        user=user,
        action="delete",
        model=model_admin.name,
        object_id=getattr(obj, model_admin.info.pk.name),
        object_repr=model_admin.str_of(obj),
        before=snapshot(obj, model_admin.info.column_names),
    )
    await session.delete(obj)


async def apply(
    admin: Admin,
    user: Any,
    model_admin: ModelAdmin,
    name: str,
    statement: Any,
    progress: Callable[[int], Awaitable[None]] | None = None,
) -> tuple[int, int]:
    """Run action ``name`` over the rows of ``statement`` in batches; return (done, skipped).

    A row the auth battery's object-level check refuses (``Auth(object_permission=...)``, for
    the action's permission) is skipped, not acted on, and counted as skipped.
    """
    if name == "delete":
        permission = f"{model_admin.name}.delete"
    else:
        action_of = getattr(model_admin, name)
        permission = f"{model_admin.name}.{getattr(action_of, 'admin_permission', 'change')}"
    pk_name = model_admin.info.pk.name
    column = getattr(model_admin.model, pk_name)
    done, skipped, last = 0, 0, None
    columns = model_admin.info.column_names
    while True:
        batch = statement if last is None else statement.where(column > last)
        async with admin.db.scope() as session:
            fetched = list((await session.scalars(batch.order_by(column).limit(BATCH))).all())
            if not fetched:
                break
            rows = [r for r in fetched if await admin.may_object(user, permission, r)]
            skipped += len(fetched) - len(rows)
            if name == "delete":
                for row in rows:
                    await delete_one(admin, session, user, model_admin, row)
            elif rows:
                before = {getattr(r, pk_name): snapshot(r, columns) for r in rows}
                await getattr(model_admin, name)(session, rows)
                await session.flush()
                for row in rows:
                    await write_log(
                        session,
                        user=user,
                        action=f"action:{name}",
                        model=model_admin.name,
                        object_id=getattr(row, pk_name),
                        object_repr=model_admin.str_of(row),
                        before=before[getattr(row, pk_name)],
                        after=snapshot(row, columns),
                    )
            last = getattr(fetched[-1], pk_name)
        done += len(rows)
        if progress is not None:
            await progress(done)
        if len(fetched) < BATCH:
            break
    return done, skipped


async def handle(views: Views, request: Request, model_admin: ModelAdmin) -> Response:
    """Run a bulk action posted from the list page (asking first before a delete)."""
    admin, user = views.admin, request.state.user
    await admin.require(request, user, model_admin.name, "view")
    form = await admin.read_form(request)
    name = str(form.get("action") or "")
    back_query = str(form.get("back") or "")[:2000]
    back = admin.url(model_admin.name) + (f"?{back_query}" if back_query else "")
    allowed = dict(await available(admin, request, user, model_admin))
    if name not in allowed:
        if name == "delete" or name in model_admin.actions:
            raise Forbidden("You may not run this action.")
        return admin.redirect(request, back, "Choose an action.")
    ids = [str(v) for v in form.getlist("ids") if isinstance(v, str)]
    choice: dict[str, Any] = {"query": back_query} if form.get("all") == "1" else {"ids": ids}
    if not ids and "query" not in choice:
        return admin.redirect(request, back, "Select rows first.")
    statement = selection(model_admin, request, choice)
    async with admin.db.scope() as session:
        total = int(
            await session.scalar(sa.select(sa.func.count()).select_from(statement.subquery())) or 0
        )
        preview = (
            list((await session.scalars(statement.limit(50))).all()) if name == "delete" else []
        )
    if name == "delete" and form.get("confirm") != "1":
        return await admin.render(
            request,
            user,
            "confirm",
            model_admin=model_admin,
            action=name,
            label=allowed[name],
            total=total,
            preview=[model_admin.str_of(p) for p in preview],
            ids=ids,
            all=form.get("all") == "1",
            back=back_query,
            title=f"{allowed[name]}?",
        )
    if admin.bulk_job is not None and total > admin.bulk_job_threshold:
        async with admin.db.scope() as session:
            task_id = (
                await session.execute(
                    task_table.insert()
                    .values(
                        model=model_admin.name,
                        action=name,
                        user_id=getattr(user, "id", None),
                        total=total,
                        done=0,
                        state="queued",
                        query=json.dumps(choice),
                        created=dt.datetime.now(dt.UTC),
                    )
                    .returning(task_table.c.id)
                )
            ).scalar_one()
        handle_ = await admin.bulk_job.enqueue(task_id=task_id)
        async with admin.db.scope() as session:
            await session.execute(
                task_table.update().where(task_table.c.id == task_id).values(job_id=handle_.id)
            )
        return admin.redirect(
            request,
            admin.url("tasks", task_id),
            f"{allowed[name]}: {total} rows, running as a job.",
        )
    done, skipped = await apply(admin, user, model_admin, name, statement)
    note = f" {skipped} skipped: you may not do this to them." if skipped else ""
    return admin.redirect(request, back, f"{allowed[name]}: done on {done} rows.{note}")


def register_bulk_job(admin: Admin, jobs: Any) -> Any:
    """Register the job that runs large bulk actions, with progress in ``celeris_admin_task``."""

    async def run(task_id: int) -> int:
        async with admin.db.scope() as session:
            task = (
                (await session.execute(sa.select(task_table).where(task_table.c.id == task_id)))
                .mappings()
                .first()
            )
            if task is None:
                return 0
            await session.execute(
                task_table.update().where(task_table.c.id == task_id).values(state="running")
            )
        model_admin = admin.model_admin(task["model"])
        user = await admin.auth.get_user(task["user_id"]) if task["user_id"] is not None else None
        statement = selection(model_admin, None, json.loads(task["query"]))

        async def progress(done: int) -> None:
            async with admin.db.scope() as session:
                await session.execute(
                    task_table.update().where(task_table.c.id == task_id).values(done=done)
                )

        try:
            done, _skipped = await apply(
                admin, user, model_admin, task["action"], statement, progress
            )
        except Exception as error:
            async with admin.db.scope() as session:
                await session.execute(
                    task_table.update()
                    .where(task_table.c.id == task_id)
                    .values(
                        state="failed",
                        error=f"{type(error).__name__}: {error}"[:2000],
                        finished=dt.datetime.now(dt.UTC),
                    )
                )
            raise
        async with admin.db.scope() as session:
            await session.execute(
                task_table.update()
                .where(task_table.c.id == task_id)
                .values(state="done", done=done, finished=dt.datetime.now(dt.UTC))
            )
        return done

    return jobs.job(name="celeris.admin.bulk", retries=0)(run)


async def export(views: Views, request: Request, model_admin: ModelAdmin) -> Response:
    """Stream the list (its search, filters and columns) as CSV, formula-safe."""
    admin, user = views.admin, request.state.user
    await admin.require(request, user, model_admin.name, "view")
    columns = model_admin.columns()
    query = parse_query(model_admin, request.query_params, columns)
    statement = filtered(model_admin, request, query)
    pk_name = model_admin.info.pk.name
    column = getattr(model_admin.model, pk_name)
    names = query.columns

    async def rows() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([neutralise(views.column_label(model_admin, n)) for n in names])
        last = None
        while True:
            batch = statement if last is None else statement.where(column > last)
            async with admin.db.scope() as session:
                found = list((await session.scalars(batch.order_by(column).limit(1000))).all())
                labels = await views.relation_labels(session, model_admin, found, names)
            for row in found:
                writer.writerow(
                    [neutralise(views.cell(model_admin, row, n, labels)) for n in names]
                )
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(found) < 1000:
                return
            last = getattr(found[-1], pk_name)

    filename = f"{model_admin.name}.csv"
    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={
            "content-disposition": f'attachment; filename="{filename}"',
            "cache-control": "no-store",
        },
    )
