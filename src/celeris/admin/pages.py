"""The admin's own pages: users and groups (celeris.auth), jobs, error tickets, bulk tasks.

Permissions: ``auth.view`` / ``auth.change`` for users and groups, ``jobs.view`` /
``jobs.change`` for jobs, ``tickets.view`` / ``tickets.change`` / ``tickets.delete`` for tickets.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from celeris.admin.listing import keyset_page, page_cursors
from celeris.admin.log import snapshot, task_table, write_log
from celeris.auth import PasswordInvalid, PasswordTooLong, SignupError
from celeris.auth.models import Group, TOTPDevice, group_permission, user_group, user_permission
from celeris.core.errors import BadRequest, NotFound
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.core.routing import Router
from celeris.db.pagination import Ordering

if TYPE_CHECKING:
    from celeris.admin.site import Admin

__all__ = ["add_routes"]

USER_FLAGS = ("is_active", "is_staff", "is_superuser", "email_verified")
USERS_PER_PAGE = 50
#: A ticket group's changes: the ``Tickets`` method -> (permission, audit-log action, message).
TICKET_CHANGES = {
    "resolve": ("change", "action:resolve", "Marked as resolved."),
    "delete": ("delete", "delete", "Ticket deleted."),
}


def _perms(text: str) -> list[str]:
    out = []
    for line in text.replace(",", "\n").splitlines():
        value = line.strip()
        if not value:
            continue
        if "." not in value or len(value) > 150 or any(c.isspace() for c in value):
            raise ValueError(
                f"{value[:60]!r} is not a permission (write app.action, e.g. book.view)"
            )
        out.append(value)
    return sorted(set(out))


def _group_name(form: Any) -> tuple[str, str | None]:
    """Return a form's group name and what is wrong with it (None when it will do)."""
    value = form.get("name")
    name = value.strip() if isinstance(value, str) else ""
    if not name:
        return name, "Enter the group's name."
    if len(name) > 150:
        return name, "At most 150 characters."
    return name, None


