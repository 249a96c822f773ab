"""A fair connection pool: waiters are served first come, first served.

SQLAlchemy's asyncio pool hands a returned connection to whoever asks next: a request that
arrives (or a handler that releases and re-acquires) in the same loop tick takes it ahead of
requests already waiting, so under load some requests wait for seconds while others go
straight through. ``FairPool`` hands a returned connection directly to the oldest waiter;
a newcomer queues behind it. The wait is bounded (``PoolOptions.timeout``): past it the
request answers 503 with ``Retry-After``.

``pool_sizes`` derives each worker's pool from a connection budget shared by the workers.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from typing import Any, TypeVar

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import queue as sa_queue
from sqlalchemy.util.concurrency import await_

__all__ = ["FairPool", "FairQueue", "pool_sizes", "worker_count"]

T = TypeVar("T")

_MAX_SIZE = 10  # connections kept open per worker at most (and as many more under bursts)


class FairQueue(sa_queue.QueueCommon[T]):
    """The pool's queue of idle connections, with a FIFO line of waiters."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize
        self.use_lifo = use_lifo
        self._items: deque[T] = deque()
        self._waiters: deque[asyncio.Future[T]] = deque()

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._items)

    def qsize(self) -> int:
        return len(self._items)

    @property
    def waiting(self) -> int:
        """Return how many acquirers are waiting for a connection."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    def put_nowait(self, item: T) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                # NOTE: hand-off, not a wake-up: the connection is the waiter's before any
                # other task runs, so a newcomer in this same tick finds the queue empty.
                waiter.set_result(item)
                return
        if self.full():
            raise sa_queue.Full()
        self._items.append(item)

    def put(self, item: T, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # NOTE: the pool only returns what it took: never full, no wait

    def get_nowait(self) -> T:
        if not self._items:
            raise sa_queue.Empty()
        return self._items.pop() if self.use_lifo else self._items.popleft()

    def get(self, block: bool = True, timeout: float | None = None) -> T:
        if self._items or not block:
            return self.get_nowait()
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[T] = loop.create_future()
        self._waiters.append(waiter)
        expiry = loop.call_later(timeout, _expire, waiter) if timeout is not None else None
        try:
            return await_(self._wait(waiter))
        finally:
            if expiry is not None:
                expiry.cancel()

    async def _wait(self, waiter: asyncio.Future[T]) -> T:
        try:
            return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                # NOTE: cancelled after the hand-off: pass the connection on, never lose it.
                self.put_nowait(waiter.result())
            else:
                waiter.cancel()
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            raise


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(sa_queue.Empty())


class FairPool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio queue pool with first-come, first-served waiters."""

    _queue_class = FairQueue  # type: ignore[assignment]

    @property
    def waiting(self) -> int:
        """Return how many acquirers are waiting for a connection."""
        queue = self._pool
        return queue.waiting if isinstance(queue, FairQueue) else 0


def worker_count() -> int:
    """Return the number of server worker processes (``CELERIS_WORKERS``, ``WEB_CONCURRENCY``)."""
    for name in ("CELERIS_WORKERS", "WEB_CONCURRENCY"):
        raw = os.environ.get(name, "")
        if raw.isdigit() and int(raw) > 0:
            return int(raw)
    return 1


def pool_sizes(max_connections: int, workers: int) -> tuple[int, int]:
    """Return (size, max_overflow) per worker so all workers stay within ``max_connections``."""
    per_worker = max(1, max_connections // max(1, workers))
    size = max(1, min(_MAX_SIZE, per_worker // 2))
    overflow = max(0, min(_MAX_SIZE, per_worker - size))
    return size, overflow
