"""Flow control bookkeeping."""

from __future__ import annotations

import asyncio

from celeris.server.flow import FlowControl


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")


async def test_reading_is_paused_and_resumed_once() -> None:
    transport = Transport()
    flow = FlowControl(transport)
    flow.pause_reading()
    flow.pause_reading()
    flow.resume_reading()
    flow.resume_reading()
    assert transport.calls == ["pause", "resume"]


async def test_drain_waits_until_writing_resumes() -> None:
    flow = FlowControl(Transport())
    await flow.drain()  # not paused: returns at once
    flow.pause_writing()
    waiter = asyncio.ensure_future(flow.drain())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    flow.resume_writing()
    await asyncio.wait_for(waiter, 1)
