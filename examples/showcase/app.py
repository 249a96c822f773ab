"""The celeris showcase: a small notes service using what celeris has so far.

Run it with `make demo` (or `celeris serve examples.showcase.app:app`) and open
http://127.0.0.1:8000. It shows: typed routes and validation, JSON and HTML responses,
templates, static files, a WebSocket chat, Server-Sent Events, uploads, background tasks,
middleware and dependencies.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import msgspec

from celeris import (
    App,
    BackgroundTasks,
    Depends,
    HTMLResponse,
    Header,
    NotFound,
    Request,
    Router,
    ServerSentEvent,
    ServerSentEvents,
    UploadFile,
    WebSocket,
    WebSocketDisconnect,
)
from celeris.middleware import GZipMiddleware, RequestIDMiddleware
from celeris.staticfiles import StaticFiles
from celeris.templating import Templates

HERE = Path(__file__).parent
log = logging.getLogger("showcase")

app = App(title="celeris showcase", version="0.1.0", description="Notes, chat and live events.")
app.add_middleware(GZipMiddleware, minimum_size=1000)
app.add_middleware(RequestIDMiddleware)
app.mount("/static", StaticFiles(HERE / "static"))
templates = Templates(HERE / "templates")


# --- the notes API ------------------------------------------------------------------------------


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    """A note as a client writes it."""

    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    body: Annotated[str, msgspec.Meta(max_length=10_000)] = ""


class Note(msgspec.Struct):
    """A stored note."""

    id: int
    title: str
    body: str
    created_at: datetime


class NoteStore:
    """Keeps notes in memory (the data-layer issue moves them to SQLite/PostgreSQL)."""

    def __init__(self) -> None:
        self._notes: dict[int, Note] = {}
        self._ids = itertools.count(1)

    def list(self, limit: int, offset: int) -> list[Note]:
        return list(self._notes.values())[offset : offset + limit]

    def add(self, data: NoteIn) -> Note:
        note = Note(next(self._ids), data.title, data.body, datetime.now(UTC))
        self._notes[note.id] = note
        return note

    def get(self, note_id: int) -> Note:
        try:
            return self._notes[note_id]
        except KeyError:
            raise NotFound(f"No note with id {note_id}") from None

    def delete(self, note_id: int) -> None:
        self.get(note_id)
        del self._notes[note_id]


def get_store(request: Request) -> NoteStore:
    store: NoteStore = request.app.state.notes
    return store


Store = Annotated[NoteStore, Depends(get_store)]

api = Router(prefix="/api", tags=["notes"])


@api.get("/notes")
async def list_notes(
    store: Store,
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 20,
    offset: Annotated[int, msgspec.Meta(ge=0)] = 0,
) -> list[Note]:
    """List notes, oldest first."""
    return store.list(limit, offset)


def audit(note_id: int, request_id: str) -> None:
    log.info("note %s created (request %s)", note_id, request_id)


@api.post("/notes", status_code=201)
async def create_note(
    note: NoteIn,
    store: Store,
    tasks: BackgroundTasks,
    x_request_id: Annotated[str, Header()] = "-",
) -> Note:
    """Create a note."""
    created = store.add(note)
    tasks.add_task(audit, created.id, x_request_id)
    return created


@api.get("/notes/{note_id}")
async def read_note(note_id: int, store: Store) -> Note:
    """Read one note."""
    return store.get(note_id)


@api.delete("/notes/{note_id}")
async def delete_note(note_id: int, store: Store) -> None:
    """Delete a note."""
    store.delete(note_id)


class Upload(msgspec.Struct):
    filename: str
    content_type: str
    size: int


@api.post("/uploads", tags=["files"])
async def upload(file: UploadFile) -> Upload:
    """Accept one file and say what arrived."""
    data = await file.read()
    return Upload(file.filename or "", file.content_type or "", len(data))


app.include_router(api)


# --- pages, live events and chat ----------------------------------------------------------------


@app.get("/", include_in_schema=False)
async def home(request: Request, store: Store) -> HTMLResponse:
    return await templates.render_async(
        "index.html", {"request": request, "notes": store.list(100, 0), "title": app.title}
    )


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


@app.on_startup
async def open_store() -> None:
    app.state.notes = NoteStore()
    app.state.notes.add(NoteIn(title="Welcome to celeris", body="Edit examples/showcase/app.py."))
