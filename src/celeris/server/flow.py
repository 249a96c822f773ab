"""Flow control both ways: pause reading past a high-water mark, make writers wait on a full buffer."""

from __future__ import annotations

import asyncio

# PERF: 64 KiB of unread request body per connection before we stop reading the socket.
HIGH_WATER_MARK = 64 * 1024


class FlowControl:
    """Track whether the transport's reading and writing are paused."""

    __slots__ = ("_is_writable", "read_paused", "transport", "write_paused")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.read_paused = False
        self.write_paused = False
        self._is_writable: asyncio.Event | None = None

    async def drain(self) -> None:
        """Wait until the transport's write buffer has room again."""
        if self.write_paused:
            if self._is_writable is None:
                self._is_writable = asyncio.Event()
            await self._is_writable.wait()

    def pause_reading(self) -> None:
        """Stop reading the socket (the app is behind)."""
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        """Start reading the socket again."""
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def pause_writing(self) -> None:
        """Note that the write buffer is over its high-water mark."""
        if not self.write_paused:
            self.write_paused = True
            if self._is_writable is not None:
                self._is_writable.clear()

    def resume_writing(self) -> None:
        """Note that the write buffer drained; wake any waiting writer."""
        if self.write_paused:
            self.write_paused = False
            if self._is_writable is not None:
                self._is_writable.set()
