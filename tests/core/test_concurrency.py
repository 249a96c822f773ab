from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest

from celeris.core import concurrency
from celeris.core.concurrency import configure_threadpool, iterate_in_threadpool, run_in_threadpool

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


async def test_runs_off_the_loop_thread_with_context() -> None:
    var.set("from-caller")
    main = threading.get_ident()

    def work(a: int, *, b: int) -> tuple[int, str, bool]:
        return a + b, var.get(), threading.get_ident() != main

    assert await run_in_threadpool(work, 1, b=2) == (3, "from-caller", True)


async def test_exceptions_propagate() -> None:
    def boom() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        await run_in_threadpool(boom)


async def test_iterate_in_threadpool() -> None:
    def gen():  # type: ignore[no-untyped-def]
        yield 1
        time.sleep(0.001)
        yield 2

    assert [x async for x in iterate_in_threadpool(gen())] == [1, 2]
    assert [x async for x in iterate_in_threadpool([])] == []


async def test_configure_threadpool_bounds_concurrency() -> None:
    try:
        configure_threadpool(2)
        assert concurrency.threadpool_size() == 2
        active = 0
        peak = 0
        lock = threading.Lock()

        def work() -> None:
            nonlocal active, peak
            with lock:
                active += 1
                peak = max(peak, active)
            time.sleep(0.02)
            with lock:
                active -= 1

        await asyncio.gather(*(run_in_threadpool(work) for _ in range(6)))
        assert peak <= 2
    finally:
        configure_threadpool(concurrency.DEFAULT_POOL_SIZE)


@pytest.mark.parametrize("bad", [0, -1, True, 1.5])
def test_configure_rejects_bad_sizes(bad: object) -> None:
    with pytest.raises(ValueError, match="thread pool size"):
        configure_threadpool(bad)  # type: ignore[arg-type]


async def test_iterate_in_threadpool_closes_sync_generator_early() -> None:
    closed = threading.Event()

    def gen():  # type: ignore[no-untyped-def]
        try:
            while True:
                yield 1
        finally:
            closed.set()

    agen = iterate_in_threadpool(gen())
    assert await anext(agen) == 1
    await agen.aclose()
    assert closed.is_set()
