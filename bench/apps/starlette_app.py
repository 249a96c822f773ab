"""Starlette, as its documentation writes an app (msgspec for the body, Jinja2 templates)."""

from __future__ import annotations

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.templating import Jinja2Templates
from starlette.websockets import WebSocket

from bench.apps import pg
from bench.apps.models import USER_DECODER
from bench.apps.sql import HELLO, TEMPLATES, query_count

templates = Jinja2Templates(directory=str(TEMPLATES))


async def plaintext(request: Request) -> Response:
    return PlainTextResponse(HELLO)


async def json(request: Request) -> Response:
    return JSONResponse({"message": HELLO})


async def item(request: Request) -> Response:
    try:
        limit = int(request.query_params.get("limit", "10"))
    except ValueError:
        return JSONResponse({"detail": "limit must be an integer"}, status_code=422)
    if not 1 <= limit <= 100:
        return JSONResponse({"detail": "limit must be in 1..100"}, status_code=422)
    item_id = request.path_params["item_id"]
    return JSONResponse({"item_id": item_id, "q": request.query_params.get("q"), "limit": limit})


async def create_user(request: Request) -> Response:
    try:
        user = USER_DECODER.decode(await request.body())
    except msgspec.DecodeError as exc:
        return JSONResponse({"detail": str(exc)}, status_code=422)
    return Response(msgspec.json.encode(user), media_type="application/json")


async def db(request: Request) -> Response:
    return JSONResponse(await pg.single_query())


async def queries(request: Request) -> Response:
    return JSONResponse(await pg.multiple_queries(query_count(request.query_params.get("queries"))))


async def fortunes(request: Request) -> Response:
    rows = [{"id": i, "message": m} for i, m in await pg.fortunes()]
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})


async def updates(request: Request) -> Response:
    return JSONResponse(await pg.updates(query_count(request.query_params.get("queries"))))


async def echo(ws: WebSocket) -> None:
    await ws.accept()
    async for message in ws.iter_text():
        await ws.send_text(message)


app = Starlette(
    routes=[
        Route("/plaintext", plaintext),
        Route("/json", json),
        Route("/items/{item_id:int}", item),
        Route("/users", create_user, methods=["POST"]),
        Route("/db", db),
        Route("/queries", queries),
        Route("/fortunes", fortunes),
        Route("/updates", updates),
        WebSocketRoute("/ws", echo),
    ]
)
