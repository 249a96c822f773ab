"""Application lifespan: startup/shutdown handlers and ``lifespan=`` context managers."""

from __future__ import annotations

import inspect
import logging
import traceback
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any

from celeris.core.concurrency import run_in_threadpool
from celeris.types import Receive, Scope, Send

logger = logging.getLogger("celeris.lifespan")

Handler = Callable[[], Any]
LifespanFactory = Callable[..., AbstractAsyncContextManager[Mapping[str, Any] | None]]


async def _run(handler: Handler) -> None:
    if inspect.iscoroutinefunction(handler):
        await handler()
        return
    result = await run_in_threadpool(handler)
    if inspect.isawaitable(result):
        await result


class Lifespan:
    """Startup and shutdown of one application."""

    def __init__(
        self,
        app: Any,
        lifespan: LifespanFactory | None = None,
        on_startup: Sequence[Handler] | None = None,
        on_shutdown: Sequence[Handler] | None = None,
        children: Callable[[], Sequence[Lifespan]] | None = None,
    ) -> None:
        self.app = app
        # NOTE: mounted celeris apps start after and stop before their parent.
        self.children = children
        self.factory = lifespan
        self.startup_handlers: list[Handler] = list(on_startup or ())
        self.shutdown_handlers: list[Handler] = list(on_shutdown or ())
        self._stack: AsyncExitStack | None = None
        self._started: list[Lifespan] = []

    def _enter(self) -> AbstractAsyncContextManager[Mapping[str, Any] | None]:
        assert self.factory is not None
        takes_app = bool(inspect.signature(self.factory).parameters)
        return self.factory(self.app) if takes_app else self.factory()

    async def startup(self) -> dict[str, Any]:
        """Run startup handlers, then enter ``lifespan``; return the state it yielded."""
        for handler in self.startup_handlers:
            await _run(handler)
        state: dict[str, Any] = {}
        if self.factory is not None:
            self._stack = AsyncExitStack()
            yielded = await self._stack.enter_async_context(self._enter())
            if yielded is not None:
                if not isinstance(yielded, Mapping):
                    raise TypeError(
                        f"lifespan must yield a mapping or None, not {type(yielded).__name__}"
                    )
                state.update(yielded)
        for child in self.children() if self.children else ():
            state.update(await child.startup())
            self._started.append(child)
        return state

    async def shutdown(self) -> None:
        """Stop mounted apps, leave ``lifespan``, then run shutdown handlers."""
        started, self._started = self._started, []
        for child in reversed(started):
            await child.shutdown()
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.aclose()
        for handler in self.shutdown_handlers:
            await _run(handler)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Speak the ASGI lifespan protocol."""
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        try:
            state = await self.startup()
        except Exception as exc:
            logger.exception("application startup failed")
            text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            await send({"type": "lifespan.startup.failed", "message": text})
            return
        shared = scope.get("state")
        if isinstance(shared, dict):
            shared.update(state)
        else:
            # NOTE: a server without lifespan state support: keep the values on app.state.
            for key, value in state.items():
                setattr(self.app.state, key, value)
        await send({"type": "lifespan.startup.complete"})
        message = await receive()
        try:
            await self.shutdown()
        except Exception as exc:
            logger.exception("application shutdown failed")
            text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            await send({"type": "lifespan.shutdown.failed", "message": text})
            return
        await send({"type": "lifespan.shutdown.complete"})
