"""``Tickets``: every unhandled exception stored, grouped and browsable; never in the way.

The 500 handler (and, for a WebSocket handler, the app's ``on_websocket_error`` hook) builds
the ticket at once (the traceback is only alive then), puts it in a bounded in-memory buffer and
answers with its id; a background task writes the buffer to the store with a short deadline per
write. A store that is down or slow costs the response nothing:
tickets wait in the buffer (the oldest dropped past ``buffer=``, with a log line) and are written
when the store answers again.
"""

from __future__ import annotations

import asyncio
import builtins
import collections
import datetime
import hashlib
import hmac
import html
import inspect
import logging
import os
import re
import secrets
import time
import weakref
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

from celeris.core.app import App
from celeris.core.concurrency import run_in_threadpool
from celeris.core.errors import HTTPError, ProblemResponse, prefers_html
from celeris.core.requests import Request
from celeris.core.responses import HTMLResponse, Response
from celeris.core.websocket import WebSocket
from celeris.settings import app_setting, battery_database, caller_root
from celeris.tickets.base import Ticket, TicketGroup, TicketStore, micros, read_cursor
from celeris.tickets.capture import Capture, method_of
from celeris.tickets.errors import TicketsConfigError
from celeris.tickets.redact import Redactor, secret_values
from celeris.tickets.sentry import SentryEndpoint

__all__ = ["Tickets"]

log = logging.getLogger("celeris.tickets")

T = TypeVar("T")

_SQL_SCHEMES = ("sqlite", "postgresql", "postgres")
_BATCH = 50
_DAY = 86_400 * 1_000_000  # µs


def _metadata() -> Any:
    """Return the tables of the tickets records (loads SQLAlchemy: only when a database is used)."""
    from celeris.tickets.database import METADATA

    return METADATA


