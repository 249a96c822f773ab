"""Running request handlers without a Task per request: eager start, on Python 3.11 too.

A handler must see a real current Task from its first line: ``asyncio.timeout()``,
``asyncio.TaskGroup`` and anyio cancel scopes all depend on it. A new Task per request costs
about 0.9 us on Python 3.11 (its name, the all-tasks ``WeakSet``, a loop round trip before its
first step), and during a burst every request in flight holds one. Instead a worker keeps a
small pool of long-lived *driver* Tasks:

- A new request's handler is stepped at once, inside the protocol callback, with a driver
  entered as the current task (what Python 3.12's eager tasks do). Most handlers finish in
  that one step, and the driver goes straight back to the pool.
- A handler that suspends keeps its driver: the driver's Task steps it to the end, so the task
  a handler saw at its first line is the task that runs it and that ``cancel()`` reaches.
- Every step of a request runs in that request's own copy of the context.
- While any handler is suspended, a new one is handed to a driver's Task instead of being
  stepped at once, so that it queues behind the waiters already woken (fairness: see
  ``Drivers.start``). Handlers that never suspend keep the eager start.

The price: like threads in a thread pool, a driver Task serves many requests one after the
other; a reference to ``asyncio.current_task()`` kept past the end of its request points at a
task that has moved on.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import Awaitable, Callable, Generator
from contextvars import Context
from typing import Any, Final

# NOTE: asyncio's own switches for "the current task" (C implementations on CPython).
_Switch = Callable[[asyncio.AbstractEventLoop, "asyncio.Task[Any]"], None]
_enter_task: Final[_Switch] = asyncio.tasks._enter_task
_leave_task: Final[_Switch] = asyncio.tasks._leave_task

Finish = Callable[[BaseException | None], None]
# A handler as the driver steps it: an iterator over what it awaits, with send() and throw().
# For a CPython coroutine that is its __await__() wrapper; a coroutine compiled by mypyc or
# Cython is its own.
Steps = Generator[Any, None, None]

# PERF: the first step is next(steps, _DONE), not send(None): a handler that ends in it (most
# do) then raises no StopIteration. Catching one cost ~2,500 instructions per request in
# compiled code (mypyc records a traceback entry first) and ~1,000 in the interpreter.
_DONE: Final[Any] = object()
# the coroutine classes, other than CPython's, whose instances are their own Steps
_SELF_STEPPING: Final[set[type]] = set()
# PERF: Final names are C statics in the compiled build (a module or builtins lookup otherwise)
_COROUTINE: Final = types.CoroutineType
_next: Final = next
_NOT_STARTED: Final[Any] = object()  # a queued job whose coroutine has not run yet
_KEEP_IDLE: Final = 8  # parked drivers kept after a burst; trim() ends the others


@types.coroutine
def _suspend(waiting: Any) -> Generator[Any, None, None]:
    """Hand what the handler yielded (a future, or None) to the driver's Task, once."""
    yield waiting


async def _await(awaitable: Awaitable[None]) -> None:
    await awaitable


async def _not_awaitable(value: object) -> None:
    # NOTE: checked here, not left to ``await``: compiled by mypyc, _await() would run a plain
    # generator as if it were a coroutine.
    raise TypeError(f"a handler must be awaitable, not {type(value).__name__}")


def _steps_of(handling: Awaitable[None]) -> Steps:
    """Return ``handling`` as the driver steps it (see ``Steps``)."""
    cls = handling.__class__
    if cls is _COROUTINE:
        return handling.__await__()
    if cls in _SELF_STEPPING:
        return handling  # type: ignore[return-value]
    if not callable(getattr(cls, "__await__", None)):  # e.g. a plain generator
        return _steps_of(_not_awaitable(handling))
    if all(callable(getattr(cls, name, None)) for name in ("__next__", "send", "throw")):
        _SELF_STEPPING.add(cls)
        return handling  # type: ignore[return-value]
    return _steps_of(_await(handling))


class _Job:
    __slots__ = ("context", "coro", "finish", "waiting")

    def __init__(self, coro: Steps, context: Context, finish: Finish, waiting: Any) -> None:
        self.coro = coro
        self.context = context
        self.finish = finish
        self.waiting = waiting


