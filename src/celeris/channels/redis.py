"""``RedisPubSub``: channels across workers and machines on Redis pub/sub (``redis://``).

One PUBLISH per message and one pub/sub connection per process, whatever the number of
local subscribers. Fire and forget: what is published while a process is cut off is not
replayed to it (use ``history=`` for Redis Streams). Presence lives in one sorted set per
channel whose entries expire unless their process refreshes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any, Final

import redis.asyncio as aioredis
import redis.exceptions

from celeris.channels.base import ChannelsUnavailable, Deliver

__all__ = ["RedisBase", "RedisPubSub"]

logger = logging.getLogger("celeris.channels")

# NOTE: every failure that means "Redis is not answering", as opposed to a bug of ours.
DOWN: Final = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class RedisBase:
    """The client, presence and health shared by the pub/sub and Streams backends."""

    name = "redis"
    resumable = False

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "celeris:channels:",
        timeout: float = 2.0,
        presence_ttl: float = 30.0,
    ) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self.presence_ttl = presence_ttl
        self._client: Any = None
        self._deliver: Deliver | None = None
        self._present: dict[tuple[str, str], str] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._down = False

    @property
    def client(self) -> Any:
        """The redis-py client (made on first use; it reconnects by itself after an outage).

        NOTE: typed Any: redis-py types every reply as ``bytes | str`` (it depends on
        ``decode_responses``); ours are always bytes.
        """
        client = self._client
        if client is None:
            client = self._client = aioredis.from_url(
                self.url,
                socket_connect_timeout=self.timeout,
                socket_timeout=self.timeout + 1.0,
                health_check_interval=30,
            )
        return client

    def _unavailable(self, exc: object) -> ChannelsUnavailable:
        return ChannelsUnavailable(f"Redis channels backend: {exc}", retry_after=5)

    async def open(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._spawn(self._refresh_presence())

    def _spawn(self, coro: Any) -> None:
        self._tasks.append(asyncio.create_task(coro))

    async def close(self) -> None:
        self._deliver = None
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._present:
            with contextlib.suppress(*DOWN):
                async with self.client.pipeline(transaction=False) as pipe:
                    for (channel, token), member in self._present.items():
                        pipe.zrem(self._presence_key(channel), f"{token}:{member}")
                    await pipe.execute()
            self._present.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _went_down(self, exc: BaseException) -> None:
        if not self._down:
            self._down = True
            logger.warning("Redis unreachable, reconnecting: %s", exc)

    def _came_back(self) -> None:
        if self._down:
            self._down = False
            logger.warning("Redis reachable again")

    async def ping(self) -> None:
        try:
            await self.client.ping()
        except DOWN as exc:
            raise self._unavailable(exc) from exc

    # --- presence ----------------------------------------------------------------------------

    def _presence_key(self, channel: str) -> str:
        return f"{self.prefix}presence:{channel}"

    async def join(self, channel: str, token: str, member: str) -> None:
        self._present[channel, token] = member
        try:
            await self.client.zadd(
                self._presence_key(channel), {f"{token}:{member}": time.time() + self.presence_ttl}
            )
        except DOWN as exc:
            raise self._unavailable(exc) from exc

    async def leave(self, channel: str, token: str) -> None:
        member = self._present.pop((channel, token), None)
        if member is None:
            return
        try:
            await self.client.zrem(self._presence_key(channel), f"{token}:{member}")
        except DOWN as exc:
            raise self._unavailable(exc) from exc

    async def members(self, channel: str) -> list[str]:
        key = self._presence_key(channel)
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                pipe.zremrangebyscore(key, "-inf", time.time())
                pipe.zrange(key, 0, -1)
                _, entries = await pipe.execute()
        except DOWN as exc:
            raise self._unavailable(exc) from exc
        return sorted({entry.decode().partition(":")[2] for entry in entries})

    async def _refresh_presence(self) -> None:
        """Push the expiry of this process's presence entries forward, a third of a TTL apart."""
        while True:
            await asyncio.sleep(self.presence_ttl / 3)
            if not self._present:
                continue
            expires = time.time() + self.presence_ttl
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    for (channel, token), member in list(self._present.items()):
                        pipe.zadd(self._presence_key(channel), {f"{token}:{member}": expires})
                    await pipe.execute()
            except DOWN as exc:
                self._went_down(exc)


class RedisPubSub(RedisBase):
    """PUBLISH / SUBSCRIBE; ``since`` has nothing to return."""

    def __init__(self, url: str, **options: Any) -> None:
        super().__init__(url, **options)
        self._pubsub: Any = None
        self._confirm: dict[bytes, asyncio.Future[None]] = {}
        self._listening = asyncio.Event()

    async def open(self, deliver: Deliver) -> None:
        await super().open(deliver)
        self._pubsub = self.client.pubsub()
        self._spawn(self._read())

    async def close(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        await super().close()
        if pubsub is not None:
            await pubsub.aclose()

    async def publish(self, channel: str, raw: bytes) -> str | None:
        try:
            await self.client.publish(self.prefix + channel, raw)
        except DOWN as exc:
            raise self._unavailable(exc) from exc
        return None

    async def listen(self, channel: str) -> None:
        key = (self.prefix + channel).encode()
        confirmed = self._confirm[key] = asyncio.get_running_loop().create_future()
        try:
            await self._pubsub.subscribe(key)
            self._listening.set()
            # NOTE: wait for Redis to confirm, so a message published right after this
            # returns is delivered.
            await asyncio.wait_for(confirmed, self.timeout)
        except DOWN as exc:
            raise self._unavailable(exc) from exc
        except TimeoutError as exc:
            raise self._unavailable("no subscribe confirmation") from exc
        finally:
            self._confirm.pop(key, None)

    async def unlisten(self, channel: str) -> None:
        try:
            await self._pubsub.unsubscribe(self.prefix + channel)
        except DOWN as exc:
            raise self._unavailable(exc) from exc

    async def since(self, channel: str, last_id: str) -> list[tuple[str, bytes]]:
        return []

    async def trimmed_after(self, channel: str, last_id: str) -> bool:
        return False

    async def _read(self) -> None:
        """Deliver every message of this process's subscriptions; reconnect after an outage."""
        skip = len(self.prefix)
        backoff = 0.05
        while True:
            pubsub = self._pubsub
            if not pubsub.subscribed:
                self._listening.clear()
                await self._listening.wait()
                continue
            try:
                # NOTE: after a reconnect redis-py subscribes again to every channel itself
                message = await pubsub.get_message(timeout=1.0)
            except DOWN as exc:
                self._went_down(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.05
            if message is None:
                continue
            kind = message["type"]
            if kind == "message":
                deliver = self._deliver
                if deliver is not None:
                    deliver(message["channel"][skip:].decode(), None, message["data"])
            elif kind == "subscribe":
                self._came_back()
                confirmed = self._confirm.get(message["channel"])
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
