"""celeris with its data layer: ``db`` and ``fortunes`` as docs/db.md "Fast handlers" writes them."""

from __future__ import annotations

from operator import attrgetter
from random import randint

from sqlalchemy import String, bindparam, select
from sqlalchemy.orm import Mapped, mapped_column

from bench.apps.sql import ADDITIONAL_FORTUNE, DATABASE_URL, HELLO, POOL_SIZE, TEMPLATES
from celeris import App, Depends, HTMLResponse
from celeris.db import AsyncSession, Database, Model, PoolOptions, schemas_for
from celeris.templating import Templates


class World(Model):
    __tablename__ = "world"
    id: Mapped[int] = mapped_column(primary_key=True)
    randomNumber: Mapped[int] = mapped_column("randomnumber")  # the JSON key of the test


class Fortune(Model):
    __tablename__ = "fortune"
    id: Mapped[int] = mapped_column(primary_key=True)
    message: Mapped[str] = mapped_column(String(2048))


WorldRead = schemas_for(World).read

app = App()
db = Database(DATABASE_URL, app=app, pool=PoolOptions(size=POOL_SIZE, max_overflow=0))
templates = Templates(str(TEMPLATES))

WORLD_BY_ID = select(World).where(World.id == bindparam("id"))  # built once, at import
ALL_FORTUNES = select(Fortune)


@app.get("/plaintext")
async def plaintext() -> str:
    return HELLO


@app.get("/json")
async def json() -> dict[str, str]:
    return {"message": HELLO}


@app.get("/db")
async def single_query(session: AsyncSession = Depends(db.read_session)) -> WorldRead:
    return await session.scalar(WORLD_BY_ID, {"id": randint(1, 10_000)})


@app.get("/fortunes")
async def fortunes(session: AsyncSession = Depends(db.read_session)) -> HTMLResponse:
    rows = list(await session.scalars(ALL_FORTUNES))
    rows.append(Fortune(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=attrgetter("message"))
    return templates.render("fortunes.html", {"fortunes": rows})
