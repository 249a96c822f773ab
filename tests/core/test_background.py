from __future__ import annotations

import logging

import pytest

from celeris.core.background import BackgroundTask, BackgroundTasks


async def test_runs_sync_and_async_in_order() -> None:
    calls: list[object] = []

    async def a(x: int) -> None:
        calls.append(("a", x))

    def s(x: int, *, y: int) -> None:
        calls.append(("s", x, y))

    tasks = BackgroundTasks()
    assert not tasks
    tasks.add_task(a, 1)
    tasks.add_task(s, 2, y=3)
    assert len(tasks) == 2
    await tasks()
    assert calls == [("a", 1), ("s", 2, 3)]


async def test_failing_task_is_logged_and_others_run(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def bad() -> None:
        raise RuntimeError("nope")

    tasks = BackgroundTasks()
    tasks.add_task(bad)
    tasks.add_task(calls.append, 1)
    with caplog.at_level(logging.ERROR, logger="celeris.background"):
        await tasks.run()
    assert calls == [1]
    assert "bad" in caplog.text
    assert "nope" in caplog.text


async def test_async_callable_object_and_task_added_during_run() -> None:
    calls: list[str] = []

    class Job:
        async def __call__(self) -> None:
            calls.append("job")

    tasks = BackgroundTasks()

    def first() -> None:
        calls.append("first")
        tasks.add_task(Job())

    tasks.add_task(first)
    await tasks.run()
    assert calls == ["first", "job"]
    assert BackgroundTask(Job()).is_async
