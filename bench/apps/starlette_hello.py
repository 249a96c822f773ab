"""The hello app of bench/overhead.py on Starlette: the reference line."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bench.apps.sql import HELLO


async def plaintext(request: Request) -> Response:
    return PlainTextResponse(HELLO)


async def json(request: Request) -> Response:
    return JSONResponse({"message": HELLO})


app = Starlette(routes=[Route("/plaintext", plaintext), Route("/json", json)])
