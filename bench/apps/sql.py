"""The SQL and constants every contender shares, so all of them do the same work."""

from __future__ import annotations

import os
import random
from pathlib import Path

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/celeris_bench"
)
POOL_SIZE = int(os.environ.get("BENCH_POOL_SIZE", "16"))
TEMPLATES = Path(__file__).parent / "templates"

HELLO = "Hello, World!"
ADDITIONAL_FORTUNE = "Additional fortune added at request time."
WORLD_ROWS = 10_000

SELECT_WORLD = "SELECT id, randomnumber FROM world WHERE id = $1"
UPDATE_WORLD = "UPDATE world SET randomnumber = $2 WHERE id = $1"
SELECT_FORTUNES = "SELECT id, message FROM fortune"

# psycopg (Flask) spells parameters differently; same statements otherwise.
SELECT_WORLD_PG = "SELECT id, randomnumber FROM world WHERE id = %s"
UPDATE_WORLD_PG = "UPDATE world SET randomnumber = %s WHERE id = %s"


def random_id() -> int:
    """Return a random world id."""
    return random.randint(1, WORLD_ROWS)


def query_count(raw: str | None) -> int:
    """Clamp the ``queries`` parameter to 1..500 as TechEmpower specifies."""
    try:
        value = int(raw) if raw is not None else 1
    except ValueError:
        return 1
    return min(max(value, 1), 500)


def distinct_ids(count: int) -> list[int]:
    """Return ``count`` distinct random ids, sorted so concurrent updates never deadlock."""
    return sorted(random.sample(range(1, WORLD_ROWS + 1), count))
