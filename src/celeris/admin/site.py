"""``Admin``: the site object — registry of models, permissions, rendering and wiring."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import sqlalchemy as sa

from celeris.admin.actions import register_bulk_job
from celeris.admin.checks import AdminConfigError, check_model_admin
from celeris.admin.editing import parse_pk
from celeris.admin.listing import ListQuery, count_rows
from celeris.admin.log import METADATA
from celeris.admin.options import ModelAdmin
from celeris.admin.views import build_router
from celeris.core.errors import Forbidden, HTTPError, NotFound, PayloadTooLarge
from celeris.core.requests import Request
from celeris.core.responses import RedirectResponse, Response
from celeris.core.routing import Router
from celeris.db import create_tables
from celeris.sessions.flash import flash, get_flashed_messages
from celeris.templating import Templates

__all__ = ["Admin", "diff", "when"]

HERE = Path(__file__).parent
T = TypeVar("T", bound=type[ModelAdmin])

#: The four permissions of each model: ``<slug>.view``, ``.add``, ``.change``, ``.delete``.
ACTIONS = ("view", "add", "change", "delete")


def diff(before: str | None, after: str | None) -> list[tuple[str, str, str]]:
    """Return (field, before, after) for each value an audit-log entry changed."""
    old = json.loads(before) if before else {}
    new = json.loads(after) if after else {}
    return [
        (key, _short(old.get(key)), _short(new.get(key)))
        for key in dict.fromkeys([*old, *new])
        if old.get(key) != new.get(key)
    ]


def when(value: Any) -> str:
    """Format a moment as the admin shows it (UTC, to the second)."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return "" if value is None else str(value)


def _short(value: Any) -> str:
    text = "" if value is None else value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 120 else text[:119] + "…"


