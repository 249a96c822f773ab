"""Create and fill the admin benchmark's database: authors, books (1,000,000) and tags.

Usage: ``python bench/admin/seed.py [--quick] [--database URL]`` (asyncpg; either venv). The
tables are those of ``examples/admin.py`` (``library_author``, ``library_book`` with a foreign
key to its author, ``library_tag`` and the many-to-many ``library_book_tag``), filled in a few
statements with ``INSERT ... SELECT generate_series``. Idempotent: a database seeded with the
wanted sizes and this script's ``VERSION`` is left alone (``bench_admin_seed`` records them);
any other is rebuilt.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import asyncpg

BASE_URL = "postgresql://postgres@127.0.0.1:5432/"
FULL_DB = "bench_admin"
QUICK_DB = "bench_admin_quick"


@dataclass(frozen=True)
class Sizes:
    books: int
    authors: int
    tags: int


FULL = Sizes(books=1_000_000, authors=10_000, tags=50)
QUICK = Sizes(books=2_000, authors=100, tags=10)
VERSION = 2  # of the tables and their contents: a change here reseeds

# NOTE: column for column what examples/admin.py's SQLAlchemy models declare (its create_all
# would make the same tables); Django's unmanaged models in django_site/books name the same.
SCHEMA = """
CREATE TABLE library_author (
    id serial PRIMARY KEY,
    name varchar(100) NOT NULL,
    email varchar(254),
    born date,
    bio text NOT NULL
);
CREATE TABLE library_tag (
    id serial PRIMARY KEY,
    name varchar(50) NOT NULL UNIQUE
);
CREATE TABLE library_book (
    id serial PRIMARY KEY,
    title varchar(200) NOT NULL,
    author_id integer NOT NULL REFERENCES library_author (id),
    published boolean NOT NULL,
    pages integer,
    price numeric(8, 2)
);
CREATE INDEX ix_library_book_author_id ON library_book (author_id);
CREATE TABLE library_book_tag (
    book_id integer NOT NULL REFERENCES library_book (id) ON DELETE CASCADE,
    tag_id integer NOT NULL REFERENCES library_tag (id) ON DELETE CASCADE,
    PRIMARY KEY (book_id, tag_id)
);
CREATE TABLE bench_admin_seed (version integer, books integer, authors integer, tags integer);
"""

ADJECTIVES = [
    "Bright",
    "Silent",
    "Hidden",
    "Lost",
    "Red",
    "Iron",
    "Paper",
    "Glass",
    "Winter",
    "Golden",
]
NOUNS = [
    "River",
    "Garden",
    "Machine",
    "Empire",
    "Harbour",
    "Letter",
    "Forest",
    "Mirror",
    "Station",
    "Orchard",
]


def title(book: int) -> str:
    """The title of book ``book``: what FILL's SQL makes of its id."""
    return f"{ADJECTIVES[book % 10]} {NOUNS[(book // 10) % 10]} {book}"


def _array(words: list[str]) -> str:
    return "ARRAY[" + ",".join(f"'{w}'" for w in words) + "]"


FILL = [
    # authors: "Author 17", author17@example.com, born between 1900 and 2000
    """INSERT INTO library_author (id, name, email, born, bio)
       SELECT i, 'Author ' || i, 'author' || i || '@example.org',
              DATE '1900-01-01' + (i * 37 % 36500), ''
       FROM generate_series(1, $1::int) AS i""",
    "INSERT INTO library_tag (id, name) SELECT i, 'tag ' || i FROM generate_series(1, $1::int) AS i",
    # books: a few words from a fixed list so that a search for one word finds about 1 in 10
    """INSERT INTO library_book (id, title, author_id, published, pages, price)
       SELECT i,
              (ADJECTIVES)[1 + i % 10] || ' ' || (NOUNS)[1 + (i / 10) % 10] || ' ' || i,
              (1 + (i::bigint * 7919) % $2::int)::int,
              i % 3 = 0,
              50 + i % 900,
              (i % 5000) / 100.0
       FROM generate_series(1, $1::int) AS i""".replace("ADJECTIVES", _array(ADJECTIVES)).replace(
        "NOUNS", _array(NOUNS)
    ),
    # one tag on every fourth book, a second on every twelfth
    """INSERT INTO library_book_tag (book_id, tag_id)
       SELECT i, 1 + i % $2::int FROM generate_series(4, $1::int, 4) AS i
       UNION ALL
       SELECT i, 1 + (i / 12 + 3) % $2::int FROM generate_series(12, $1::int, 12) AS i
       ON CONFLICT DO NOTHING""",
]
TABLES = ("library_book_tag", "library_book", "library_tag", "library_author", "bench_admin_seed")


def database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", ""))


async def ensure_database(base: str, name: str) -> None:
    admin = await asyncpg.connect(database_url(base, "postgres"))
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


async def seeded_sizes(conn: asyncpg.Connection) -> Sizes | None:
    if not await conn.fetchval("SELECT to_regclass('bench_admin_seed') IS NOT NULL"):
        return None
    try:
        row = await conn.fetchrow("SELECT version, books, authors, tags FROM bench_admin_seed")
    except asyncpg.UndefinedColumnError:
        return None
    if row is None or row["version"] != VERSION:
        return None
    return Sizes(row["books"], row["authors"], row["tags"])


async def seed(url: str, sizes: Sizes) -> bool:
    """Fill the database at ``url`` unless it holds ``sizes`` already; True if it was filled."""
    conn = await asyncpg.connect(url)
    try:
        if await seeded_sizes(conn) == sizes:
            return False
        async with conn.transaction():
            await conn.execute(f"DROP TABLE IF EXISTS {', '.join(TABLES)} CASCADE")
            await conn.execute(SCHEMA)
            await conn.execute(FILL[0], sizes.authors)
            await conn.execute(FILL[1], sizes.tags)
            await conn.execute(FILL[2], sizes.books, sizes.authors)
            await conn.execute(FILL[3], sizes.books, sizes.tags)
            for table in ("library_author", "library_tag", "library_book"):
                await conn.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
            await conn.execute(
                "INSERT INTO bench_admin_seed VALUES ($1, $2, $3, $4)",
                VERSION,
                sizes.books,
                sizes.authors,
                sizes.tags,
            )
        # NOTE: VACUUM ANALYZE sets pg_class.reltuples, the estimate celeris's list page shows.
        await conn.execute(
            "VACUUM ANALYZE library_author, library_tag, library_book, library_book_tag"
        )
        return True
    finally:
        await conn.close()


async def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tiny dataset in its own database")
    parser.add_argument("--database", default=BASE_URL, help="server URL (the database is ours)")
    args = parser.parse_args(argv)
    name, sizes = (QUICK_DB, QUICK) if args.quick else (FULL_DB, FULL)
    began = time.perf_counter()
    await ensure_database(args.database, name)
    filled = await seed(database_url(args.database, name), sizes)
    took = time.perf_counter() - began
    print(f"{name}: {'seeded' if filled else 'already seeded'} {sizes} in {took:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
