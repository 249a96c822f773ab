"""Handlers run eagerly on pooled driver Tasks: what a Task per request guaranteed still holds."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import anyio
import pytest

from celeris import App, Response
from celeris.server.driver import Drivers

from .support import read_response, serving

request_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_var", default="unset")


def make_app() -> App:
    app = App()

    @app.get("/timeout")
    async def timeout(seconds: float = 0.05) -> str:
        # asyncio.timeout() on the very first line, then a suspension that outlives it.
        try:
            async with asyncio.timeout(seconds):
                await asyncio.sleep(5)
        except TimeoutError:
            return "timed out"
        return "not timed out"

    @app.get("/task")
    async def task_identity() -> dict[str, Any]:
        before = asyncio.current_task()
        await asyncio.sleep(0.01)
        after = asyncio.current_task()
        return {"present": before is not None, "same": before is after}

    @app.get("/anyio")
    async def anyio_scope() -> str:
        with anyio.move_on_after(0.05) as scope:
            await anyio.sleep(5)
        return "cancelled" if scope.cancelled_caught else "not cancelled"

    @app.get("/group")
    async def group() -> Response:
        async def fail() -> None:
            await asyncio.sleep(0.01)
            raise ValueError("child failed")

        failed = False
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(fail())
                tg.create_task(asyncio.sleep(5))
        except* ValueError:
            failed = True
        if failed:
            return Response("group failed as expected", status_code=409)
        return Response("no error", status_code=200)

    @app.get("/context/set")
    async def context_set() -> str:
        request_var.set("set by an earlier request")
        await asyncio.sleep(0)
        return request_var.get()

    @app.get("/context/get")
    async def context_get() -> str:
        return request_var.get()

    @app.get("/self-cancel")
    async def self_cancel() -> str:
        task = asyncio.current_task()
        assert task is not None
        task.cancel()  # never awaited after: the cancel is left over when the handler ends
        return "cancelled myself"

    @app.get("/slow")
    async def slow(n: int) -> str:
        await asyncio.sleep(0.02 * (3 - n))
        return f"slow {n}"

    return app


async def ask(port: int, *targets: str) -> list[tuple[int, bytes]]:
    """Send every target on one keep-alive connection, pipelined, and read the answers."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"".join(b"GET %s HTTP/1.1\r\nHost: t\r\n\r\n" % t.encode() for t in targets))
        answers = []
        for _ in targets:
            status, _, body = await asyncio.wait_for(read_response(reader), 10)
            answers.append((status, body))
        return answers
    finally:
        writer.close()


async def test_asyncio_timeout_entered_on_the_first_line_fires_after_a_suspension() -> None:
    async with serving(make_app()) as (_, port):
        assert await ask(port, "/timeout") == [(200, b"timed out")]


async def test_the_current_task_is_a_real_task_and_the_same_across_awaits() -> None:
    async with serving(make_app()) as (_, port):
        ((status, body),) = await ask(port, "/task")
        assert status == 200
        assert body == b'{"present":true,"same":true}'


async def test_anyio_cancel_scopes_work_across_awaits() -> None:
    async with serving(make_app()) as (_, port):
        assert await ask(port, "/anyio") == [(200, b"cancelled")]


async def test_task_groups_cancel_the_handler_when_a_child_fails() -> None:
    async with serving(make_app()) as (_, port):
        assert await ask(port, "/group") == [(409, b"group failed as expected")]


async def test_context_variables_do_not_leak_between_requests_on_one_connection() -> None:
    async with serving(make_app()) as (_, port):
        answers = await ask(port, "/context/set", "/context/get", "/context/get")
        assert answers == [
            (200, b"set by an earlier request"),
            (200, b"unset"),
            (200, b"unset"),
        ]


async def test_a_cancel_left_over_by_one_request_does_not_reach_the_next() -> None:
    async with serving(make_app()) as (_, port):
        answers = await ask(port, "/self-cancel", "/task", "/timeout")
        assert answers[0] == (200, b"cancelled myself")
        assert answers[1] == (200, b'{"present":true,"same":true}')
        assert answers[2] == (200, b"timed out")


async def test_pipelined_suspending_handlers_answer_in_order() -> None:
    async with serving(make_app()) as (_, port):
        answers = await ask(port, "/slow?n=0", "/slow?n=1", "/context/get", "/slow?n=2")
        assert answers == [(200, b"slow 0"), (200, b"slow 1"), (200, b"unset"), (200, b"slow 2")]


async def test_concurrent_suspending_requests_each_get_their_own_task() -> None:
    async with serving(make_app()) as (_, port):
        results = await asyncio.gather(*(ask(port, "/timeout") for _ in range(50)))
        assert all(r == [(200, b"timed out")] for r in results)


async def test_the_pool_keeps_a_few_parked_drivers_after_a_burst() -> None:
    drivers = Drivers(asyncio.get_running_loop())
    gate = asyncio.Event()
    finished: list[BaseException | None] = []

    async def handler() -> None:
        await gate.wait()

    for _ in range(20):
        drivers.start(handler(), contextvars.copy_context(), finished.append)
    await asyncio.sleep(0)  # the drivers' Tasks start and pick up their jobs
    gate.set()
    for _ in range(5):
        await asyncio.sleep(0)
    assert finished == [None] * 20
    assert len(drivers.free) == 20
    drivers.trim()
    for _ in range(3):
        await asyncio.sleep(0)
    assert len(drivers.free) == 8
    assert all(d.task is not None and not d.task.done() for d in drivers.free)


