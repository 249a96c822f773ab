"""Create and seed the benchmark database (run in the peer venv: it needs asyncpg).

Usage: ``python bench/seed.py ADMIN_URL DATABASE_NAME``. Idempotent: tables are rebuilt.
"""

from __future__ import annotations

import asyncio
import random
import sys

import asyncpg

# The twelve fortunes of the TechEmpower suite, markup and non-ASCII included on purpose.
FORTUNES = [
    "fortune: No such file or directory",
    "A computer scientist is someone who fixes things that aren't broken.",
    "After enough decimal places, nobody gives a damn.",
    "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1",
    "A computer program does what you tell it to do, not what you want it to do.",
    "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen",
    "Any program that runs right is obsolete.",
    "A list is only as strong as its weakest link. \u2014 Donald Knuth",
    "Feature: A bug with seniority.",
    "Computers make very fast, very accurate mistakes.",
    '<script>alert("This should not be displayed in a browser alert box.");</script>',
    "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af",
]
WORLD_ROWS = 10_000


async def seed(admin_url: str, name: str) -> None:
    """Create database ``name`` if missing and (re)build its tables."""
    admin = await asyncpg.connect(admin_url)
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    base = admin_url.rsplit("/", 1)[0]
    conn = await asyncpg.connect(f"{base}/{name}")
    try:
        async with conn.transaction():
            await conn.execute("DROP TABLE IF EXISTS world, fortune")
            await conn.execute(
                "CREATE TABLE world (id integer PRIMARY KEY, randomnumber integer NOT NULL)"
            )
            await conn.execute(
                "CREATE TABLE fortune (id integer PRIMARY KEY, message varchar(2048) NOT NULL)"
            )
            await conn.copy_records_to_table(
                "world",
                records=[(i, random.randint(1, 10_000)) for i in range(1, WORLD_ROWS + 1)],
            )
            await conn.copy_records_to_table(
                "fortune", records=[(i, m) for i, m in enumerate(FORTUNES, start=1)]
            )
        await conn.execute("ANALYZE world, fortune")
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(seed(sys.argv[1], sys.argv[2]))
