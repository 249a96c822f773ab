"""celeris with its data layer, as docs/db.md "Fast handlers" writes it.

Reads go through ``db.fetch_one`` / ``db.fetch_all`` for one statement and ``db.reader`` for
several (statements compiled once, rows decoded into the read schema);
the updates test reads and writes (one executemany) on ``db.session``'s connection and
transaction through ``db.reader_for(session)``, committed before the response.
"""

from __future__ import annotations

from operator import attrgetter
from random import randint

from sqlalchemy import String, bindparam, select, update
from sqlalchemy.orm import Mapped, mapped_column

from bench.apps.sql import (
    ADDITIONAL_FORTUNE,
    DATABASE_URL,
    HELLO,
    POOL_SIZE,
    TEMPLATES,
    distinct_ids,
    query_count,
)
from celeris import App, Depends, HTMLResponse
from celeris.db import AsyncSession, Database, Model, PoolOptions, Reader, schemas_for
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
FortuneRead = schemas_for(Fortune).read

app = App()
db = Database(DATABASE_URL, app=app, pool=PoolOptions(size=POOL_SIZE, max_overflow=0))
templates = Templates(str(TEMPLATES))

WORLD_BY_ID = select(World).where(World.id == bindparam("id"))  # built once, at import
ALL_FORTUNES = select(Fortune)
UPDATE_WORLD = update(World).where(World.id == bindparam("wid")).values(randomNumber=bindparam("n"))


@app.get("/plaintext")
async def plaintext() -> str:
    return HELLO


@app.get("/json")
async def json() -> dict[str, str]:
    return {"message": HELLO}


@app.get("/db")
async def single_query() -> WorldRead:
    return await db.fetch_one(WORLD_BY_ID, id=randint(1, 10_000))


@app.get("/queries")
async def queries(
    queries: str | None = None, reader: Reader = Depends(db.reader)
) -> list[WorldRead]:
    return [
        await reader.fetch_one(WORLD_BY_ID, id=randint(1, 10_000))
        for _ in range(query_count(queries))
    ]


@app.get("/fortunes")
async def fortunes() -> HTMLResponse:
    rows = await db.fetch_all(ALL_FORTUNES)
    rows.append(FortuneRead(id=0, message=ADDITIONAL_FORTUNE))
    rows.sort(key=attrgetter("message"))
    return templates.render("fortunes.html", {"fortunes": rows})


@app.get("/updates")
async def updates(
    queries: str | None = None, session: AsyncSession = Depends(db.session)
) -> list[WorldRead]:
    reader = await db.reader_for(session)  # one connection and transaction: the session's
    worlds = [await reader.fetch_one(WORLD_BY_ID, id=i) for i in distinct_ids(query_count(queries))]
    for world in worlds:
        world.randomNumber = randint(1, 10_000)
    await reader.execute_many(UPDATE_WORLD, [{"wid": w.id, "n": w.randomNumber} for w in worlds])
    return worlds  # db.session commits before the response is sent