async def test_a_handler_started_from_inside_another_task_still_runs() -> None:
    drivers = Drivers(asyncio.get_running_loop())
    finished: list[BaseException | None] = []
    seen: list[asyncio.Task[Any] | None] = []

    async def handler() -> None:
        seen.append(asyncio.current_task())

    drivers.start(handler(), contextvars.copy_context(), finished.append)  # inside the test task
    for _ in range(3):
        await asyncio.sleep(0)
    assert finished == [None]
    assert seen[0] is not None
    assert seen[0] is not asyncio.current_task()


async def test_an_error_in_a_suspended_handler_reaches_finish() -> None:
    drivers = Drivers(asyncio.get_running_loop())
    finished: list[BaseException | None] = []

    async def handler() -> None:
        await asyncio.sleep(0)
        raise LookupError("after a suspension")

    asyncio.get_running_loop().call_soon(
        drivers.start, handler(), contextvars.copy_context(), finished.append
    )
    for _ in range(5):
        await asyncio.sleep(0)
    assert len(finished) == 1
    assert isinstance(finished[0], LookupError)


@pytest.mark.parametrize("cancel_parked", [True, False])
async def test_cancelling_the_drivers_ends_them(cancel_parked: bool) -> None:
    # What the loop's shutdown does: cancel every task. No driver may outlive it.
    drivers = Drivers(asyncio.get_running_loop())
    finished: list[BaseException | None] = []

    async def handler() -> None:
        await asyncio.sleep(0 if cancel_parked else 5)

    asyncio.get_running_loop().call_soon(
        drivers.start, handler(), contextvars.copy_context(), finished.append
    )
    for _ in range(4):
        await asyncio.sleep(0)
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert tasks
    for task in tasks:
        task.cancel()
    await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 2)
    assert len(finished) == 1
    if not cancel_parked:
        assert isinstance(finished[0], asyncio.CancelledError)


async def test_a_new_handler_does_not_take_what_was_handed_to_a_waiting_one() -> None:
    # A pool of one connection, modelled by asyncio.Queue as asyncpg's pool does it. Handler 1
    # waits for it; in one loop callback the connection comes back and a new request starts.
    # Stepped at once, the new handler would take it from the waiter, which asyncio.Queue then
    # puts back at the end of the line (the database tail latency of the bench's db test).
    loop = asyncio.get_running_loop()
    drivers = Drivers(loop)
    pool: asyncio.Queue[str] = asyncio.Queue()
    served: list[int] = []
    finished: list[BaseException | None] = []

    async def handler(number: int) -> None:
        connection = await pool.get()
        served.append(number)
        pool.put_nowait(connection)

    def start(number: int) -> None:
        drivers.start(handler(number), contextvars.copy_context(), finished.append)

    def release_and_start_another() -> None:
        pool.put_nowait("connection")
        start(2)

    loop.call_soon(start, 1)
    await asyncio.sleep(0)
    assert drivers.waiting == 1  # handler 1 waits in its driver's Task
    loop.call_soon(release_and_start_another)
    for _ in range(6):
        await asyncio.sleep(0)
    assert served == [1, 2]
    assert finished == [None, None]
    assert drivers.waiting == 0


async def test_handlers_start_at_once_again_when_none_is_waiting() -> None:
    loop = asyncio.get_running_loop()
    drivers = Drivers(loop)
    ran: list[bool] = []

    async def handler() -> None:
        ran.append(True)

    loop.call_soon(drivers.start, handler(), contextvars.copy_context(), lambda error: None)
    await asyncio.sleep(0)
    assert ran == [True]  # stepped inside the callback: no Task round trip
    assert drivers.waiting == 0


class SelfStepping:
    """A coroutine object of another kind, as mypyc compiles them: its own iterator."""

    def __init__(self, coro: Any) -> None:
        self.coro = coro
        self.steps = 0

    def __await__(self) -> Any:
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        self.steps += 1
        return self.coro.send(value)

    def throw(self, *args: Any) -> Any:
        return self.coro.throw(*args)


class OnlyAwaitable:
    """An awaitable that is no coroutine at all: the driver wraps it in one of its own."""

    def __init__(self, coro: Any) -> None:
        self.coro = coro

    def __await__(self) -> Any:
        return self.coro.__await__()


async def run_in_drivers(handling: Any) -> list[BaseException | None]:
    drivers = Drivers(asyncio.get_running_loop())
    finished: list[BaseException | None] = []
    asyncio.get_running_loop().call_soon(
        drivers.start, handling, contextvars.copy_context(), finished.append
    )
    for _ in range(5):
        await asyncio.sleep(0)
    return finished


async def test_coroutines_of_other_kinds_are_stepped_as_they_are() -> None:
    seen: list[str] = []

    async def handler() -> None:
        seen.append("start")
        await asyncio.sleep(0)  # one suspension: the driver's Task steps the rest
        seen.append("end")

    handling = SelfStepping(handler())
    assert await run_in_drivers(handling) == [None]
    assert seen == ["start", "end"]
    assert handling.steps == 2  # stepped by the driver itself, not through a wrapper


async def test_other_awaitables_run_to_the_end() -> None:
    seen: list[str] = []

    async def handler() -> None:
        await asyncio.sleep(0)
        seen.append("ran")

    assert await run_in_drivers(OnlyAwaitable(handler())) == [None]
    assert seen == ["ran"]


async def test_a_plain_generator_is_not_run_as_a_handler() -> None:
    ran: list[str] = []

    def generator() -> Any:
        ran.append("stepped")
        yield None

    finished = await run_in_drivers(generator())
    assert len(finished) == 1
    assert isinstance(finished[0], TypeError)
    assert ran == []
