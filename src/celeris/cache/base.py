"""The contract every cache backend keeps: bytes in, bytes out, keys already namespaced.

``Cache`` (in ``cache.py``) does serialisation, namespacing, locks, tags and failure handling;
a backend only stores bytes. Backends: ``memory.py`` (the embedded default, one process) and
``redis.py`` (shared by every worker and machine).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class Backend(Protocol):
    """A key-value store of bytes with expiry; ``ttl`` is seconds, None for no expiry."""

    name: str
    #: what the backend raises when its service is away (the cache degrades on these)
    errors: tuple[type[BaseException], ...]

    async def get(self, key: str) -> bytes | None: ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def set(self, key: str, value: bytes, ttl: float | None) -> None: ...

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None) -> None: ...

    async def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        """Set ``key`` only if it is absent; True if it was set (a lock's acquire)."""
        ...

    async def delete(self, keys: Sequence[str]) -> int: ...

    async def delete_if(self, key: str, value: bytes) -> bool:
        """Delete ``key`` only while it still holds ``value`` (a lock's release)."""
        ...

    async def incr(self, key: str, amount: int, ttl: float | None) -> int:
        """Add ``amount`` to an integer (0 when absent); ``ttl`` applies when it is created."""
        ...

    async def clear(self, prefix: str) -> int:
        """Delete every key starting with ``prefix``; return how many."""
        ...

    async def tag(self, tags: Sequence[str], key: str, ttl: float | None) -> None:
        """Remember that ``key`` belongs to each tag (tag names already namespaced)."""
        ...

    async def drop_tags(self, tags: Sequence[str]) -> int:
        """Delete every key of these tags, and the tags; return how many keys."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...
