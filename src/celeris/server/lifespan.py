"""ASGI lifespan: run the app's startup before serving and its shutdown after."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from celeris.types import ASGIApp, LifespanScope, Message

logger = logging.getLogger("celeris.error")


class LifespanError(RuntimeError):
    """The app's lifespan startup (or shutdown) failed; the server must not serve."""


class Lifespan:
    """Drive one ``lifespan`` scope of an ASGI app."""

    __slots__ = (
        "app",
        "error",
        "failed",
        "inbox",
        "shutdown_done",
        "startup_done",
        "state",
        "supported",
        "task",
    )

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.startup_done = asyncio.Event()
        self.shutdown_done = asyncio.Event()
        self.supported = True
        self.failed = False
        self.error = ""
        self.task: asyncio.Task[None] | None = None

    async def startup(self) -> None:
        """Run startup; raise ``LifespanError`` with the app's message if it fails."""
        self.task = asyncio.get_running_loop().create_task(self._main())
        await self.inbox.put({"type": "lifespan.startup"})
        await self.startup_done.wait()
        if self.failed:
            raise LifespanError(f"Application startup failed: {self.error}")

    async def shutdown(self) -> None:
        """Run shutdown; log (not raise) a failure so the process still exits."""
        if not self.supported or self.task is None:
            return
        await self.inbox.put({"type": "lifespan.shutdown"})
        await self.shutdown_done.wait()
        if self.failed:
            logger.error("Application shutdown failed: %s", self.error)

    async def _main(self) -> None:
        scope: LifespanScope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        received = 0

        async def receive() -> Message:
            nonlocal received
            received += 1
            return await self.inbox.get()

        try:
            await self.app(scope, receive, self.send)  # type: ignore[arg-type]
        except Exception as exc:
            if received == 0:
                # The app does not speak lifespan: serve without it (ASGI spec).
                self.supported = False
                logger.debug("ASGI 'lifespan' unsupported: %r", exc)
            else:
                self.failed = True
                self.error = f"{type(exc).__name__}: {exc}"
                logger.error("Exception in 'lifespan' protocol", exc_info=exc)
        finally:
            self.startup_done.set()
            self.shutdown_done.set()

    async def send(self, message: Message) -> None:
        """Take the app's startup/shutdown completion messages."""
        kind = message["type"]
        if kind == "lifespan.startup.complete":
            self.startup_done.set()
        elif kind == "lifespan.startup.failed":
            self.failed = True
            self.error = str(message.get("message", ""))
            self.startup_done.set()
        elif kind == "lifespan.shutdown.complete":
            self.shutdown_done.set()
        elif kind == "lifespan.shutdown.failed":
            self.failed = True
            self.error = str(message.get("message", ""))
            self.shutdown_done.set()
        else:
            raise RuntimeError(f"unexpected lifespan message {kind!r}")
