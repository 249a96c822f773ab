"""``RedisStreams``: resumable channels on Redis Streams (``redis://`` with ``history=N``).

Each channel is a stream capped near ``history`` entries (``XADD ... MAXLEN ~``). One
reader per process blocks on ``XREAD`` over every channel it has subscribers for, from the
last id it delivered, so a Redis outage loses nothing that is still in the stream when the
connection comes back; a subscriber that returns with a ``last_id`` reads what it missed
with ``XRANGE``.
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import redis.exceptions

from celeris.channels.base import Deliver, order
from celeris.channels.redis import DOWN, RedisBase

__all__ = ["RedisStreams"]

#: How long one XREAD blocks: a channel's first subscriber joins the read within this.
BLOCK_MS: Final = 250


class RedisStreams(RedisBase):
    """XADD / XREAD / XRANGE over one stream per channel."""

    name = "redis-streams"
    resumable = True

    def __init__(
        self, url: str, *, history: int = 1000, retention: float = 86_400.0, **options: Any
    ) -> None:
        super().__init__(url, **options)
        self.history = history
        self.retention_ms = int(retention * 1000)
        self._positions: dict[str, str] = {}  # stream key -> last id delivered
        self._wake = asyncio.Event()

    async def open(self, deliver: Deliver) -> None:
        await super().open(deliver)
        self._spawn(self._read())

    async def publish(self, channel: str, raw: bytes) -> str | None:
        key = self.prefix + channel
        try:
            # NOTE: one round trip; the expiry forgets the history of a channel nobody
            # published to for ``retention`` seconds (rooms come and go).
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.xadd(key, {"d": raw}, maxlen=self.history, approximate=True)
                pipe.pexpire(key, self.retention_ms)
                message_id, _ = await pipe.execute()
        except DOWN as exc:
            raise self._unavailable(exc) from exc
        return str(message_id.decode())

    async def listen(self, channel: str) -> None:
        key = self.prefix + channel
        try:
            # NOTE: start after the newest entry now, not at "$": "$" would mean "after the
            # newest when XREAD runs" and lose what is published in between.
            newest = await self.client.xrevrange(key, count=1)
        except DOWN as exc:
            raise self._unavailable(exc) from exc
        self._positions.setdefault(key, newest[0][0].decode() if newest else "0-0")
        self._wake.set()

    async def unlisten(self, channel: str) -> None:
        self._positions.pop(self.prefix + channel, None)

    async def since(self, channel: str, last_id: str) -> list[tuple[str, bytes]]:
        try:
            entries = await self.client.xrange(self.prefix + channel, min=f"({last_id}", max="+")
        except DOWN as exc:
            raise self._unavailable(exc) from exc
        return [(entry_id.decode(), fields[b"d"]) for entry_id, fields in entries]

    async def trimmed_after(self, channel: str, last_id: str) -> bool:
        try:
            info = await self.client.xinfo_stream(self.prefix + channel)
        except redis.exceptions.ResponseError:
            return True  # NOTE: no stream: it expired (retention) since that id was sent
        except DOWN as exc:
            raise self._unavailable(exc) from exc
        added = info.get("entries-added")  # NOTE: Redis >= 7; older ones cannot tell
        first = info.get("first-entry")
        if added is None or not first:
            return False
        # NOTE: some entries were trimmed, all older than the first one kept; when the client's
        # last id is older too, some of those may have come after it ("may", not "did").
        return bool(added > info["length"] and order(first[0].decode()) > order(last_id))

    async def _read(self) -> None:
        """Deliver new entries of every listened stream; carry on from the same ids after an
        outage."""
        skip = len(self.prefix)
        positions = self._positions
        backoff = 0.05
        while True:
            if not positions:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                batches = await self.client.xread(dict(positions), count=512, block=BLOCK_MS)
            except DOWN as exc:
                self._went_down(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.05
            self._came_back()
            deliver = self._deliver
            for raw_key, entries in batches or ():
                key = raw_key.decode()
                if key not in positions:
                    continue  # NOTE: its last subscriber left during the read
                channel = key[skip:]
                for entry_id, fields in entries:
                    message_id = entry_id.decode()
                    positions[key] = message_id
                    if deliver is not None:
                        deliver(channel, message_id, fields[b"d"])
