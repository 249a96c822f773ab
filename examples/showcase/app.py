"""The celeris showcase: a small notes service using what celeris has so far.

Run it with `make demo` (or `celeris serve examples.showcase.app:app`) and open
http://127.0.0.1:8000. It shows: typed routes and validation, the data layer (SQLite by
default, PostgreSQL with DATABASE_URL; migrations applied at start-up), JSON and HTML
responses, templates, static files, a WebSocket chat, Server-Sent Events, uploads, background
tasks, middleware, dependencies, typed settings, sessions with flash messages, CSRF on the
sign-in form, security headers, a rate limit, a cache dropped when notes change, a welcome mail,
uploads kept in storage behind signed links, accounts (signup, login, TOTP) with a permission on
deleting notes, and the OpenAPI docs at /docs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Annotated

import msgspec
from sqlalchemy import DateTime, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from celeris import (
    App,
    BackgroundTasks,
    Depends,
    Form,
    HTMLResponse,
    RedirectResponse,
    Request,
    Router,
    ServerSentEvent,
    ServerSentEvents,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
)
from celeris.admin import Admin, ModelAdmin
from celeris.auth import Auth, User
from celeris.cache import Cache
from celeris.cache.models import invalidate_on_commit, model_tag
from celeris.db import AsyncSession, Database, Model, add_health_route, get_or_404
from celeris.mail import Mailer
from celeris.middleware import GZipMiddleware, RequestIDMiddleware
from celeris.security import CSRF, RateLimiter, SecurityHeaders
from celeris.sessions import Sessions, flash
from celeris.settings import Settings, dev_secret_key
from celeris.staticfiles import StaticFiles
from celeris.storage import Storage
from celeris.templating import Templates

HERE = Path(__file__).parent
log = logging.getLogger("showcase")


class Config(Settings):
    """The showcase's settings, from the environment and a .env file."""

    SECRET_KEY: str = ""  # set a real one in production
    SESSION_URL: str | None = None  # e.g. redis://localhost:6379/0; a signed cookie by default
    RATELIMIT_URL: str | None = None
    CACHE_URL: str | None = None  # memory:// by default; redis://... shares it between workers
    MAIL_URL: str | None = None  # console:// by default: welcome mails are printed
    STORAGE_URL: str = f"file://{HERE / 'media'}"  # uploads; s3://bucket?... in production


config = Config()
if not config.SECRET_KEY:
    config.SECRET_KEY = dev_secret_key()  # NOTE: a demo: one development key in .celeris/

app = App(
    title="celeris showcase",
    version="0.1.0",
    description="Notes, files, accounts, chat and live events.",
    settings=config,
)
app.add_middleware(GZipMiddleware, minimum_size=1000)
app.add_middleware(RequestIDMiddleware)
app.mount("/static", StaticFiles(HERE / "static"))
templates = Templates(HERE / "templates")
Sessions(app=app, templates=templates)  # request.session, flash messages
CSRF(app=app, templates=templates)  # the sign-in form carries {{ csrf_input() }}
SecurityHeaders(app=app)  # nosniff, X-Frame-Options, COOP, HSTS on HTTPS...
limiter = RateLimiter(app=app)
cache = Cache(app=app)  # CACHE_URL, else memory://
mailer = Mailer(app=app, templates=HERE / "templates")  # MAIL_URL, else console://
storage = Storage(app=app)  # STORAGE_URL; its signed links are served at /_storage/...


# --- the notes API, stored through celeris.db (SQLite next to this file by default) ----------


