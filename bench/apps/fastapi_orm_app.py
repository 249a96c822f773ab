"""FastAPI with SQLAlchemy 2 (asyncio, asyncpg), as FastAPI's SQL docs write a data layer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from random import randint
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bench.apps.sql import (
    ADDITIONAL_FORTUNE,
    DATABASE_URL,
    HELLO,
    POOL_SIZE,
    TEMPLATES,
    distinct_ids,
    query_count,
)

engine = create_async_engine(
    DATABASE_URL.replace("postgresql://", "postgresql+asyncpg://", 1),
    pool_size=POOL_SIZE,
    max_overflow=0,
)
async_session = async_sessionmaker(engine, expire_on_commit=False)


class Base(DeclarativeBase):
    pass


class World(Base):
    __tablename__ = "world"
    id: Mapped[int] = mapped_column(primary_key=True)
    randomnumber: Mapped[int]


class Fortune(Base):
    __tablename__ = "fortune"
    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str] = mapped_column(String(2048))


class WorldOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)

    id: int
    random_number: int = Field(validation_alias="randomnumber", serialization_alias="randomNumber")


async def get_session() -> AsyncIterator[AsyncSession]:
    async with async_session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]

app = FastAPI(openapi_url=None)
templates = Jinja2Templates(directory=str(TEMPLATES))


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return HELLO


@app.get("/json")
async def json() -> dict[str, str]:
    return {"message": HELLO}


@app.get("/db", response_model=WorldOut, response_model_by_alias=True)
async def single_query(session: SessionDep) -> World | None:
    return await session.get(World, randint(1, 10_000))


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes(request: Request, session: SessionDep) -> HTMLResponse:
    rows = list((await session.scalars(select(Fortune))).all())
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=lambda f: f.message)
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})


@app.get("/queries", response_model=list[WorldOut], response_model_by_alias=True)
async def queries(session: SessionDep, queries: str | None = None) -> list[World | None]:
    return [await session.get(World, randint(1, 10_000)) for _ in range(query_count(queries))]


@app.get("/updates", response_model=list[WorldOut], response_model_by_alias=True)
async def updates(session: SessionDep, queries: str | None = None) -> list[World]:
    worlds = []
    for world_id in distinct_ids(query_count(queries)):
        world = await session.get(World, world_id)
        assert world is not None
        world.randomnumber = randint(1, 10_000)
        worlds.append(world)
    await session.commit()
    return worlds
