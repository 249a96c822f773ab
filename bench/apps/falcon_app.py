"""Falcon (ASGI), as its documentation writes an app (resources with on_get/on_post)."""

from __future__ import annotations

import falcon
import falcon.asgi
import msgspec
from jinja2 import Environment, FileSystemLoader

from bench.apps import pg
from bench.apps.models import USER_DECODER
from bench.apps.sql import HELLO, TEMPLATES, query_count

jinja = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
fortunes_template = jinja.get_template("fortunes.html")


class Plaintext:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = HELLO


class Json:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"message": HELLO}


class Item:
    async def on_get(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response, item_id: int
    ) -> None:
        limit = req.get_param_as_int("limit", min_value=1, max_value=100, default=10)
        resp.media = {"item_id": item_id, "q": req.get_param("q"), "limit": limit}


class Users:
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        try:
            user = USER_DECODER.decode(await req.stream.read())
        except msgspec.DecodeError as exc:
            raise falcon.HTTPUnprocessableEntity(description=str(exc)) from exc
        resp.content_type = falcon.MEDIA_JSON
        resp.data = msgspec.json.encode(user)


class Db:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = await pg.single_query()


class Queries:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = await pg.multiple_queries(query_count(req.get_param("queries")))


class Fortunes:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        rows = [{"id": i, "message": m} for i, m in await pg.fortunes()]
        resp.content_type = falcon.MEDIA_HTML
        resp.text = fortunes_template.render(fortunes=rows)


class Updates:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = await pg.updates(query_count(req.get_param("queries")))


class Echo:
    async def on_websocket(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except falcon.WebSocketDisconnected:
            pass


app = falcon.asgi.App()
app.add_route("/plaintext", Plaintext())
app.add_route("/json", Json())
app.add_route("/items/{item_id:int}", Item())
app.add_route("/users", Users())
app.add_route("/db", Db())
app.add_route("/queries", Queries())
app.add_route("/fortunes", Fortunes())
app.add_route("/updates", Updates())
app.add_route("/ws", Echo())
