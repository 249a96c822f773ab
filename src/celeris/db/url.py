"""``database_url``: the one place a database URL gets celeris's async driver.

``postgresql://`` and ``postgres://`` run on asyncpg, ``sqlite://`` on aiosqlite; a URL that
names its driver (``postgresql+psycopg://``) is kept. ``Database``, ``Migrations`` and
``celeris db --url`` all resolve URLs through it.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url

__all__ = ["database_url"]

_DRIVERS = {
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def database_url(url: str | URL) -> URL:
    """Return ``url`` with celeris's async driver filled in (``postgresql://`` -> asyncpg)."""
    parsed = make_url(url) if isinstance(url, str) else url
    if "+" not in parsed.drivername and parsed.drivername in _DRIVERS:
        parsed = parsed.set(drivername=_DRIVERS[parsed.drivername])
    return parsed
