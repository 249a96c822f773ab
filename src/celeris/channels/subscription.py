"""``Subscription``: one subscriber's bounded queue of messages, iterated by its consumer."""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from celeris.channels.base import Message, SlowSubscriber

if TYPE_CHECKING:
    from celeris.channels.channels import Channels

__all__ = ["Subscription"]


class Subscription:
    """A subscriber of one channel: ``async with channels.subscribe(...) as sub``.

    ``async for data in sub`` yields the published values; ``sub.messages()`` yields the
    ``Message`` objects (with their ids). ``sub.last_id`` is the id of the last message taken,
    what a reconnecting client passes back as ``last_id=`` to get what it missed.
    """

    __slots__ = (
        "_buffer",
        "_channels",
        "_closed",
        "_loop",
        "_pending",
        "_waiter",
        "channel",
        "dropped",
        "gap",
        "last_id",
        "maxsize",
        "member",
        "token",
    )

    def __init__(
        self,
        channels: Channels,
        channel: str,
        *,
        last_id: str | None,
        member: str | None,
        maxsize: int,
    ) -> None:
        self._channels = channels
        self.channel = channel
        self.last_id = last_id
        self.member = member
        self.maxsize = maxsize
        self.token = uuid.uuid4().hex
        self.dropped = False
        #: True when resuming from ``last_id`` may have lost messages older than the history
        self.gap = False
        self._closed = False
        self._buffer: deque[Message] = deque()
        # NOTE: while a resuming subscriber catches up, live messages wait here, so that the
        # missed ones are delivered first and none twice.
        self._pending: list[Message] | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> Subscription:
        await self._channels._join(self)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._closed = True
        await self._channels._leave(self)

    def put(self, message: Message) -> bool:
        """Queue ``message``; False when the queue is full (the subscriber must be dropped)."""
        buffer = self._buffer
        if len(buffer) >= self.maxsize:
            return False
        buffer.append(message)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    def close(self) -> None:
        """End the iteration: what is queued is still taken, then it stops."""
        self._closed = True
        self._wake()

    def drop(self) -> None:
        """Mark the subscriber dropped: its consumer gets ``SlowSubscriber`` next."""
        self.dropped = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def get_nowait(self) -> Message | None:
        """Return the next queued message, or None when none is queued (or dropped)."""
        buffer = self._buffer
        if not buffer or self.dropped:
            return None
        message = buffer.popleft()
        if message.id is not None:
            self.last_id = message.id
        return message

    async def get(self) -> Message:
        """Return the next message; raise ``SlowSubscriber`` once dropped."""
        buffer = self._buffer
        while not buffer or self.dropped:
            if self.dropped:
                raise SlowSubscriber(self.channel, self.maxsize)
            if self._closed:
                raise StopAsyncIteration
            loop = self._loop
            if loop is None:
                # PERF: looked up once: on Python 3.11 every get_running_loop() is a getpid()
                # system call, 4-10 % of a server relaying to 1,000 WebSockets.
                loop = self._loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        message = buffer.popleft()
        if message.id is not None:
            self.last_id = message.id
        return message

    async def messages(self) -> AsyncIterator[Message]:
        """Yield each message (channel, id, data) until the subscription ends."""
        while True:
            try:
                message = await self.get()
            except StopAsyncIteration:
                return
            yield message

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Any:
        return (await self.get()).data

    def __repr__(self) -> str:
        return (
            f"Subscription(channel={self.channel!r}, member={self.member!r}, "
            f"queued={len(self._buffer)}, dropped={self.dropped})"
        )
