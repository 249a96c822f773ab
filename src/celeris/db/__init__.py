"""celeris.db: the data layer on SQLAlchemy 2 (asyncio) and Alembic (extra ``celeris[db]``).

```python
from celeris.db import AsyncSession, CRUDRouter, Database, Model, get_or_404

db = Database(app=app)                      # DATABASE_URL, else app.db next to the app
app.include_router(CRUDRouter(Note, db))    # list / get / create / update / delete

@app.get("/notes/{note_id}")
async def read(note_id: int, session: AsyncSession = Depends(db.session)) -> NoteRead:
    return await get_or_404(session, Note, note_id)

@app.get("/notes")                          # reads at the driver's speed: no Session
async def notes() -> list[NoteRead]:
    return await db.fetch_all(select(Note).order_by(Note.id))
```
"""

from sqlalchemy.ext.asyncio import AsyncSession

from celeris.db.crud import CRUDRouter, get_or_404, page_schema
from celeris.db.database import Database, PoolOptions, create_tables
from celeris.db.errors import DatabaseError, DatabaseUnavailable, Fault, classify
from celeris.db.health import Health, add_health_route, check
from celeris.db.migrations import MigrationError, Migrations
from celeris.db.model import NAMING_CONVENTION, Model
from celeris.db.pagination import (
    CursorPage,
    InvalidCursor,
    OffsetPage,
    Ordering,
    paginate,
    paginate_cursor,
)
from celeris.db.reader import Reader
from celeris.db.schemas import ModelSchemas, schemas_for, to_read, to_read_many, values_of
from celeris.db.session import LazyLoadError
from celeris.db.types import DateTime
from celeris.db.url import database_url

__all__ = [
    "NAMING_CONVENTION",
    "AsyncSession",
    "CRUDRouter",
    "CursorPage",
    "Database",
    "DatabaseError",
    "DatabaseUnavailable",
    "DateTime",
    "Fault",
    "Health",
    "InvalidCursor",
    "LazyLoadError",
    "MigrationError",
    "Migrations",
    "Model",
    "ModelSchemas",
    "OffsetPage",
    "Ordering",
    "PoolOptions",
    "Reader",
    "add_health_route",
    "check",
    "classify",
    "create_tables",
    "database_url",
    "get_or_404",
    "page_schema",
    "paginate",
    "paginate_cursor",
    "schemas_for",
    "to_read",
    "to_read_many",
    "values_of",
]