class Note(Model):
    """A stored note (the migrations in ./migrations create its table on first run)."""

    __tablename__ = "note"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=lambda: datetime.now(UTC)
    )


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    """A note as a client writes it."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    body: Annotated[str, msgspec.Meta(max_length=10_000)] = ""


class NoteOut(msgspec.Struct):
    """A note as the API shows it."""

    id: int
    title: str
    body: str
    created_at: datetime


db = Database(app=app)  # DATABASE_URL, else examples/showcase/app.db
add_health_route(app, db)  # GET /healthz
# NOTE: the migrations in ./migrations own the auth tables too (revision "auth"), so the
# battery does not create them at start-up; `celeris db check` sees one schema.
auth = Auth(app=app, db=db, mailer=mailer, cache=cache, create_tables=False)
app.include_router(auth.router)  # /auth/signup, /auth/login, /auth/2fa/totp, /auth/account...
admin = Admin(app=app, db=db, auth=auth)  # /admin for staff: notes, users, groups, audit log


@admin.register(Note)
class NoteAdmin(ModelAdmin):
    list_display = ["id", "title", "created_at"]
    search_fields = ["title", "body"]
    ordering = ["-created_at"]
    readonly_fields = ["created_at"]
    widgets = {"body": "textarea"}


Session = Annotated[AsyncSession, Depends(db.session)]
ReadSession = Annotated[AsyncSession, Depends(db.read_session)]

api = Router(prefix="/api", tags=["notes"])


def _out(note: Note) -> NoteOut:
    created = note.created_at
    if created.tzinfo is None:  # SQLite keeps no zone: the column is written in UTC
        created = created.replace(tzinfo=UTC)
    return NoteOut(note.id, note.title, note.body, created)


@app.on_startup
async def watch_commits() -> None:
    # NOTE: from start-up to shutdown only, so importing the app (tests, the CLI) leaves
    # SQLAlchemy's sessions unwatched.
    app.state.stop_watching = invalidate_on_commit(cache)


@app.on_shutdown
async def stop_watching_commits() -> None:
    app.state.stop_watching()


# NOTE: memory:// is one cache per worker, and a commit drops only its own worker's copy: with
# `--workers N` set CACHE_URL=redis://..., whose tags every worker shares.
@cache.cached(ttl=300, key="notes:{limit}:{offset}", tags=[model_tag(Note)])
async def notes_page(session: AsyncSession, limit: int, offset: int) -> list[NoteOut]:
    """One page of notes, cached until a commit inserts, updates or deletes a note."""
    notes = await session.scalars(select(Note).order_by(Note.id).limit(limit).offset(offset))
    return [_out(note) for note in notes]


@api.get("/notes")
async def list_notes(
    session: ReadSession,
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20,
    offset: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 0,  # SQL BIGINT
) -> list[NoteOut]:
    """List notes, oldest first (served from the cache until a note changes)."""
    return await notes_page(session, limit, offset)


def audit(note_id: int, request_id: str) -> None:
    log.info("note %s created (request %s)", note_id, request_id)


@api.post("/notes", status_code=201)
async def create_note(
    note: NoteIn,
    session: Session,
    tasks: BackgroundTasks,
    request: Request,
) -> NoteOut:
    """Create a note."""
    created = Note(title=note.title, body=note.body)
    session.add(created)
    await session.commit()  # commit before answering, so the client can read its own write
    tasks.add_task(audit, created.id, request.state.request_id)
    return _out(created)


@api.get("/notes/{note_id}")
async def read_note(note_id: int, session: ReadSession) -> NoteOut:
    """Read one note."""
    return _out(await get_or_404(session, Note, note_id))


@api.delete("/notes/{note_id}", dependencies=[Depends(auth.requires("notes.delete"))])
async def delete_note(note_id: int, session: Session) -> None:
    """Delete a note (signed in, with the notes.delete permission)."""
    await session.delete(await get_or_404(session, Note, note_id))
    await session.commit()


app.include_router(api)


# --- uploads, kept in celeris.storage (./media by default) and handed back as signed links ------

files = Router(prefix="/api", tags=["files"])  # NOTE: router and route tags add up: one here
MAX_UPLOAD = 10 * 2**20


class Upload(msgspec.Struct):
    """A stored upload and a link to download it for an hour."""

    name: str
    filename: str
    content_type: str
    size: int
    url: str


def _safe_name(filename: str | None) -> str:
    """The client's file name reduced to letters, digits, dots, dashes and underscores."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", PurePosixPath(filename or "").name).lstrip(".")
    return base[:100] or "upload"


@files.post("/uploads", status_code=201)
@limiter.limit("30/minute")  # SECURITY: anyone may upload here; bound how much, how often
async def upload(file: UploadFile) -> Upload:
    """Store one file (streamed to the store, at most 10 MiB) and answer a signed link to it."""
    name = await storage.save(f"uploads/{_safe_name(file.filename)}", file, max_size=MAX_UPLOAD)
    return Upload(
        name=name,
        filename=file.filename or "",
        content_type=file.content_type or "",
        size=await storage.size(name),
        url=storage.url(name, expires=3600),
    )


app.include_router(files)


# --- pages, live events and chat ----------------------------------------------------------------


@app.get("/", include_in_schema=False)
async def home(
    request: Request,
    session: ReadSession,
    user: Annotated[User | None, Depends(auth.optional_user)],
) -> HTMLResponse:
    notes = await notes_page(session, 100, 0)
    return await templates.render_async(
        "index.html", {"request": request, "notes": notes, "title": app.title, "user": user}
    )


@app.post("/hello", include_in_schema=False)
@limiter.limit("10/minute")
async def hello(
    request: Request,
    name: Annotated[str, Form(min_length=1, max_length=50)],
    email: Annotated[str, Form(max_length=254)] = "",
) -> RedirectResponse:
    """Sign in by name: kept in the session, greeted by a flash message and, given an address,
    by a welcome mail."""
    if email:  # a bad address is a 422 (InvalidAddress) before the session changes
        await mailer.send_template("welcome", to=email, context={"name": name})
    request.session.rotate()  # a new session id on sign-in (no session fixation)
    request.session["name"] = name
    flash(request, f"Hello, {name}!", category="success")
    return RedirectResponse("/", status_code=303)


@app.get("/events/clock", tags=["live"])
async def clock() -> ServerSentEvents:
    """Stream the server's clock once a second as Server-Sent Events."""

    async def ticks() -> AsyncIterator[ServerSentEvent]:
        for n in itertools.count():
            yield ServerSentEvent(data={"now": time.time()}, event="tick", id=str(n))
            await asyncio.sleep(1)

    return ServerSentEvents(ticks())


rooms: dict[str, set[WebSocket]] = {}


@app.websocket("/ws/chat/{room}")
async def chat(ws: WebSocket, room: str) -> None:
    await ws.accept()
    members = rooms.setdefault(room, set())
    members.add(ws)
    try:
        async for message in ws.iter_text():
            for member in list(members):
                await member.send_text(message)
    except WebSocketDisconnect:
        pass
    finally:
        members.discard(ws)