class Tickets:
    """Error tickets for an app: capture, group, keep, browse; a Sentry-compatible endpoint."""

    def __init__(
        self,
        url: str | None = None,
        *,
        app: Any = None,
        db: Any = None,
        samples: int = 10,
        max_tickets: int = 10_000,
        retention: float = 30,
        buffer: int = 1_000,
        write_timeout: float = 2.0,
        release: str | None = None,
        sentry_path: str | None = "",
        sentry_key: str | None = None,
        project_id: int = 1,
        base_url: str = "http://127.0.0.1:8000",
        max_envelope: int = 1_048_576,
        root_path: str | Path | None = None,
    ) -> None:
        if samples < 1 or max_tickets < 1 or buffer < 1:
            raise TicketsConfigError("tickets.E002: samples, max_tickets and buffer must be >= 1")
        if retention <= 0 or write_timeout <= 0:
            raise TicketsConfigError("tickets.E002: retention and write_timeout must be positive")
        self.root_path = Path(root_path) if root_path is not None else caller_root()
        self._explicit_url = url
        self._database = db
        self.app = app
        self.samples = samples
        self.max_tickets = max_tickets
        self.retention = retention
        self.write_timeout = write_timeout
        self._release = release
        self.sentry_path = sentry_path
        self._sentry_key = sentry_key
        self.project_id = project_id
        self.base_url = base_url
        self.max_envelope = max_envelope
        self.prune_interval = 60.0
        self.retry_delay = 0.5
        self._buffer: collections.deque[Ticket] = collections.deque(maxlen=buffer)
        self.dropped = 0
        self._store: TicketStore | None = None
        self._owned_database: Any = None
        self._store_open = False
        self._open_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        self._task: asyncio.Task[None] | None = None
        self._abandoned: set[asyncio.Future[Any]] = set()
        self._down = False
        self._refusals: dict[str, int] = {}
        self._written = 0
        self._last_prune = 0.0
        self._capture: Capture | None = None
        self._fallback: Any = None
        self._route_patterns: dict[str, re.Pattern[str]] = {}
        if app is not None:
            self.install(app)

    # --- configuration ----------------------------------------------------------------------

    @property
    def url(self) -> str | None:
        """Return the configured URL (argument, TICKETS_URL), or None for the default."""
        if self._explicit_url is not None:
            return self._explicit_url
        found = app_setting(self.app, "TICKETS_URL")
        return str(found) if found else None

    @property
    def release(self) -> str | None:
        """Return the release: the argument, the RELEASE setting, or CELERIS_RELEASE."""
        if self._release is not None:
            return self._release
        settings = getattr(self.app, "settings", None)
        found = getattr(settings, "RELEASE", None) if settings is not None else None
        return str(found) if found else (os.environ.get("CELERIS_RELEASE") or None)

    @property
    def store(self) -> TicketStore:
        """Return the store, built (not yet connected) on first use."""
        if self._store is None:
            self._store = self._build_store()
        return self._store

    def _build_store(self) -> TicketStore:
        url = self.url
        if url is not None:
            scheme = url.partition("://")[0].partition("+")[0].lower()
            if scheme == "memory":
                from celeris.tickets.memory import MemoryStore

                return MemoryStore()
            if scheme not in _SQL_SCHEMES:
                raise TicketsConfigError(
                    f"tickets.E001: unknown TICKETS_URL scheme {scheme!r}; use memory://, "
                    "sqlite:///path or postgresql://..."
                )
        database = self._sql_database(url)
        from celeris.tickets.database import DatabaseStore

        return DatabaseStore(database)

    def _sql_database(self, url: str | None) -> Any:
        """Return the Database of the store: ``url``, the app's, or tickets.db."""
        database, own = battery_database(
            "tickets",
            url,
            app=self.app,
            database=self._database,
            root_path=self.root_path,
            metadata=_metadata,
            error=TicketsConfigError,
        )
        if own:
            self._owned_database = database
        return database

    @property
    def sentry_key(self) -> str:
        """Return the DSN's public key: the argument, else one derived from SECRET_KEY."""
        if self._sentry_key is None:
            secret = app_setting(self.app, "SECRET_KEY")
            if secret:
                raw = secret.encode() if isinstance(secret, str) else bytes(secret)
                digest = hmac.new(raw, b"celeris.tickets.sentry", hashlib.sha256)
                self._sentry_key = digest.hexdigest()[:32]
            else:
                # NOTE: without a SECRET_KEY the key lives as long as this process.
                self._sentry_key = secrets.token_hex(16)
        return self._sentry_key

    @property
    def dsn(self) -> str:
        """Return the DSN a Sentry SDK uses to send its events here."""
        scheme, _, host = self.base_url.rstrip("/").partition("://")
        prefix = (self.sentry_path or "").strip("/")
        path = f"/{prefix}" if prefix else ""
        return f"{scheme}://{self.sentry_key}@{host}{path}/{self.project_id}"

    def capturer(self) -> Capture:
        """Return the ticket builder, with the app's secret values to mask (read once)."""
        if self._capture is None:
            settings = getattr(self.app, "settings", None)
            self._capture = Capture(Redactor(secret_values(settings)), release=self.release)
        return self._capture

    # --- capture ---------------------------------------------------------------------------

    def capture(self, exc: BaseException, *, request: Any = None) -> Ticket | None:
        """Build the ticket of ``exc`` and queue it for the store; None if that failed."""
        try:
            ticket = self.capturer().ticket(exc, request=request, route=self._route_of(request))
        except Exception:
            log.exception("could not build the ticket of %r", exc)
            return None
        self.enqueue(ticket)
        return ticket

    def enqueue(self, ticket: Ticket) -> None:
        """Queue ``ticket`` for the background writer (bounded: the oldest goes first)."""
        buffer = self._buffer
        if len(buffer) == buffer.maxlen:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning(
                    "ticket buffer full (%d): %d ticket(s) dropped so far while the store is down",
                    buffer.maxlen,
                    self.dropped,
                )
        buffer.append(ticket)
        self._start_writer()

    @property
    def pending(self) -> int:
        """Return how many tickets wait in memory for the store."""
        return len(self._buffer)

    def _route_of(self, request: Any) -> str | None:
        if request is None or self.app is None:
            return None
        try:
            method, path = method_of(request), request.url.path
            found = self._route_in(self.app, method, path, "")
            root = request.scope.get("root_path") or ""
            if found is None and root and path.startswith(root):
                # NOTE: the app is itself mounted (or behind a root path): its routes are relative
                found = self._route_in(self.app, method, path[len(root) :] or "/", "")
            return found
        except Exception:
            return None

    def _route_in(self, app: Any, method: str, path: str, prefix: str) -> str | None:
        """Return the route pattern ``path`` matches in ``app`` or an App it mounts (prefixed)."""
        patterns = self._route_patterns
        for route in app.routes:
            if method not in route.methods:
                continue
            pattern = patterns.get(route.compiled.regex)
            if pattern is None:
                pattern = patterns[route.compiled.regex] = re.compile(route.compiled.regex)
            if pattern.fullmatch(path):
                return prefix + str(route.path)
        for mount in app.mounts:
            # NOTE: a mounted celeris App's errors reach these hooks too (see install)
            if isinstance(mount.app, App) and mount.path and mount.matches(path):
                inner = path[len(mount.path) :] or "/"
                return self._route_in(mount.app, method, inner, prefix + mount.path)
        return None

    # --- the background writer ---------------------------------------------------------------

    def _start_writer(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # NOTE: no loop (a script): flush() or the next request writes it
        task = self._task
        if task is None or task.done() or task.get_loop() is not loop:
            self._task = loop.create_task(self._write_loop())

    async def _write_loop(self) -> None:
        delay = self.retry_delay
        buffer = self._buffer
        solo = False  # after a refusal: one ticket at a time, to find the one refused
        while buffer:
            batch = builtins.list(buffer)[: 1 if solo else _BATCH]
            try:
                await self._bounded(self._write(batch), self.write_timeout)
            except Exception as error:
                if not await self._store_answers():
                    if not self._down:
                        self._down = True
                        log.warning(
                            "ticket store unreachable (%s: %s): %d ticket(s) kept in memory, "
                            "retrying",
                            type(error).__name__,
                            error,
                            len(buffer),
                        )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 30.0)
                    continue
                # NOTE: the store answers but refused this batch (or came back meanwhile): try
                # again one by one; a ticket refused three times is dropped, so a ticket the
                # store cannot take does not hold back the others.
                solo = True
                first = batch[0].id
                self._refusals[first] = self._refusals.get(first, 0) + 1
                if self._refusals[first] < 3:
                    await asyncio.sleep(self.retry_delay)
                    continue
                log.error("ticket %s could not be stored, dropped", first, exc_info=error)
                batch = batch[:1]
            self._refusals.clear()
            written = {ticket.id for ticket in batch}
            while buffer and buffer[0].id in written:
                buffer.popleft()
            delay = self.retry_delay
            if self._down:
                self._down = False
                log.warning("ticket store answers again: %d ticket(s) still to write", len(buffer))
            self._written += len(batch)
            await self._maybe_prune()

    async def _bounded(self, work: Coroutine[Any, Any, T], timeout: float) -> T:
        """Await ``work`` for at most ``timeout`` seconds, then give up on it.

        NOTE: not ``asyncio.wait_for``, which waits for the cancelled work to finish: a driver
        cleaning up a connection to a hung server (a rollback, a close) can take its own
        timeouts, and the writer must not wait for that. The abandoned work ends on its own.
        """
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            task.cancel()
            self._abandoned.add(task)
            task.add_done_callback(_forget(self._abandoned))
            raise TimeoutError(f"the ticket store did not answer within {timeout:g}s")
        return task.result()

    async def _store_answers(self) -> bool:
        try:
            await self._bounded(self._ping(), self.write_timeout)
        except Exception:
            return False
        return True

    async def _ping(self) -> None:
        await self._open_store()
        await self.store.count(None, None)

    async def _open_store(self) -> None:
        if self._store_open:
            return
        lock = self._open_locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:  # NOTE: the writer and a data call must not both create the tables
            if not self._store_open:
                await self.store.open()
                self._store_open = True

    async def _write(self, batch: builtins.list[Ticket]) -> None:
        await self._open_store()
        await self.store.add(batch, samples=self.samples)

    async def _maybe_prune(self) -> None:
        now = time.monotonic()
        if self._written < 200 and now - self._last_prune < self.prune_interval:
            return
        self._written, self._last_prune = 0, now
        try:
            await self._bounded(self.prune(), self.write_timeout * 5)
        except Exception as error:
            log.warning("could not prune tickets: %s: %s", type(error).__name__, error)

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait (at most ``timeout`` s) until queued tickets are stored; True if none is left."""
        deadline = time.monotonic() + timeout
        while self._buffer:
            self._start_writer()
            task = self._task
            left = deadline - time.monotonic()
            if task is None or left <= 0:
                return False
            done, _ = await asyncio.wait({task}, timeout=left)
            if not done:
                return False
        return True

    # --- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the store's tables (a store that is down is retried by the writer)."""
        fallback = self._current_fallback()
        if fallback is not None:
            self._fallback = fallback
        if self.app is not None:
            self.app.exception_handlers[500] = self.handle_error
        try:
            await self._bounded(self._open_store(), self.write_timeout * 2)
        except Exception as error:
            log.warning(
                "ticket store not reachable at start-up (%s: %s); tickets wait in memory",
                type(error).__name__,
                error,
            )
            return
        if self._buffer:
            self._start_writer()

    async def close(self, timeout: float = 3.0) -> None:
        """Write what is queued (at most ``timeout`` s), then let the store go."""
        if not await self.flush(timeout):
            log.warning(
                "%d ticket(s) not stored at shutdown: the store did not answer", len(self._buffer)
            )
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._task = None
        if self._abandoned:  # NOTE: writes given up on: a moment to end, then cancelled again
            await asyncio.wait(set(self._abandoned), timeout=1.0)
        if self._store is not None and self._store_open:
            await self._store.close()
        self._store_open = False
        if self._owned_database is not None:
            await self._owned_database.disconnect()

    async def __aenter__(self) -> Tickets:
        await self._open_store()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def _current_fallback(self) -> Any:
        """Return the app's own 500 handler (registered after Tickets), to keep answering with."""
        if self.app is None:
            return None
        handlers = self.app.exception_handlers
        for key in (500, Exception):
            handler = handlers.get(key)
            if (
                handler is not None
                and getattr(handler, "__func__", None) is not Tickets.handle_error
            ):
                return handler
        return None

    def install(self, app: Any) -> None:
        """Attach to ``app``: its two error hooks, the Sentry routes, start-up and shutdown."""
        self.app = app
        app.state.tickets = self
        self._fallback = self._current_fallback()
        # NOTE: the public hooks: the core calls them only for an unhandled error, so a request
        # or a WebSocket that does not fail never reaches Tickets.
        app.add_exception_handler(500, self.handle_error)
        app.on_websocket_error(self.handle_websocket_error)
        app.on_startup(self.open)
        handlers = getattr(getattr(app, "lifespan", None), "shutdown_handlers", None)
        if isinstance(handlers, list):
            handlers.insert(0, self.close)  # NOTE: before the Database it writes to closes
        else:
            app.on_shutdown(self.close)
        if self.sentry_path is not None:
            SentryEndpoint(self).install(app)

    # --- the 500 answer ------------------------------------------------------------------------

    async def handle_error(self, request: Request, exc: Exception) -> Response:
        """Answer an unhandled exception with a 500 that carries its ticket id."""
        accept = request.headers.get("accept")
        if isinstance(exc, HTTPError):  # NOTE: a deliberate HTTPError(500): answered as raised
            return exc.to_response(accept)
        ticket = self.capture(exc, request=request)
        ticket_id = ticket.id if ticket is not None else None
        if ticket_id is not None:
            request.state.ticket = ticket_id  # NOTE: error templates show it
        fallback = self._fallback
        if fallback is not None:
            response = await _call(fallback, request, exc)
            if ticket_id is not None:
                response.headers["x-ticket"] = ticket_id
            return response
        if getattr(self.app, "debug", False) and ticket is not None:
            return _debug_response(ticket, prefers_html(accept))
        extra = {"ticket": ticket_id} if ticket_id is not None else None
        if prefers_html(accept):
            detail = f"Error ticket {ticket_id}" if ticket_id else None
            return HTTPError(500, detail).to_response(accept)
        return HTTPError(500, extra=extra).to_response()

    async def handle_websocket_error(self, websocket: WebSocket, exc: Exception) -> None:
        """Make the ticket of an unhandled exception in a WebSocket handler.

        The core has closed the connection (1011) already: the client sees what it sees
        without Tickets. The id is in ``websocket.state.ticket``.
        """
        ticket = self.capture(exc, request=websocket)
        if ticket is not None:
            websocket.state.ticket = ticket.id

    # --- the data API (the admin's) -----------------------------------------------------------

    async def list(
        self,
        search: str | None = None,
        limit: int = 50,
        before: str | None = None,
        *,
        resolved: bool | None = None,
    ) -> builtins.list[TicketGroup]:
        """Return ticket groups, newest last seen first; ``before=groups[-1].cursor`` pages on."""
        if not 1 <= limit <= 1000:
            raise ValueError("limit must be between 1 and 1000")
        key = read_cursor(before) if before else None
        await self._open_store()
        return await self.store.list(search or None, limit, key, resolved)

    async def get(self, group_id: str) -> TicketGroup | None:
        """Return one group with its samples (newest first), or None."""
        await self._open_store()
        return await self.store.get(group_id)

    async def ticket(self, ticket_id: str) -> Ticket | None:
        """Return one occurrence by the id the 500 answer carried, or None."""
        await self._open_store()
        return await self.store.ticket(ticket_id)

    async def resolve(self, group_id: str, resolved: bool = True) -> bool:
        """Mark a group resolved (it opens again if the error recurs); False if unknown."""
        await self._open_store()
        return await self.store.resolve(group_id, resolved)

    async def delete(self, group_id: str) -> bool:
        """Delete a group and its samples; False if unknown."""
        await self._open_store()
        return await self.store.delete(group_id)

    async def count(self, search: str | None = None, *, resolved: bool | None = None) -> int:
        """Return the number of groups (matching ``search``)."""
        await self._open_store()
        return await self.store.count(search or None, resolved)

    async def purge(self) -> int:
        """Delete every group and ticket; return how many groups there were."""
        await self._open_store()
        return await self.store.purge()

    async def prune(self) -> int:
        """Apply ``retention`` and ``max_tickets`` now; return how many tickets went."""
        await self._open_store()
        cutoff = micros(datetime.datetime.now(datetime.UTC)) - int(self.retention * _DAY)
        return await self.store.prune(max_tickets=self.max_tickets, older_than=cutoff)

    def __repr__(self) -> str:
        return f"Tickets({self.url or 'default'!r}, pending={len(self._buffer)})"


