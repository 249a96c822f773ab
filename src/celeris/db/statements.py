"""Statement counting in debug mode: N+1 query patterns reported once per request.

With ``Database(debug=True)`` (the default when the app runs in debug mode), every statement
a request runs through ``db.session``, ``db.read_session`` or ``db.reader`` is counted by its
SQL text (its shape: values are bound parameters); when the request ends, each shape run
``REPEATS`` times or more is logged as a likely N+1 pattern, with the fix.
"""

from __future__ import annotations

import logging
from collections import Counter
from contextvars import ContextVar, Token
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["REPEATS", "count", "finish", "repeated", "start", "watch"]

log = logging.getLogger("celeris.db")

REPEATS = 5  # the same statement this many times in one request is reported

_statements: ContextVar[Counter[str] | None] = ContextVar("celeris_db_statements", default=None)


def start() -> Token[Counter[str] | None] | None:
    """Begin counting for this request; None if an outer scope already counts."""
    if _statements.get() is not None:
        return None
    return _statements.set(Counter())


def count(statement: str) -> None:
    """Count one statement run by the current request (if counting)."""
    counter = _statements.get()
    if counter is not None:
        counter[statement] += 1


def repeated(counter: Counter[str], repeats: int = REPEATS) -> list[tuple[int, str]]:
    """Return (times, statement) for the statements run ``repeats`` times or more."""
    return sorted(
        ((times, statement) for statement, times in counter.items() if times >= repeats),
        reverse=True,
    )


def finish(token: Token[Counter[str] | None] | None) -> None:
    """Stop counting; log the repeated statements of the request."""
    if token is None:
        return
    counter = _statements.get()
    _statements.reset(token)
    if not counter:
        return
    for times, statement in repeated(counter):
        shape = " ".join(statement.split())
        log.warning(
            "N+1 query pattern: one request ran %d times: %s -- load the rows in one query "
            "(select(...).options(selectinload(...)), or WHERE ... IN (...))",
            times,
            shape[:300],
        )


def _before_cursor_execute(
    _conn: Any, _cursor: Any, statement: str, *_args: Any, **_kwargs: Any
) -> None:
    count(statement)


def watch(engine: AsyncEngine) -> None:
    """Count every statement ``engine`` runs for the requests that count."""
    event.listen(engine.sync_engine, "before_cursor_execute", _before_cursor_execute)
