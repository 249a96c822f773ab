"""Classify database exceptions into the HTTP answers celeris gives for them.

A database that is down, refusing connections or timing out is *unavailable* (503 with
``Retry-After``); a unique or foreign-key violation is a *conflict* (409). Everything else is
left alone and ends as an ordinary 500.
"""

from __future__ import annotations

import asyncio
from enum import Enum
from types import TracebackType

from sqlalchemy import exc as sa_exc

from celeris.core.errors import Conflict, HTTPError, ServiceUnavailable

__all__ = [
    "DatabaseError",
    "DatabaseUnavailable",
    "Fault",
    "classify",
    "conflict_detail",
    "describe",
    "http_error_for",
    "raised_by_database",
]

# SQLSTATE classes and codes that mean "try again later" rather than "your request is wrong".
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P")  # connection, resources, operator action
_UNAVAILABLE_SQLSTATES = frozenset({"57014", "55P03"})  # query canceled (timeout), lock timeout
_SQLITE_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")
# The packages whose frames mark an exception as raised by the database layer.
_DATABASE_PACKAGES = frozenset({"sqlalchemy", "asyncpg", "aiosqlite", "sqlite3", "psycopg"})
_PLUMBING_PACKAGES = frozenset({"asyncio", "contextlib", "concurrent", "uvloop"})
_UNIQUE_SQLSTATE = "23505"
_FOREIGN_KEY_SQLSTATE = "23503"


class DatabaseError(Exception):
    """Base class of the errors celeris.db raises itself."""


class DatabaseUnavailable(DatabaseError):
    """The database cannot be reached or did not answer in time."""


class Fault(Enum):
    """What an exception means for the client."""

    UNAVAILABLE = "unavailable"
    TIMEOUT = "timeout"
    UNIQUE = "unique"
    FOREIGN_KEY = "foreign_key"
    INTEGRITY = "integrity"


def _sqlstate(error: BaseException | None) -> str | None:
    """Return the SQLSTATE of a driver error (asyncpg ``sqlstate``, psycopg ``pgcode``)."""
    if error is None:
        return None
    for attribute in ("sqlstate", "pgcode"):
        value = getattr(error, attribute, None)
        if isinstance(value, str):
            return value
    return None


def _driver_error(error: sa_exc.DBAPIError) -> BaseException | None:
    """Return the innermost driver exception behind a SQLAlchemy ``DBAPIError``."""
    orig: BaseException | None = error.orig
    # NOTE: SQLAlchemy's asyncpg adapter wraps asyncpg's exception one level deeper.
    cause: BaseException | None = getattr(orig, "__cause__", None)
    if _sqlstate(orig) is None and cause is not None:
        return cause
    return orig


def _integrity_fault(error: sa_exc.IntegrityError) -> Fault:
    driver = _driver_error(error)
    state = _sqlstate(driver)
    if state == _UNIQUE_SQLSTATE:
        return Fault.UNIQUE
    if state == _FOREIGN_KEY_SQLSTATE:
        return Fault.FOREIGN_KEY
    name = getattr(driver, "sqlite_errorname", "") or getattr(error.orig, "sqlite_errorname", "")
    text = str(error.orig)
    if name in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY") or (
        "UNIQUE constraint failed" in text
    ):
        return Fault.UNIQUE
    if name == "SQLITE_CONSTRAINT_FOREIGNKEY" or "FOREIGN KEY constraint failed" in text:
        return Fault.FOREIGN_KEY
    return Fault.INTEGRITY


def raised_by_database(error: BaseException) -> bool:
    """Tell whether ``error`` was raised inside the database layer (its traceback says so)."""
    # NOTE: the innermost frame outside asyncio is where the error arose; frames added later
    # (a session dependency the error passed through on its way out) do not count.
    origin = ""
    traceback: TracebackType | None = error.__traceback__
    while traceback is not None:
        module = traceback.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.partition(".")[0] not in _PLUMBING_PACKAGES:
            origin = module
        traceback = traceback.tb_next
    package = origin.partition(".")[0]
    return package in _DATABASE_PACKAGES or origin.startswith("celeris.db.")


def classify(error: BaseException) -> Fault | None:
    """Return what ``error`` means for the client, or None for an ordinary failure."""
    if isinstance(error, sa_exc.IntegrityError):
        return _integrity_fault(error)
    if isinstance(error, sa_exc.TimeoutError):
        return Fault.TIMEOUT  # the pool had no free connection in time
    if isinstance(error, (TimeoutError, asyncio.TimeoutError)):
        # NOTE: asyncpg's client-side statement timeout is a bare TimeoutError that SQLAlchemy
        # passes through; an ``asyncio.timeout()`` around another service's call in a handler
        # raises the same class. Only the first is a database fault.
        return Fault.TIMEOUT if raised_by_database(error) else None
    if isinstance(error, (DatabaseUnavailable, ConnectionError)):
        return Fault.UNAVAILABLE
    if isinstance(error, sa_exc.DBAPIError):
        driver = _driver_error(error)
        state = _sqlstate(driver)
        if state in _UNAVAILABLE_SQLSTATES:
            return Fault.TIMEOUT
        if state is not None and state.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
            return Fault.UNAVAILABLE
        if error.connection_invalidated or isinstance(
            driver, (ConnectionError, TimeoutError, OSError)
        ):
            return Fault.UNAVAILABLE
        sqlite_name = getattr(driver, "sqlite_errorname", None)
        if isinstance(sqlite_name, str):
            # NOTE: SQLite reports syntax errors and missing tables as OperationalError too;
            # only a busy/locked database or an unreadable file means "try again later".
            return Fault.UNAVAILABLE if sqlite_name.startswith(_SQLITE_UNAVAILABLE) else None
        if isinstance(error, (sa_exc.OperationalError, sa_exc.InterfaceError)):
            return Fault.UNAVAILABLE
    return None


def conflict_detail(fault: Fault) -> str:
    """Return the problem detail shown to a client for an integrity fault."""
    if fault is Fault.UNIQUE:
        return "A record with the same unique value already exists."
    if fault is Fault.FOREIGN_KEY:
        return "The record refers to, or is referred to by, another record."
    return "The request conflicts with the stored data."


def http_error_for(error: BaseException, retry_after: int) -> HTTPError | None:
    """Return the HTTP error a client gets for ``error``, or None if it is not a data fault."""
    fault = classify(error)
    if fault is None:
        return None
    if fault is Fault.UNAVAILABLE:
        return ServiceUnavailable(
            "The database is unavailable; retry later.", retry_after=retry_after
        )
    if fault is Fault.TIMEOUT:
        return ServiceUnavailable(
            "The request timed out waiting for the database; retry later.",
            retry_after=retry_after,
        )
    return Conflict(conflict_detail(fault))


def describe(error: BaseException) -> str:
    """Return a log line's account of a database fault: its class, message and cause."""
    text = f"{type(error).__module__}.{type(error).__qualname__}"
    message = str(error)
    if message:
        text += f": {message}"
    cause = error.__cause__ or error.__context__
    if cause is not None and not message:
        text += f" (caused by {type(cause).__qualname__}: {cause})"
    return text