def _forget(tasks: set[asyncio.Future[Any]]) -> Callable[[asyncio.Future[Any]], None]:
    def done(task: asyncio.Future[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled():
            task.exception()  # NOTE: retrieved, so asyncio does not log it as lost

    return done


async def _call(handler: Any, request: Request, exc: Exception) -> Response:
    if inspect.iscoroutinefunction(handler):
        result = await handler(request, exc)
    else:
        result = await run_in_threadpool(handler, request, exc)
        if inspect.isawaitable(result):
            result = await result
    if not isinstance(result, Response):
        raise TypeError(f"the 500 handler returned {type(result).__name__}, not a Response")
    return result


def _debug_response(ticket: Ticket, browser: bool) -> Response:
    """Answer with the ticket itself: frames with source and (redacted) locals."""
    if not browser:
        problem = {
            "type": "about:blank",
            "title": "Internal Server Error",
            "status": 500,
            "detail": f"{ticket.exc_type}: {ticket.message}",
            "ticket": ticket.id,
            "frames": [
                {k: frame[k] for k in ("filename", "lineno", "function", "locals")}
                for frame in ticket.frames
            ],
        }
        return ProblemResponse(problem, 500)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>500 Internal Server Error</title>"
        "<style>body{font-family:sans-serif;margin:2em}pre{background:#f6f6f6;padding:.5em;"
        "overflow:auto}table{font-size:.9em}</style></head><body>",
        f"<h1>{html.escape(ticket.exc_type)}: {html.escape(ticket.message)}</h1>",
        f"<p>Ticket <code>{html.escape(ticket.id)}</code></p>",
    ]
    for frame in reversed(ticket.frames):
        source = "\n".join(
            f"{'>' if line['lineno'] == frame['lineno'] else ' '} {line['lineno']:>5} {line['line']}"
            for line in frame["context_lines"]
        )
        rows = "".join(
            f"<tr><th>{html.escape(name)}</th><td><code>{html.escape(value)}</code></td></tr>"
            for name, value in frame["locals"].items()
        )
        parts.append(
            f"<h3>{html.escape(str(frame['filename']))}:{frame['lineno']} in "
            f"{html.escape(str(frame['function']))}</h3><pre>{html.escape(source)}</pre>"
            f"<table>{rows}</table>"
        )
    parts.append("</body></html>")
    return HTMLResponse("".join(parts), 500)
