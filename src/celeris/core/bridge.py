"""Run a mounted ASGI app as a ``Response``, so the parent's function middleware wraps it.

With ``@app.middleware`` functions or hooks, a request for a mounted app goes through the
parent's pipeline like a route (as in Starlette): ``call_next`` starts the mounted app and
returns a ``MountedResponse`` once the app has sent ``http.response.start``. Middleware may
read or change its status and headers; sending it forwards the app's body messages.
Without function middleware the app calls mounts directly (no bridge at all).
"""

from __future__ import annotations

import asyncio
import contextlib

from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.types import ASGIApp, FastRequest, Message, Scope

__all__ = ["MountedResponse", "start_mounted"]


class MountedResponse(Response):
    """The response of a mounted ASGI app: its start message now, its body when sent."""

    __slots__ = ("_messages", "_task")

    def __init__(
        self, start: Message, messages: asyncio.Queue[Message | None], task: asyncio.Task[None]
    ) -> None:
        super().__init__(None, start["status"])
        self.raw_headers = [(bytes(k), bytes(v)) for k, v in start.get("headers", ())]
        self._messages = messages
        self._task = task

    async def send_to(self, conn: FastRequest) -> None:
        """Send the (possibly changed) start, then forward the app's body messages."""
        await conn.send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        messages = self._messages
        while True:
            message = await messages.get()
            messages.task_done()
            if message is None:
                break
            await conn.send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                break
        await self._task

    async def aclose(self) -> None:
        """Stop the mounted app if its response was never sent (middleware replaced it)."""
        task = self._task
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            await task


async def start_mounted(app: ASGIApp, scope: Scope, request: Request) -> MountedResponse:
    """Start ``app`` on ``scope``; return its response once it has sent its start message.

    A body the parent already read (a hook called ``await request.body()``) is replayed.
    Raises whatever the app raised before starting its response.
    """
    conn = request.conn
    consumed = request.body_read()
    pending = [consumed] if consumed is not None else []

    async def receive() -> Message:
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": False}
        return await conn.receive()

    # PERF: every send waits until the message was forwarded (join): the app streams at the
    # client's pace instead of filling memory, as when it is called directly.
    messages: asyncio.Queue[Message | None] = asyncio.Queue()

    async def send(message: Message) -> None:
        messages.put_nowait(message)
        await messages.join()

    async def run() -> None:
        try:
            await app(scope, receive, send)
        finally:
            messages.put_nowait(None)

    task = asyncio.ensure_future(run())
    first = await messages.get()
    messages.task_done()
    if first is None:
        await task  # raises the app's error, if any
        raise RuntimeError(f"mounted app {app!r} returned without sending a response")
    if first["type"] != "http.response.start":
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise RuntimeError(f"mounted app {app!r} sent {first['type']!r} before its response start")
    return MountedResponse(first, messages, task)
