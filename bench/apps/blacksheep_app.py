"""BlackSheep, as its documentation writes an app (dataclass binding, Jinja2 templates)."""

from __future__ import annotations

import msgspec
from blacksheep import Application, Content, Request, Response, WebSocket, WebSocketDisconnectError
from blacksheep.server.responses import bad_request, html, json, text
from jinja2 import Environment, FileSystemLoader

from bench.apps import pg
from bench.apps.models import USER_DECODER
from bench.apps.sql import HELLO, TEMPLATES, query_count

app = Application()
app.show_error_details = False
jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, enable_async=False)
fortunes_template = jinja.get_template("fortunes.html")


@app.router.get("/plaintext")
async def plaintext() -> Response:
    return text(HELLO)


@app.router.get("/json")
async def json_test() -> Response:
    return json({"message": HELLO})


@app.router.get("/items/{int:item_id}")
async def item(item_id: int, q: str | None = None, limit: int = 10) -> Response:
    if not 1 <= limit <= 100:
        return bad_request("limit must be in 1..100")
    return json({"item_id": item_id, "q": q, "limit": limit})


@app.router.post("/users")
async def create_user(request: Request) -> Response:
    try:
        user = USER_DECODER.decode(await request.read() or b"")
    except msgspec.DecodeError as exc:
        return bad_request(str(exc))
    return Response(200, content=Content(b"application/json", msgspec.json.encode(user)))


@app.router.get("/db")
async def db() -> Response:
    return json(await pg.single_query())


@app.router.get("/queries")
async def queries(request: Request) -> Response:
    return json(await pg.multiple_queries(query_count(request.query.get("queries", [None])[0])))


@app.router.get("/fortunes")
async def fortunes() -> Response:
    rows = [{"id": i, "message": m} for i, m in await pg.fortunes()]
    return html(fortunes_template.render(fortunes=rows))


@app.router.get("/updates")
async def updates(request: Request) -> Response:
    return json(await pg.updates(query_count(request.query.get("queries", [None])[0])))


@app.router.ws("/ws")
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        while True:
            await ws.send_text(await ws.receive_text())
    except WebSocketDisconnectError:
        pass
