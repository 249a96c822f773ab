"""Litestar, as its documentation writes an app (msgspec Structs, Jinja2 templates)."""

from __future__ import annotations

from typing import Annotated

from litestar import Litestar, MediaType, get, post, websocket_listener
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.params import Parameter
from litestar.response import Template
from litestar.template.config import TemplateConfig

from bench.apps import pg
from bench.apps.models import User
from bench.apps.sql import HELLO, TEMPLATES, query_count


@get("/plaintext", media_type=MediaType.TEXT)
async def plaintext() -> str:
    return HELLO


@get("/json")
async def json() -> dict[str, str]:
    return {"message": HELLO}


@get("/items/{item_id:int}")
async def item(
    item_id: int, q: str | None = None, limit: Annotated[int, Parameter(ge=1, le=100)] = 10
) -> dict[str, object]:
    return {"item_id": item_id, "q": q, "limit": limit}


@post("/users", status_code=200)
async def create_user(data: User) -> User:
    return data


@get("/db")
async def db() -> dict[str, int]:
    return await pg.single_query()


@get("/queries")
async def queries(queries: str | None = None) -> list[dict[str, int]]:
    return await pg.multiple_queries(query_count(queries))


@get("/fortunes")
async def fortunes() -> Template:
    rows = [{"id": i, "message": m} for i, m in await pg.fortunes()]
    return Template(template_name="fortunes.html", context={"fortunes": rows})


@get("/updates")
async def updates(queries: str | None = None) -> list[dict[str, int]]:
    return await pg.updates(query_count(queries))


@websocket_listener("/ws")
async def echo(data: str) -> str:
    return data


app = Litestar(
    route_handlers=[plaintext, json, item, create_user, db, queries, fortunes, updates, echo],
    template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
    openapi_config=None,
)
