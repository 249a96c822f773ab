"""Tasks that run after the response has been sent."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any

from celeris.core.concurrency import run_in_threadpool

__all__ = ["BackgroundTask", "BackgroundTasks"]

logger = logging.getLogger("celeris.background")


class BackgroundTask:
    """One call, sync or async, to make after the response."""

    __slots__ = ("args", "func", "is_async", "kwargs")

    def __init__(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None)  # noqa: B004 - async callable objects
        )

    async def __call__(self) -> None:
        """Run the task (sync functions in the thread pool)."""
        if self.is_async:
            await self.func(*self.args, **self.kwargs)
        else:
            result = await run_in_threadpool(self.func, *self.args, **self.kwargs)
            if inspect.isawaitable(result):
                await result


class BackgroundTasks:
    """An ordered list of tasks; one failing task is logged and the others still run."""

    __slots__ = ("tasks",)

    def __init__(self, tasks: list[BackgroundTask] | None = None) -> None:
        self.tasks: list[BackgroundTask] = list(tasks) if tasks else []

    def add_task(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Queue ``func(*args, **kwargs)`` to run after the response."""
        self.tasks.append(BackgroundTask(func, *args, **kwargs))

    def __len__(self) -> int:
        return len(self.tasks)

    def __bool__(self) -> bool:
        return bool(self.tasks)

    async def run(self) -> None:
        """Run every queued task in order."""
        # Tasks added while running (a task adding a task) run too.
        i = 0
        while i < len(self.tasks):
            task = self.tasks[i]
            i += 1
            try:
                await task()
            except Exception:
                logger.exception(
                    "background task %r failed", getattr(task.func, "__qualname__", task.func)
                )

    async def __call__(self) -> None:
        """Run every queued task in order."""
        await self.run()
