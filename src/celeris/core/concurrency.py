"""The bounded thread pool where sync handlers, dependencies and file I/O run."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

__all__ = [
    "DEFAULT_POOL_SIZE",
    "configure_threadpool",
    "iterate_in_threadpool",
    "run_in_threadpool",
    "threadpool_size",
]

P = ParamSpec("P")
T = TypeVar("T")

DEFAULT_POOL_SIZE = 40

_lock = threading.Lock()
_size = DEFAULT_POOL_SIZE
_executor: ThreadPoolExecutor | None = None


def configure_threadpool(size: int) -> None:
    """Set the number of worker threads (the old pool finishes its queued work, then exits)."""
    global _size, _executor
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"thread pool size must be an integer >= 1, got {size!r}")
    with _lock:
        old, _executor, _size = _executor, None, size
    if old is not None:
        old.shutdown(wait=False)


def threadpool_size() -> int:
    """Return the configured number of worker threads."""
    return _size


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    executor = _executor
    if executor is None:
        with _lock:
            if _executor is None:
                _executor = ThreadPoolExecutor(
                    max_workers=_size, thread_name_prefix="celeris-worker"
                )
            executor = _executor
    return executor


async def run_in_threadpool(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run the sync ``fn(*args, **kwargs)`` in the pool; context variables are carried over."""
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    call = functools.partial(ctx.run, fn, *args, **kwargs)
    return await loop.run_in_executor(_get_executor(), call)


_STOP = object()


def _next(iterator: Iterator[T]) -> T | object:
    try:
        return next(iterator)
    except StopIteration:
        return _STOP


async def iterate_in_threadpool(iterable: Iterable[T]) -> AsyncIterator[T]:
    """Iterate a sync (possibly blocking) iterable, each ``next()`` running in the pool."""
    iterator = iter(iterable)
    try:
        while True:
            item = await run_in_threadpool(_next, iterator)
            if item is _STOP:
                return
            yield item  # type: ignore[misc]
    finally:
        # Closing early (a client gone) runs the generator's clean-up, off the loop too.
        close = getattr(iterator, "close", None)
        if close is not None:
            try:
                await run_in_threadpool(close)
            except ValueError:  # still inside next() in a worker thread
                pass