class Admin:
    """The admin site: ``admin = Admin(app=app, db=db, auth=auth)``; ``@admin.register(Model)``."""

    def __init__(
        self,
        app: Any = None,
        *,
        db: Any,
        auth: Any,
        prefix: str = "/admin",
        jobs: Any = None,
        tickets: Any = None,
        title: str = "Administration",
        templates: Any = None,
        bulk_job_threshold: int = 1000,
        max_body_size: int = 2 * 1024 * 1024,
        create_tables: bool = True,
    ) -> None:
        self.db = db
        self.auth = auth
        self.prefix = "/" + prefix.strip("/")
        self.jobs = jobs
        self.tickets = tickets
        self.title = title
        self.bulk_job_threshold = bulk_job_threshold
        self.max_body_size = max_body_size
        self.create_tables = create_tables
        self.registry: dict[str, ModelAdmin] = {}
        self.by_model: dict[type[Any], ModelAdmin] = {}
        folders: list[Any] = [HERE / "templates"]
        if templates is not None:
            folders = [*(getattr(templates, "directories", None) or [templates]), *folders]
        self.templates = Templates(folders)
        self.templates.env.globals["admin"] = self
        self.templates.env.globals["admin_diff"] = diff
        self.templates.env.filters["when"] = when
        self.templates.env.filters["qs"] = lambda params: urlencode(params, doseq=True)
        self.app: Any = None
        self.bulk_job: Any = None
        self.router: Router = build_router(self)
        if jobs is not None:
            self.bulk_job = register_bulk_job(self, jobs)
        if app is not None:
            self.install(app)

    # --- registry ----------------------------------------------------------------------------

    def register(
        self, model: type[Any], admin_class: type[ModelAdmin] | None = None
    ) -> Callable[[T], T]:
        """Show ``model`` in the admin: ``@admin.register(Note)`` above a ``ModelAdmin``, or plainly."""

        def add(cls: T) -> T:
            model_admin = cls(model)
            previous = self.by_model.pop(model, None)
            if previous is not None:
                self.registry.pop(previous.name, None)  # NOTE: registering again replaces
            problems = check_model_admin(model_admin, set(self.registry))
            if problems:
                if previous is not None:
                    self.registry[previous.name] = previous
                    self.by_model[model] = previous
                raise AdminConfigError("\n".join(problems))
            self.registry[model_admin.name] = model_admin
            self.by_model[model] = model_admin
            return cls

        if admin_class is not None:
            add(admin_class)
            return lambda cls: cls
        add(ModelAdmin)  # NOTE: a plain registration, replaced by a decorated class
        return add

    def model_admin(self, slug: str) -> ModelAdmin:
        """Return the ``ModelAdmin`` of a URL's model, or raise 404."""
        found = self.registry.get(slug)
        if found is None:
            raise NotFound("No such model in the admin.")
        return found

    # --- wiring ------------------------------------------------------------------------------

    def install(self, app: Any) -> None:
        """Attach to ``app``: the routes under the prefix, the tables and checks at start-up."""
        state = app.state
        if state.get("csrf") is None:
            raise AdminConfigError(
                "admin.E401: the admin's forms need CSRF protection; add CSRF(app=app) "
                "(from celeris.security) before Admin(app=app, ...)"
            )
        if state.get("sessions") is None:
            raise AdminConfigError(
                "admin.E402: the admin signs staff in through the session; add "
                "Sessions(app=app) before Auth(app=app, ...) and Admin(app=app, ...)"
            )
        state.csrf.register_template_helpers(self.templates)
        self.app = app
        state.admin = self
        app.include_router(self.router)
        app.on_startup(self.start)

    async def start(self) -> None:
        """Create the admin's tables when missing."""
        if self.create_tables:
            # NOTE: create_tables queues workers starting together on PostgreSQL's lock.
            async with self.db.engine.begin() as connection:
                await create_tables(connection, METADATA)

    # --- who may do what ---------------------------------------------------------------------

    async def guard(self, request: Request) -> Any:
        """Return the staff user of ``request``; else a login redirect (anonymous) or 403."""
        state = request.state
        if "user" not in state:
            await self.auth.authenticate(request)
        user = state.user
        if user is None:
            raise self.auth.current_user.denied(request)
        if not (getattr(user, "is_staff", False) and getattr(user, "is_active", False)):
            raise Forbidden("The admin is for staff users.")
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_size:
            raise PayloadTooLarge(f"The admin accepts bodies up to {self.max_body_size} bytes.")
        return user

    async def permissions(self, request: Request, user: Any) -> set[str]:
        """Return the user's permissions (cached on the request)."""
        held = request.state.get("admin_permissions")
        if held is None:
            held = (
                {"*"}
                if getattr(user, "is_superuser", False)
                else await self.auth.permissions_of(user)
            )
            request.state.admin_permissions = held
        return set(held)

    async def can(self, request: Request, user: Any, slug: str, action: str) -> bool:
        """Tell whether ``user`` holds ``<slug>.<action>`` (change implies view)."""
        held = await self.permissions(request, user)
        if "*" in held or f"{slug}.{action}" in held:
            return True
        return action == "view" and f"{slug}.change" in held

    async def require(self, request: Request, user: Any, slug: str, action: str) -> None:
        """Raise 403 unless ``user`` holds ``<slug>.<action>``."""
        if not await self.can(request, user, slug, action):
            raise Forbidden(f"You need the permission {slug}.{action}.")

    async def may_object(self, user: Any, permission: str, obj: Any) -> bool:
        """Tell whether the auth battery's object-level check lets ``user`` use ``permission``
        on ``obj`` (true when no ``Auth(object_permission=...)`` is set)."""
        if self.auth.object_permission is None:
            return True
        return bool(await self.auth.has_perms(user, permission, obj=obj))

    async def can_object(
        self, request: Request, user: Any, slug: str, action: str, obj: Any
    ) -> bool:
        """Tell whether ``user`` holds ``<slug>.<action>`` and the object check allows ``obj``."""
        if not await self.can(request, user, slug, action):
            return False
        held = await self.permissions(request, user)
        permission = f"{slug}.{action}"
        if action == "view" and "*" not in held and permission not in held:
            permission = f"{slug}.change"  # NOTE: change implies view, for objects too.
        return await self.may_object(user, permission, obj)

    async def require_object(
        self, request: Request, user: Any, slug: str, action: str, obj: Any
    ) -> None:
        """Raise 403 unless ``user`` may ``action`` this very object (see ``can_object``)."""
        if not await self.can_object(request, user, slug, action, obj):
            raise Forbidden(f"You may not {action} this object.")

    async def visible_models(self, request: Request, user: Any) -> list[ModelAdmin]:
        """Return the models the user may see, in registration order."""
        return [m for m in self.registry.values() if await self.can(request, user, m.name, "view")]

    # --- pages -------------------------------------------------------------------------------

    def url(self, *parts: Any, **params: Any) -> str:
        """Return the path of an admin page: ``admin.url("book", 3)``."""
        path = "/".join(quote(str(p), safe="") for p in parts if p is not None and p != "")
        base = f"{self.prefix}/{path}" if path else f"{self.prefix}/"
        if path and not path.endswith((".csv", ".json", ".css", ".js")):
            base += "/"
        query = {k: v for k, v in params.items() if v is not None}
        return f"{base}?{urlencode(query, doseq=True)}" if query else base

    async def render(
        self, request: Request, user: Any, name: str, status: int = 200, **context: Any
    ) -> Response:
        """Render an admin page with the navigation, messages and the CSRF field."""
        models = await self.visible_models(request, user)
        response: Response = self.templates.render(
            f"admin/{name}.html",
            {
                "request": request,
                "user": user,
                "models": models,
                "messages": get_flashed_messages(request, with_categories=True),
                "title": context.pop("title", self.title),
                "site_title": self.title,
                "has_jobs": self.jobs is not None,
                "has_tickets": self.tickets is not None,
                "can_users": await self.can(request, user, "auth", "view"),
                **context,
            },
            status_code=status,
            headers={"cache-control": "no-store"},
        )
        return response

    def redirect(self, request: Request, url: str, message: str | None = None) -> Response:
        """Answer 303 to ``url``, flashing ``message`` for the next page."""
        if message:
            flash(request, message, "success")
        return RedirectResponse(url, status_code=303)

    async def read_form(self, request: Request) -> Any:
        """Return the posted form; 413 past the size limit, 415 for another body type."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in ("application/x-www-form-urlencoded", "multipart/form-data"):
            raise HTTPError(415, "The admin accepts form posts only.")
        body = await request.body()
        if len(body) > self.max_body_size:
            raise PayloadTooLarge(f"The admin accepts bodies up to {self.max_body_size} bytes.")
        return await request.form(
            max_part_size=self.max_body_size, max_file_size=self.max_body_size
        )

    async def count(self, model_admin: ModelAdmin, request: Request) -> tuple[int, str]:
        """Return the dashboard's count of a model (estimated on large PostgreSQL tables)."""
        async with self.db.scope() as session:
            return await count_rows(session, model_admin, request, ListQuery())

    async def get_object(
        self, session: Any, model_admin: ModelAdmin, request: Request, pk: str
    ) -> Any:
        """Return the row with primary key ``pk`` the request may see, or raise 404."""
        value = parse_pk(model_admin, pk)
        column = getattr(model_admin.model, model_admin.info.pk.name)
        statement = model_admin.get_query(request, sa.select(model_admin.model)).where(
            column == value
        )
        found = (await session.scalars(statement)).first()
        if found is None:
            raise NotFound("No such object.")
        return found