class Drivers:
    """A worker's pool of driver Tasks."""

    __slots__ = ("current", "free", "loop", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.free: list[_Driver] = []
        self.current: _Driver | None = None  # the driver stepping a handler right now
        self.waiting = 0  # handlers suspended in their drivers' Tasks right now

    def start(self, handling: Awaitable[None], context: Context, finish: Finish) -> None:
        """Run ``handling`` until it first suspends or ends; ``finish(error)`` runs at its end."""
        # PERF: inline for the usual kind, a CPython coroutine.
        if handling.__class__ is _COROUTINE:
            coro: Steps = handling.__await__()
        else:
            coro = _steps_of(handling)
        current = self.current
        if current is not None:
            # Started from inside a driver's step (a pipelined request, begun when the one
            # before it ended): that driver runs it next.
            current.queue.append(_Job(coro, context, finish, _NOT_STARTED))
            self.waiting += 1
            return
        # PERF: _take() and _release() inlined for the usual case (a parked driver, and a
        # handler that ends in its first step): two calls fewer per request.
        free = self.free
        driver = free.pop() if free else self._take()
        if self.waiting:
            # FAIRNESS: while other handlers wait (on a pool, a lock, a queue), a new one
            # stepped at once could take what was just handed to a waiter whose wake-up is
            # already scheduled (asyncio.Queue puts such a waiter back at the end of the line:
            # a tail of seconds under load). Started from the driver's Task instead, it takes
            # its turn after them, as a Task per request would.
            driver.hand_over(_Job(coro, context, finish, _NOT_STARTED))
            return
        task = driver.task
        assert task is not None
        loop = self.loop
        try:
            _enter_task(loop, task)
        except RuntimeError:
            # Called from inside some other Task, not from a transport callback as the
            # server does: the driver runs it on its next turn.
            driver.hand_over(_Job(coro, context, finish, _NOT_STARTED))
            return
        self.current = driver
        try:
            awaited = context.run(_next, coro, _DONE)
        except BaseException as exc:
            self._release(driver)
            _finish_error(finish, exc)
            return
        finally:
            self.current = None
            _leave_task(loop, task)
        if awaited is _DONE:
            finish(None)
            if driver.queue or task.cancelling():
                self._release(driver)
            else:
                free.append(driver)
            return
        driver.hand_over(_Job(coro, context, finish, awaited))

    def _release(self, driver: _Driver) -> None:
        if driver.queue:
            driver.wake()  # finish() started the next request on it
        elif driver.task is not None and not driver.task.cancelling():
            self.free.append(driver)
        # else: the handler cancelled its own task and ended; that cancel must not reach the
        # next request, so this driver is not reused: it wakes, cancelled, and ends.

    def adopt(self, job: _Job) -> None:
        """Run a job whose driver ended before it could."""
        self._take().hand_over(job)

    def _take(self) -> _Driver:
        """Return a parked driver from the pool, or a new one with its Task started."""
        if self.free:
            return self.free.pop()
        driver = _Driver(self)
        driver.start_task()
        return driver

    def trim(self) -> None:
        """End the parked drivers beyond a few (after a burst of slow handlers)."""
        while len(self.free) > _KEEP_IDLE:
            self.free.pop().stop()


class _Driver:
    """One long-lived Task that steps handlers which suspended, one job at a time."""

    __slots__ = ("park", "pool", "queue", "stopping", "task")

    def __init__(self, pool: Drivers) -> None:
        self.pool = pool
        self.task: asyncio.Task[None] | None = None
        self.queue: list[_Job] = []
        self.park: asyncio.Future[None] | None = None
        self.stopping = False

    def start_task(self) -> asyncio.Task[None]:
        """Make the driver's Task."""
        task = self.task = self.pool.loop.create_task(self.drive())
        task.add_done_callback(self._ended)
        return task

    def _ended(self, task: asyncio.Task[None]) -> None:
        # NOTE: a done callback, not a finally: a Task cancelled before its first step never
        # runs its coroutine at all.
        pool = self.pool
        if self in pool.free:
            pool.free.remove(self)
        self.task = None
        queue, self.queue = self.queue, []
        for job in queue:
            pool.waiting -= 1  # adopt() hands it over again
            pool.adopt(job)

    def hand_over(self, job: _Job) -> None:
        """Give the driver a job to run in its Task (it is not in the free list meanwhile)."""
        self.queue.append(job)
        self.pool.waiting += 1  # until its end in _run
        self.wake()

    def stop(self) -> None:
        """End the driver's Task once it has nothing left to run."""
        self.stopping = True
        self.wake()

    def wake(self) -> None:
        """Wake the parked Task (to run its queue, or to stop)."""
        park = self.park
        if park is not None and not park.done():
            park.set_result(None)

    async def drive(self) -> None:
        """The Task's body: wait for jobs, run each to its end, go back to the pool."""
        task = self.task  # set by start_task before this first runs
        pool = self.pool
        error: BaseException | None = None
        while True:
            if not self.queue:
                if self.stopping:
                    return
                park = self.park = pool.loop.create_future()
                try:
                    await park
                except asyncio.CancelledError as exc:
                    if not self.queue:
                        return  # cancelled with nothing to run (e.g. loop shutdown)
                    error = exc  # a cancel meant for the handler that just suspended
                finally:
                    self.park = None
                continue
            await self._run(self.queue.pop(0), error)
            error = None
            if task is not None and task.cancelling():
                # A cancel that no timeout took back: meant for the Task itself (the loop is
                # shutting down), or swallowed by the handler. Either way this Task ends;
                # anything queued on it moves to another driver (see _ended).
                return
            if not self.queue and not self.stopping:
                pool.free.append(self)

    async def _run(self, job: _Job, error: BaseException | None) -> None:
        try:
            await self._step_to_end(job, error)
        finally:
            self.pool.waiting -= 1

    async def _step_to_end(self, job: _Job, error: BaseException | None) -> None:
        coro, context, waiting = job.coro, job.context, job.waiting
        pool = self.pool
        while True:
            if error is None and waiting is not _NOT_STARTED:
                try:
                    await _suspend(waiting)
                except BaseException as exc:  # the awaited future's error, or a cancel
                    error = exc
            pool.current = self
            try:
                if error is None:
                    waiting = context.run(coro.send, None)
                else:
                    waiting = context.run(coro.throw, error)
                    error = None
            except StopIteration:
                job.finish(None)
                return
            except BaseException as exc:
                _finish_error(job.finish, exc)
                return
            finally:
                pool.current = None


def _finish_error(finish: Finish, exc: BaseException) -> None:
    finish(exc)
    if not isinstance(exc, Exception | asyncio.CancelledError):
        raise exc  # KeyboardInterrupt, SystemExit: after the request is closed out
