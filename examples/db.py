"""celeris.db in one file: `pip install 'celeris[db]'`, then `celeris serve db:app`.

SQLite (``app.db`` next to this file) with no configuration; set ``DATABASE_URL`` for PostgreSQL.
"""

from sqlalchemy import String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from celeris import App, Depends
from celeris.db import AsyncSession, CRUDRouter, Database, Model


class Note(Model):
    __tablename__ = "note"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))


app = App()
db = Database(app=app, create_all=True)  # no migrations here: create the tables at start-up
app.include_router(CRUDRouter(Note, db))  # GET/POST /note, GET/PATCH/DELETE /note/{id}


@app.get("/")
async def index(session: AsyncSession = Depends(db.session)) -> dict[str, int]:
    return {"notes": await session.scalar(select(func.count()).select_from(Note)) or 0}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=8000)
