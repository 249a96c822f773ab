"""``RedisStore``: sessions in Redis (``redis://``, ``rediss://``) through redis-py's asyncio client."""

from __future__ import annotations

from typing import Any

import msgspec
import redis.asyncio as aioredis
import redis.exceptions

from celeris.sessions.base import StoreUnavailable

__all__ = ["RedisStore"]

# NOTE: every failure that means "Redis is not answering", as opposed to a bug of ours.
_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class RedisStore:
    """Keep each session as one Redis string with a TTL (``SET ... EX``)."""

    def __init__(self, url: str, *, prefix: str = "celeris:session:", timeout: float = 2.0) -> None:
        self.url = url
        self.prefix = prefix
        self.timeout = timeout
        self._client: aioredis.Redis | None = None

    @property
    def client(self) -> aioredis.Redis:
        """The redis-py client (made on first use; it reconnects by itself after an outage)."""
        client = self._client
        if client is None:
            client = self._client = aioredis.from_url(
                self.url,
                socket_connect_timeout=self.timeout,
                socket_timeout=self.timeout,
                health_check_interval=30,
            )
        return client

    async def open(self) -> None:
        """Make the client; a Redis that is down now is not fatal (requests get 503)."""
        _ = self.client

    async def close(self) -> None:
        """Close the client's connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def load(self, session_id: str) -> dict[str, Any] | None:
        """Return the session's data, or None when Redis does not have it."""
        try:
            blob = await self.client.get(self.prefix + session_id)
        except _DOWN as exc:
            raise StoreUnavailable(f"Redis session store: {exc}") from exc
        if blob is None:
            return None
        try:
            data: dict[str, Any] = msgspec.json.decode(blob)
        except msgspec.DecodeError:
            return None
        return data

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        """Store the data with a TTL of ``max_age`` seconds."""
        try:
            await self.client.set(self.prefix + session_id, msgspec.json.encode(data), ex=max_age)
        except _DOWN as exc:
            raise StoreUnavailable(f"Redis session store: {exc}") from exc

    async def delete(self, session_id: str) -> None:
        """Forget the session."""
        try:
            await self.client.delete(self.prefix + session_id)
        except _DOWN as exc:
            raise StoreUnavailable(f"Redis session store: {exc}") from exc

    async def ping(self) -> None:
        """Check that Redis answers."""
        try:
            await self.client.ping()
        except _DOWN as exc:
            raise StoreUnavailable(f"Redis session store: {exc}") from exc
