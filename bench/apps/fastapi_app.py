"""FastAPI, as its tutorial writes an app (pydantic models, Jinja2 templates)."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from bench.apps import pg
from bench.apps.sql import HELLO, TEMPLATES, query_count

app = FastAPI(openapi_url=None)
templates = Jinja2Templates(directory=str(TEMPLATES))


class User(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    age: int = Field(ge=0, le=150)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+$")


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return HELLO


@app.get("/json")
async def json() -> dict[str, str]:
    return {"message": HELLO}


@app.get("/items/{item_id}")
async def item(
    item_id: int, q: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 10
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


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes(request: Request) -> HTMLResponse:
    rows = [{"id": i, "message": m} for i, m in await pg.fortunes()]
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})


@app.get("/updates")
async def updates(queries: str | None = None) -> list[dict[str, int]]:
    return await pg.updates(query_count(queries))


@app.websocket("/ws")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except WebSocketDisconnect:
        pass
