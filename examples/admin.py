"""The admin over a small library (authors, books, tags): `celeris serve examples.admin:app`.

Also the shared data set of the admin benchmark (``bench/admin/``): the same PostgreSQL tables
serve this app and Django's admin. ``DATABASE_URL`` picks the database (default: ``app.db``
here); ``SECRET_KEY`` signs the sessions.

    python -m examples.admin seed --authors 1000 --books 1000000   # fast on PostgreSQL
    python -m examples.admin staff admin@example.org 'a long password'
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import decimal
import os
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from celeris import App
from celeris.admin import Admin, InlineAdmin, ModelAdmin, action
from celeris.auth import Auth
from celeris.db import Database, Model
from celeris.jobs import Jobs
from celeris.security import CSRF
from celeris.sessions import Sessions
from celeris.settings import dev_secret_key

book_tag = sa.Table(
    "library_book_tag",
    Model.metadata,
    sa.Column("book_id", sa.ForeignKey("library_book.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("tag_id", sa.ForeignKey("library_tag.id", ondelete="CASCADE"), primary_key=True),
)


class Author(Model):
    __tablename__ = "library_author"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    email: Mapped[str | None] = mapped_column(sa.String(254), default=None)
    born: Mapped[dt.date | None] = mapped_column(default=None)
    bio: Mapped[str] = mapped_column(sa.Text, default="")
    books: Mapped[list[Book]] = relationship(back_populates="author", cascade="all, delete-orphan")


class Tag(Model):
    __tablename__ = "library_tag"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(50), unique=True)


class Book(Model):
    __tablename__ = "library_book"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    author_id: Mapped[int] = mapped_column(sa.ForeignKey("library_author.id"), index=True)
    published: Mapped[bool] = mapped_column(default=False)
    pages: Mapped[int | None] = mapped_column(default=None)
    price: Mapped[decimal.Decimal | None] = mapped_column(sa.Numeric(8, 2), default=None)
    author: Mapped[Author] = relationship(back_populates="books")
    tags: Mapped[list[Tag]] = relationship(secondary=book_tag)


class BookInline(InlineAdmin):
    model = Book
    fields = ["title", "published", "pages"]
    extra = 1


def build(
    url: str | None = None,
    *,
    jobs_url: str | None = None,
    auth_options: dict[str, Any] | None = None,
    **admin_options: Any,
) -> tuple[App, Database, Auth, Admin]:
    """Return the app and its parts (``url`` overrides ``DATABASE_URL``).

    With ``jobs_url``, large bulk actions run as jobs (``memory://`` runs them in process).
    """
    app = App(title="Library")
    db = Database(url, app=app, create_all=True)
    # NOTE: an example: without SECRET_KEY, one development key kept in .celeris/ signs sessions.
    secret_key = os.environ.get("SECRET_KEY") or dev_secret_key()
    Sessions(app=app, secret_key=secret_key)
    CSRF(app=app)
    auth = Auth(app=app, db=db, secret_key=secret_key, **(auth_options or {}))
    app.include_router(auth.router)

    @app.get("/")
    async def index() -> str:
        return "The library's admin is at /admin/ (sign in as a staff user)."

    if jobs_url is not None:
        admin_options["jobs"] = Jobs(jobs_url, app=app, db=db)
    admin = Admin(app=app, db=db, auth=auth, **admin_options)

    @admin.register(Author)
    class AuthorAdmin(ModelAdmin):
        list_display = ["id", "name", "email", "born"]
        search_fields = ["name", "email"]
        ordering = ["name"]
        inlines = [BookInline]
        widgets = {"bio": "textarea"}

    @admin.register(Book)
    class BookAdmin(ModelAdmin):
        list_display = ["id", "title", "author", "published", "pages", "price"]
        search_fields = ["title"]
        list_filter = ["published", "author_id"]
        actions = ["publish"]

        @action("Mark as published")
        async def publish(self, session: Any, rows: list[Book]) -> None:
            for book in rows:
                book.published = True

    admin.register(Tag)
    return app, db, auth, admin


async def seed(db: Database, *, authors: int = 100, books: int = 1000, tags: int = 20) -> None:
    """Fill the tables (PostgreSQL: one ``generate_series`` statement per table)."""
    async with db.engine.begin() as connection:
        await connection.run_sync(Model.metadata.create_all)
        if db.dialect == "postgresql":
            await connection.execute(
                sa.text(
                    "INSERT INTO library_author (id, name, email, bio) SELECT g, 'Author ' || g, "
                    "'author' || g || '@example.org', '' FROM generate_series(1, :n) g ON CONFLICT DO NOTHING"
                ),
                {"n": authors},
            )
            await connection.execute(
                sa.text(
                    "INSERT INTO library_tag (id, name) SELECT g, 'tag ' || g FROM generate_series(1, :n) g "
                    "ON CONFLICT DO NOTHING"
                ),
                {"n": tags},
            )
            await connection.execute(
                sa.text(
                    "INSERT INTO library_book (id, title, author_id, published, pages, price) "
                    "SELECT g, 'Book ' || g, 1 + (g % :a), g % 3 = 0, 50 + g % 900, (g % 5000) / 100.0 "
                    "FROM generate_series(1, :n) g ON CONFLICT DO NOTHING"
                ),
                {"n": books, "a": authors},
            )
            for table in ("library_author", "library_tag", "library_book"):
                await connection.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                    )
                )
            await connection.execute(sa.text("ANALYZE library_author, library_tag, library_book"))
            return
        rows: dict[Any, list[dict[str, Any]]] = {
            Author: [
                {"id": i, "name": f"Author {i}", "email": f"author{i}@example.org", "bio": ""}
                for i in range(1, authors + 1)
            ],
            Tag: [{"id": i, "name": f"tag {i}"} for i in range(1, tags + 1)],
            Book: [
                {
                    "id": i,
                    "title": f"Book {i}",
                    "author_id": 1 + i % authors,
                    "published": i % 3 == 0,
                    "pages": 50 + i % 900,
                }
                for i in range(1, books + 1)
            ],
        }
        for model, values in rows.items():
            if values:
                await connection.execute(sa.insert(model), values)


async def create_staff(auth: Auth, email: str, password: str) -> Any:
    """Create a staff superuser (or return the existing account with this address)."""
    async with auth.db.engine.begin() as connection:
        await connection.run_sync(Model.metadata.create_all)
    await auth.start()
    user = await auth.get_user_by_email(email)
    if user is None:
        user = await auth.create_user(email, password, is_staff=True, is_superuser=True)
    return user


app, db, auth, admin = build(os.environ.get("DATABASE_URL"))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.admin")
    commands = parser.add_subparsers(dest="command", required=True)
    seeding = commands.add_parser("seed", help="fill the library tables")
    seeding.add_argument("--authors", type=int, default=100)
    seeding.add_argument("--books", type=int, default=1000)
    seeding.add_argument("--tags", type=int, default=20)
    staff = commands.add_parser("staff", help="create a staff superuser")
    staff.add_argument("email")
    staff.add_argument("password")
    args = parser.parse_args()

    async def run() -> None:
        if args.command == "seed":
            await seed(db, authors=args.authors, books=args.books, tags=args.tags)
        else:
            await create_staff(auth, args.email, args.password)
        await db.disconnect()

    asyncio.run(run())


if __name__ == "__main__":
    main()
