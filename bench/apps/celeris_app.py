"""celeris, written the way API.md tells users to write an app."""

from __future__ import annotations

from typing import Annotated

import msgspec

from bench.apps import pg
from bench.apps.sql import HELLO, TEMPLATES, query_count
from celeris import App, HTMLResponse, WebSocket
from celeris.templating import Templates

app = App()
templates = Templates(str(TEMPLATES))


class User(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    age: Annotated[int, msgspec.Meta(ge=0, le=150)]
    email: Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+$")]


@app.on_startup
async def connect() -> None:
    await pg.open_pool()


@app.on_shutdown
async def disconnect() -> None:
    await pg.close_pool()


@app.get("/plaintext")
async def plaintext() -> str:
    return HELLO


@app.get("/json")
async def json() -> dict[str, str]:
    return {"message": HELLO}


@app.get("/items/{item_id}")
async def item(
    item_id: int, q: str | None = None, limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
) -> dict[str, object]:
    return {"item_id": item_id, "q": q, "limit": limit}


@app.post("/users")
async def create_user(user: User) -> User:
    return user


@app.get("/db")
async def db() -> dict[str, int]:
    return await pg.single_query()


@app.get("/queries")
async def queries(queries: str | None = None) -> list[dict[str, int]]:
    return await pg.multiple_queries(query_count(queries))


@app.get("/fortunes")
async def fortunes() -> HTMLResponse:
    rows = [{"id": i, "message": m} for i, m in await pg.fortunes()]
    return templates.render("fortunes.html", {"fortunes": rows})


@app.get("/updates")
async def updates(queries: str | None = None) -> list[dict[str, int]]:
    return await pg.updates(query_count(queries))


@app.websocket("/ws")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws.iter_text():
        await ws.send_text(message)
