"""The Redis cache backend (redis-py's asyncio client), shared by every worker and machine."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["RedisBackend"]

_DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# NOTE: a tag is a Redis set of keys that lives as long as its longest-lived member: a
# member without expiry makes the set persistent, otherwise the set's expiry only grows.
_TAG = """
local added = redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl <= 0 then redis.call('PERSIST', KEYS[1]) return added end
local current = redis.call('PTTL', KEYS[1])
if (current == -1 and redis.call('SCARD', KEYS[1]) == 1) or (current >= 0 and current < ttl) then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return added
"""

_DROP_TAGS = """
local n = 0
for _, tag in ipairs(KEYS) do
  local members = redis.call('SMEMBERS', tag)
  for i = 1, #members, 500 do
    n = n + redis.call('UNLINK', unpack(members, i, math.min(i + 499, #members)))
  end
  redis.call('UNLINK', tag)
end
return n
"""


def _ms(ttl: float | None) -> int | None:
    return None if ttl is None else max(1, int(ttl * 1000))


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisBackend:
    """Store the cache in Redis; ``timeout`` bounds every command so an outage never hangs."""

    name = "redis"
    errors: tuple[type[BaseException], ...] = (
        RedisConnectionError,
        RedisTimeoutError,
        OSError,
        TimeoutError,
    )

    def __init__(self, url: str, *, timeout: float = 1.0) -> None:
        # NOTE: one immediate retry covers a pooled connection that died with a Redis restart;
        # more retries (redis-py's default backs off for seconds) would turn an outage into a hang.
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 1),
        )
        self._delete_if = self.client.register_script(_DELETE_IF)
        self._tag = self.client.register_script(_TAG)
        self._drop_tags = self.client.register_script(_DROP_TAGS)

    async def get(self, key: str) -> bytes | None:
        return cast("bytes | None", await self.client.get(key))

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        return cast("list[bytes | None]", await self.client.mget(keys))

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        await self.client.set(key, value, px=_ms(ttl))

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None) -> None:
        if not items:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            for key, value in items.items():
                pipe.set(key, value, px=_ms(ttl))
            await pipe.execute()

    async def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        return bool(await self.client.set(key, value, px=_ms(ttl), nx=True))

    async def delete(self, keys: Sequence[str]) -> int:
        if not keys:
            return 0
        return int(await self.client.unlink(*keys))

    async def delete_if(self, key: str, value: bytes) -> bool:
        return bool(await self._delete_if(keys=[key], args=[value]))

    async def incr(self, key: str, amount: int, ttl: float | None) -> int:
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.incrby(key, amount)
                if ttl is not None:
                    pipe.pexpire(key, _ms(ttl) or 1, nx=True)
                total, *_ = await pipe.execute()
        except ResponseError as error:
            raise TypeError(f"the value at {key!r} is not an integer") from error
        return int(total)

    async def clear(self, prefix: str) -> int:
        pattern = _glob_escape(prefix) + "*"
        deleted = 0
        batch: list[bytes] = []
        async for key in self.client.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += int(await self.client.unlink(*batch))
                batch.clear()
        if batch:
            deleted += int(await self.client.unlink(*batch))
        return deleted

    async def tag(self, tags: Sequence[str], key: str, ttl: float | None) -> None:
        ms = _ms(ttl) or 0
        async with self.client.pipeline(transaction=False) as pipe:
            for tag in tags:
                await self._tag(keys=[tag], args=[key, ms], client=pipe)
            await pipe.execute()

    async def drop_tags(self, tags: Sequence[str]) -> int:
        if not tags:
            return 0
        return int(await self._drop_tags(keys=list(tags)))

    async def ping(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()
