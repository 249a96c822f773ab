"""Sanic on its own server, as its documentation writes an app."""

from __future__ import annotations

import msgspec
from jinja2 import Environment, FileSystemLoader
from sanic import Request, Sanic
from sanic.response import HTTPResponse, html, json, raw, text

from bench.apps import pg
from bench.apps.models import USER_DECODER
from bench.apps.sql import HELLO, TEMPLATES, query_count

app = Sanic("bench")
app.config.ACCESS_LOG = False
jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
fortunes_template = jinja.get_template("fortunes.html")


@app.get("/plaintext")
async def plaintext(request: Request) -> HTTPResponse:
    return text(HELLO)


@app.get("/json")
async def json_test(request: Request) -> HTTPResponse:
    return json({"message": HELLO})


@app.get("/items/<item_id:int>")
async def item(request: Request, item_id: int) -> HTTPResponse:
    try:
        limit = int(request.args.get("limit", "10"))
    except ValueError:
        return json({"detail": "limit must be an integer"}, status=422)
    if not 1 <= limit <= 100:
        return json({"detail": "limit must be in 1..100"}, status=422)
    return json({"item_id": item_id, "q": request.args.get("q"), "limit": limit})


@app.post("/users")
async def create_user(request: Request) -> HTTPResponse:
    try:
        user = USER_DECODER.decode(request.body)
    except msgspec.DecodeError as exc:
        return json({"detail": str(exc)}, status=422)
    return raw(msgspec.json.encode(user), content_type="application/json")


@app.get("/db")
async def db(request: Request) -> HTTPResponse:
    return json(await pg.single_query())


@app.get("/queries")
async def queries(request: Request) -> HTTPResponse:
    return json(await pg.multiple_queries(query_count(request.args.get("queries"))))


@app.get("/fortunes")
async def fortunes(request: Request) -> HTTPResponse:
    rows = [{"id": i, "message": m} for i, m in await pg.fortunes()]
    return html(fortunes_template.render(fortunes=rows))


@app.get("/updates")
async def updates(request: Request) -> HTTPResponse:
    return json(await pg.updates(query_count(request.args.get("queries"))))


@app.websocket("/ws")
async def echo(request: Request, ws: object) -> None:
    async for message in ws:  # type: ignore[attr-defined]
        await ws.send(message)  # type: ignore[attr-defined]