def _text(form: Any, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


async def _chosen_groups(session: Any, form: Any) -> tuple[list[int], list[str]]:
    """Return the ids of the existing groups ticked on a form, and the values that are none."""
    values = [v for v in form.getlist("groups") if isinstance(v, str)]
    ids = {int(v) for v in values if v.isascii() and v.isdigit() and len(v) < 19}
    known = set((await session.scalars(sa.select(Group.id).where(Group.id.in_(ids)))).all())
    names = {str(k) for k in known}
    return sorted(known), [v[:20] for v in values if v not in names]


async def _join_groups(session: Any, user_id: int, group_ids: list[int]) -> None:
    """Add a user to those of ``group_ids`` that still exist (one INSERT ... SELECT)."""
    if group_ids:
        existing = sa.select(sa.literal(user_id, sa.Integer), Group.id).where(
            Group.id.in_(group_ids)
        )
        await session.execute(user_group.insert().from_select(["user_id", "group_id"], existing))


class _Refused(Exception):
    """A form's input refused: the message goes beside its field."""


def add_routes(router: Router, admin: Admin) -> None:
    """Add the users, groups, jobs, tickets and task pages to the admin's router."""
    pages = Pages(admin)
    router.get("/users/", name="admin.users")(pages.users)
    router.get("/users/add/", name="admin.user.add")(pages.add_user_page)
    router.post("/users/add/", name="admin.user.add.post")(pages.add_user)
    router.get("/users/{user_id:int}/", name="admin.user")(pages.user)
    router.post("/users/{user_id:int}/", name="admin.user.post")(pages.save_user)
    router.post("/users/{user_id:int}/reset/", name="admin.user.reset")(pages.reset_link)
    router.get("/groups/", name="admin.groups")(pages.groups)
    router.post("/groups/", name="admin.groups.post")(pages.add_group)
    router.get("/groups/{group_id:int}/", name="admin.group")(pages.group)
    router.post("/groups/{group_id:int}/", name="admin.group.post")(pages.save_group)
    router.post("/groups/{group_id:int}/rename/", name="admin.group.rename")(pages.rename_group)
    router.get("/groups/{group_id:int}/delete/", name="admin.group.delete")(pages.delete_group_page)
    router.post("/groups/{group_id:int}/delete/", name="admin.group.delete.post")(
        pages.delete_group
    )
    router.get("/jobs/", name="admin.jobs")(pages.jobs)
    router.post("/jobs/{job_id}/retry/", name="admin.jobs.retry")(pages.retry)
    router.get("/tickets/", name="admin.tickets")(pages.tickets_page)
    router.get("/tickets/{ticket_id}/", name="admin.ticket")(pages.ticket)
    router.post("/tickets/{ticket_id}/resolve/", name="admin.ticket.resolve")(pages.resolve)
    router.post("/tickets/{ticket_id}/delete/", name="admin.ticket.delete")(pages.delete_ticket)
    router.get("/tasks/{task_id:int}/", name="admin.task")(pages.task)


class Pages:
    """Handlers of the pages that are not a registered model's."""

    def __init__(self, admin: Admin) -> None:
        self.admin = admin

    # --- users and groups ---------------------------------------------------------------------

    async def users(self, request: Request, q: str = "") -> Response:
        admin, user = self.admin, request.state.user
        await admin.require(request, user, "auth", "view")
        model = admin.auth.user_model
        after, before = page_cursors(request.query_params)
        statement = sa.select(model)
        if q.strip():
            escaped = q.strip()[:100].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            statement = statement.where(model.email.ilike(f"%{escaped}%", escape="\\"))
        async with admin.db.scope() as session:
            # the list pages' keyset paging, by id: Next then Previous shows the same users
            page = await keyset_page(
                session, statement, [Ordering(model.id)], USERS_PER_PAGE, after=after, before=before
            )
            found = page.rows
            ids = [u.id for u in found]
            totp = (
                set(
                    (
                        await session.scalars(
                            sa.select(TOTPDevice.user_id).where(
                                TOTPDevice.user_id.in_(ids), TOTPDevice.confirmed.is_(True)
                            )
                        )
                    ).all()
                )
                if ids
                else set()
            )
        return await admin.render(
            request,
            user,
            "users",
            title="Users",
            users=found,
            totp=totp,
            q=q,
            next_cursor=page.next_cursor,
            previous_cursor=page.previous_cursor,
            first_page=page.first,
            can_change=await admin.can(request, user, "auth", "change"),
        )

    async def _user_context(self, session: Any, target: Any) -> dict[str, Any]:
        groups = list((await session.scalars(sa.select(Group).order_by(Group.name))).all())
        member = set(
            (
                await session.scalars(
                    sa.select(user_group.c.group_id).where(user_group.c.user_id == target.id)
                )
            ).all()
        )
        direct = sorted(
            (
                await session.scalars(
                    sa.select(user_permission.c.permission).where(
                        user_permission.c.user_id == target.id
                    )
                )
            ).all()
        )
        totp = (
            await session.scalars(
                sa.select(TOTPDevice.confirmed).where(TOTPDevice.user_id == target.id)
            )
        ).first()
        return {"groups": groups, "member": member, "direct": "\n".join(direct), "totp": bool(totp)}

    async def _target(self, session: Any, user_id: int) -> Any:
        target = await session.get(self.admin.auth.user_model, user_id)
        if target is None:
            raise NotFound("No such user.")
        return target

    async def user(self, request: Request, user_id: int) -> Response:
        admin, user = self.admin, request.state.user
        await admin.require(request, user, "auth", "view")
        async with admin.db.scope() as session:
            target = await self._target(session, user_id)
            context = await self._user_context(session, target)
        return await admin.render(
            request,
            user,
            "user",
            title=target.email,
            target=target,
            flags=USER_FLAGS,
            can_change=await admin.can(request, user, "auth", "change"),
            error=None,
            **context,
        )

    async def save_user(self, request: Request, user_id: int) -> Response:
        admin, user = self.admin, request.state.user
        await admin.require(request, user, "auth", "change")
        form = await admin.read_form(request)
        async with admin.db.scope() as session:
            target = await self._target(session, user_id)
            columns = ["email", *USER_FLAGS]
            before = snapshot(target, columns)
            try:
                permissions = _perms(str(form.get("permissions") or ""))
            except ValueError as error:
                context = await self._user_context(session, target)
                return await admin.render(
                    request,
                    user,
                    "user",
                    422,
                    title=target.email,
                    target=target,
                    flags=USER_FLAGS,
                    can_change=True,
                    error=str(error),
                    **context,
                )
            for flag in USER_FLAGS:
                if flag == "is_superuser" and not getattr(user, "is_superuser", False):
                    continue  # SECURITY: only a superuser makes (or unmakes) a superuser
                setattr(target, flag, form.get(flag) is not None)
            known, _unknown = await _chosen_groups(session, form)
            await session.execute(user_group.delete().where(user_group.c.user_id == target.id))
            await _join_groups(session, target.id, known)
            await session.execute(
                user_permission.delete().where(user_permission.c.user_id == target.id)
            )
            for permission in permissions:
                await session.execute(
                    user_permission.insert().values(user_id=target.id, permission=permission)
                )
            after = {
                **snapshot(target, columns),
                "groups": known,
                "permissions": permissions,
            }
            await write_log(
                session,
                user=user,
                action="change",
                model="auth.user",
                object_id=target.id,
                object_repr=target.email,
                before=before,
                after=after,
            )
        return admin.redirect(request, admin.url("users", user_id), f"Saved user {target.email}.")

    async def add_user_page(self, request: Request) -> Response:
        await self.admin.require(request, request.state.user, "auth", "change")
        return await self._add_user_form(request, {"is_staff": False, "groups": []}, {})

    async def _add_user_form(
        self, request: Request, values: dict[str, Any], errors: dict[str, str], status: int = 200
    ) -> Response:
        admin, user = self.admin, request.state.user
        async with admin.db.scope() as session:
            groups = list((await session.scalars(sa.select(Group).order_by(Group.name))).all())
        return await admin.render(
            request,
            user,
            "user_add",
            status,
            title="Add user",
            values=values,
            errors=errors,
            groups=groups,
        )

    async def add_user(self, request: Request) -> Response:
        """Create a user through ``Auth.create_user`` (its email rules, policy and hasher)."""
        admin, user = self.admin, request.state.user
        await admin.require(request, user, "auth", "change")
        form = await admin.read_form(request)
        email, password, again = (_text(form, k) for k in ("email", "password", "password2"))
        flags = {"is_staff": form.get("is_staff") is not None}
        if getattr(user, "is_superuser", False):  # SECURITY: only a superuser makes one
            flags["is_superuser"] = form.get("is_superuser") is not None
        errors: dict[str, str] = {}
        async with admin.db.scope() as session:
            groups, unknown = await _chosen_groups(session, form)
        if unknown:
            listed = ", ".join(repr(v) for v in unknown[:3])
            errors["groups"] = f"Select groups from the list (no group has the id {listed})."
        if not email.strip():
            errors["email"] = "Enter the user's email address."
        if not password:
            errors["password"] = "Choose a password."
        elif again != password:
            errors["password2"] = "The two passwords differ: type the same one twice."
        created = None
        if not errors:
            try:
                created = await admin.auth.create_user(email, password, **flags)
            except SignupError as exc:
                errors[exc.field if exc.field == "email" else "password"] = " ".join(exc.messages)
            except PasswordInvalid as exc:
                errors["password"] = " ".join(exc.messages)
            except PasswordTooLong as exc:
                errors["password"] = str(exc)
        if created is None:
            values = {"email": email, **flags, "groups": groups}
            return await self._add_user_form(request, values, errors, 422)
        # NOTE: create_user commits the account in its own transaction; the groups and the
        # log entry follow in a second one.
        async with admin.db.scope() as session:
            await _join_groups(session, created.id, groups)
            await write_log(
                session,
                user=user,
                action="add",
                model="auth.user",
                object_id=created.id,
                object_repr=created.email,
                after={**snapshot(created, ["email", *USER_FLAGS]), "groups": groups},
            )
        return admin.redirect(
            request, admin.url("users", created.id), f"Added user {created.email}."
        )

    async def reset_link(self, request: Request, user_id: int) -> Response:
        admin, user = self.admin, request.state.user
        await admin.require(request, user, "auth", "change")
        await admin.read_form(request)
        auth = admin.auth
        async with admin.db.scope() as session:
            target = await self._target(session, user_id)
            token = auth.signer.make(target, "reset")
            await write_log(
                session,
                user=user,
                action="action:password_reset_link",
                model="auth.user",
                object_id=target.id,
                object_repr=target.email,
            )
            context = await self._user_context(session, target)
        link = (
            f"{str(request.base_url).rstrip('/')}{auth.prefix}/password/reset/confirm?token={token}"
        )
        return await admin.render(
            request,
            user,
            "user",
            title=target.email,
            target=target,
            flags=USER_FLAGS,
            can_change=True,
            error=None,
            reset_link=link,
            **context,
        )

    async def groups(self, request: Request) -> Response:
        return await self._groups_page(request)

    async def _groups_page(
        self, request: Request, *, status: int = 200, new_name: str = "", error: str | None = None
    ) -> Response:
        admin, user = self.admin, request.state.user
        await admin.require(request, user, "auth", "view")
        async with admin.db.scope() as session:
            rows = (
                await session.execute(
                    sa.select(Group.id, Group.name, sa.func.count(user_group.c.user_id))
                    .outerjoin(user_group, user_group.c.group_id == Group.id)
                    .group_by(Group.id, Group.name)
                    .order_by(Group.name)
                )
            ).all()
        return await admin.render(
            request,
            user,
            "groups",
            status,
            title="Groups",
            groups=rows,
            new_name=new_name,
            error=error,
            can_change=await admin.can(request, user, "auth", "change"),
        )

    async def add_group(self, request: Request) -> Response:
        admin, user = self.admin, request.state.user
        await admin.require(request, user, "auth", "change")
        form = await admin.read_form(request)
        name, error = _group_name(form)
        if error is not None:
            return await self._groups_page(request, status=422, new_name=name, error=error)
        async with admin.db.scope() as session:
            exists = (await session.scalars(sa.select(Group.id).where(Group.name == name))).first()
            if exists is None:
                group = Group(name=name)
                session.add(group)
                await session.flush()
                exists = group.id
                await write_log(
                    session,
                    user=user,
                    action="add",
                    model="auth.group",
                    object_id=group.id,
                    object_repr=name,
                    after={"name": name},
                )
        return admin.redirect(request, admin.url("groups", exists), f"Group {name} is ready.")

    def model_permissions(self) -> list[str]:
        names = [m.name for m in self.admin.registry.values()]
        return [f"{n}.{a}" for n in names for a in ("view", "add", "change", "delete")] + [
            "auth.view",
            "auth.change",
            "jobs.view",
            "jobs.change",
            "tickets.view",
            "tickets.change",
            "tickets.delete",
        ]

    async def _group(self, session: Any, group_id: int) -> Group:
        group: Group | None = await session.get(Group, group_id)
        if group is None:
            raise NotFound("No such group.")
        return group

    async def _group_permissions(self, session: Any, group_id: int) -> list[str]:
        found = await session.scalars(
            sa.select(group_permission.c.permission).where(group_permission.c.group_id == group_id)
        )
        return sorted(found.all())

    async def _members(self, session: Any, group_id: int) -> int:
        counted = sa.select(sa.func.count()).where(user_group.c.group_id == group_id)
        return int(await session.scalar(counted) or 0)

    async def group(self, request: Request, group_id: int) -> Response:
        return await self._group_page(request, group_id)

    async def _group_page(
        self,
        request: Request,
        group_id: int,
        *,
        status: int = 200,
        new_name: str | None = None,
        name_error: str | None = None,
    ) -> Response:
        admin, user = self.admin, request.state.user
        await admin.require(request, user, "auth", "view")
        async with admin.db.scope() as session:
            group = await self._group(session, group_id)
            held = set(await self._group_permissions(session, group_id))
        known = self.model_permissions()
        return await admin.render(
            request,
            user,
            "group",
            status,
            title=f"Group {group.name}",
            group=group,
            new_name=group.name if new_name is None else new_name,
            name_error=name_error,
            held=held,
            known=known,
            other="\n".join(sorted(held - set(known))),
            can_change=await admin.can(request, user, "auth", "change"),
        )

    async def save_group(self, request: Request, group_id: int) -> Response:
        admin, user = self.admin, request.state.user
        await admin.require(request, user, "auth", "change")
        form = await admin.read_form(request)
        try:
            other = _perms(str(form.get("other") or ""))
        except ValueError as error:
            raise BadRequest(str(error)) from None
        known = set(self.model_permissions())
        chosen = {v for v in form.getlist("permissions") if isinstance(v, str) and v in known}
        wanted = sorted(chosen | set(other))
        async with admin.db.scope() as session:
            group = await self._group(session, group_id)
            before = await self._group_permissions(session, group_id)
            await session.execute(
                group_permission.delete().where(group_permission.c.group_id == group_id)
            )
            for permission in wanted:
                await session.execute(
                    group_permission.insert().values(group_id=group_id, permission=permission)
                )
            await write_log(
                session,
                user=user,
                action="change",
                model="auth.group",
                object_id=group_id,
                object_repr=group.name,
                before={"permissions": before},
                after={"permissions": wanted},
            )
        return admin.redirect(request, admin.url("groups", group_id), f"Saved group {group.name}.")

    async def rename_group(self, request: Request, group_id: int) -> Response:
        admin, user = self.admin, request.state.user
        await admin.require(request, user, "auth", "change")
        form = await admin.read_form(request)
        name, error = _group_name(form)
        try:
            async with admin.db.scope() as session:
                group = await self._group(session, group_id)
                old = group.name
                if error is None and name != old:
                    taken = await session.scalars(
                        sa.select(Group.id).where(Group.name == name, Group.id != group_id)
                    )
                    if taken.first() is not None:
                        error = "Another group has this name."
                if error is not None:
                    raise _Refused(error)
                if name == old:
                    return admin.redirect(request, admin.url("groups", group_id))
                group.name = name
                await session.flush()
                await write_log(
                    session,
                    user=user,
                    action="change",
                    model="auth.group",
                    object_id=group_id,
                    object_repr=name,
                    before={"name": old},
                    after={"name": name},
                )
        except (_Refused, sa_exc.IntegrityError) as refused:
            # NOTE: an IntegrityError is a rename racing another one to the same name.
            message = (
                str(refused) if isinstance(refused, _Refused) else "Another group has this name."
            )
            return await self._group_page(
                request, group_id, status=422, new_name=name, name_error=message
            )
        return admin.redirect(
            request, admin.url("groups", group_id), f"Renamed group {old} to {name}."
        )

    async def delete_group_page(self, request: Request, group_id: int) -> Response:
        admin, user = self.admin, request.state.user
        await admin.require(request, user, "auth", "change")
        async with admin.db.scope() as session:
            group = await self._group(session, group_id)
            members = await self._members(session, group_id)
            permissions = await self._group_permissions(session, group_id)
        return await admin.render(
            request,
            user,
            "group_delete",
            title=f"Delete group {group.name}?",
            group=group,
            members=members,
            permissions=permissions,
        )

    async def delete_group(self, request: Request, group_id: int) -> Response:
        admin, user = self.admin, request.state.user
        await admin.require(request, user, "auth", "change")
        await admin.read_form(request)
        async with admin.db.scope() as session:
            group = await self._group(session, group_id)
            name = group.name
            before = {
                "name": name,
                "permissions": await self._group_permissions(session, group_id),
                "members": await self._members(session, group_id),
            }
            # NOTE: explicit, as SQLite enforces ON DELETE CASCADE only with its pragma on.
            await session.execute(user_group.delete().where(user_group.c.group_id == group_id))
            await session.execute(
                group_permission.delete().where(group_permission.c.group_id == group_id)
            )
            await session.delete(group)
            await write_log(
                session,
                user=user,
                action="delete",
                model="auth.group",
                object_id=group_id,
                object_repr=name,
                before=before,
            )
        return admin.redirect(request, admin.url("groups"), f"Deleted group {name}.")

    # --- jobs -------------------------------------------------------------------------------------

    async def jobs(self, request: Request, state: str = "", offset: int = 0) -> Response:
        admin, user = self.admin, request.state.user
        if admin.jobs is None:
            raise NotFound("This admin has no jobs (Admin(..., jobs=jobs)).")
        await admin.require(request, user, "jobs", "view")
        states = ("queued", "running", "done", "failed", "cancelled")
        if state and state not in states:
            raise BadRequest(f"state is one of {', '.join(states)}.")
        offset = max(0, min(offset, 100_000))
        counts = await admin.jobs.counts()
        records = await admin.jobs.list(state=state or None, limit=51, offset=offset)
        return await admin.render(
            request,
            user,
            "jobs",
            title="Jobs",
            counts=counts,
            states=states,
            state=state,
            records=records[:50],
            more=len(records) > 50,
            offset=offset,
            when=lambda t: (
                dt.datetime.fromtimestamp(t, dt.UTC).isoformat(sep=" ", timespec="seconds")
                if t
                else ""
            ),
            can_change=await admin.can(request, user, "jobs", "change"),
        )

    async def retry(self, request: Request, job_id: str) -> Response:
        admin, user = self.admin, request.state.user
        if admin.jobs is None:
            raise NotFound("This admin has no jobs.")
        await admin.require(request, user, "jobs", "change")
        await admin.read_form(request)
        if not await admin.jobs.retry(job_id[:64]):
            return admin.redirect(
                request, admin.url("jobs"), "Only a failed or cancelled job can be retried."
            )
        async with admin.db.scope() as session:
            await write_log(
                session,
                user=user,
                action="action:retry",
                model="jobs",
                object_id=job_id[:64],
                object_repr=job_id[:64],
            )
        return admin.redirect(request, admin.url("jobs"), f"Job {job_id[:64]} is queued again.")

    async def task(self, request: Request, task_id: int) -> Response:
        admin, user = self.admin, request.state.user
        async with admin.db.scope() as session:
            task = (
                (await session.execute(sa.select(task_table).where(task_table.c.id == task_id)))
                .mappings()
                .first()
            )
        if task is None:
            raise NotFound("No such task.")
        await admin.require(request, user, task["model"], "view")
        return await admin.render(request, user, "task", title=f"Bulk task {task_id}", task=task)

    # --- tickets ------------------------------------------------------------------------------

    def _tickets(self) -> Any:
        if self.admin.tickets is None:
            raise NotFound("This admin has no error tickets (Admin(..., tickets=tickets)).")
        return self.admin.tickets

    async def tickets_page(
        self, request: Request, q: str = "", before: str | None = None
    ) -> Response:
        admin, user = self.admin, request.state.user
        tickets = self._tickets()
        await admin.require(request, user, "tickets", "view")
        search = q.strip()[:200] or None
        try:
            groups = await tickets.list(search=search, limit=50, before=before or None)
        except ValueError:
            raise BadRequest("That page cursor is not valid; start from the first page.") from None
        total = await tickets.count(search)
        last = groups[-1] if len(groups) == 50 else None
        older = getattr(last, "cursor", getattr(last, "id", None)) if last is not None else None
        return await admin.render(
            request,
            user,
            "tickets",
            title="Error tickets",
            groups=groups,
            total=total,
            q=q,
            older=older,
        )

    async def ticket(self, request: Request, ticket_id: str) -> Response:
        admin, user = self.admin, request.state.user
        tickets = self._tickets()
        await admin.require(request, user, "tickets", "view")
        group = await tickets.get(ticket_id[:100])
        if group is None:
            raise NotFound("No such ticket.")
        return await admin.render(
            request,
            user,
            "ticket",
            title=f"{group.exc_type}: {group.message}"[:200],
            group=group,
            can_change=await admin.can(request, user, "tickets", "change"),
            can_delete=await admin.can(request, user, "tickets", "delete"),
        )

    async def resolve(self, request: Request, ticket_id: str) -> Response:
        return await self._ticket_change(request, ticket_id, "resolve")

    async def delete_ticket(self, request: Request, ticket_id: str) -> Response:
        return await self._ticket_change(request, ticket_id, "delete")

    async def _ticket_change(self, request: Request, ticket_id: str, change: str) -> Response:
        """Resolve or delete a ticket group: its permission, the form, the change, the log.

        An unknown group answers 404 and writes nothing to the audit log.
        """
        admin, user = self.admin, request.state.user
        tickets = self._tickets()
        permission, action, message = TICKET_CHANGES[change]
        await admin.require(request, user, "tickets", permission)
        await admin.read_form(request)
        group_id = ticket_id[:100]
        if not await getattr(tickets, change)(group_id):
            raise NotFound("No such ticket.")
        async with admin.db.scope() as session:
            await write_log(
                session,
                user=user,
                action=action,
                model="tickets",
                object_id=group_id,
                object_repr=group_id,
            )
        back = admin.url("tickets") if change == "delete" else admin.url("tickets", group_id)
        return admin.redirect(request, back, message)
