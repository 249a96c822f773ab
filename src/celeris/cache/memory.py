"""The in-process cache: a bounded LRU of bytes with expiry; the embedded default."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Keep at most ``max_entries`` values in this process, least recently used out first."""

    name = "memory"
    errors: tuple[type[BaseException], ...] = ()

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        self.max_entries = max_entries
        # key -> (value, deadline on the monotonic clock or None)
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._tags: dict[str, set[str]] = {}
        self._key_tags: dict[str, set[str]] = {}

    def _live(self, key: str) -> bytes | None:
        entry = self._data.get(key)
        if entry is None:
            return None
        value, deadline = entry
        if deadline is not None and deadline <= time.monotonic():
            self._forget(key)
            return None
        self._data.move_to_end(key)
        return value

    def _forget(self, key: str) -> bool:
        found = self._data.pop(key, None) is not None
        for tag in self._key_tags.pop(key, ()):
            members = self._tags.get(tag)
            if members is not None:
                members.discard(key)
                if not members:
                    del self._tags[tag]
        return found

    def _store(self, key: str, value: bytes, ttl: float | None) -> None:
        deadline = None if ttl is None else time.monotonic() + ttl
        self._data[key] = (value, deadline)
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._forget(next(iter(self._data)))

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [self._live(key) for key in keys]

    async def set(self, key: str, value: bytes, ttl: float | None) -> None:
        self._store(key, value, ttl)

    async def set_many(self, items: Mapping[str, bytes], ttl: float | None) -> None:
        for key, value in items.items():
            self._store(key, value, ttl)

    async def add(self, key: str, value: bytes, ttl: float | None) -> bool:
        if self._live(key) is not None:
            return False
        self._store(key, value, ttl)
        return True

    async def delete(self, keys: Sequence[str]) -> int:
        return sum(self._forget(key) for key in keys)

    async def delete_if(self, key: str, value: bytes) -> bool:
        if self._live(key) != value:
            return False
        return self._forget(key)

    async def incr(self, key: str, amount: int, ttl: float | None) -> int:
        current = self._live(key)
        if current is None:
            total = amount
            self._store(key, str(total).encode(), ttl)
            return total
        try:
            total = int(current) + amount
        except ValueError:
            raise TypeError(f"the value at {key!r} is not an integer") from None
        deadline = self._data[key][1]
        self._data[key] = (str(total).encode(), deadline)
        return total

    async def clear(self, prefix: str) -> int:
        doomed = [key for key in self._data if key.startswith(prefix)]
        for key in doomed:
            self._forget(key)
        return len(doomed)

    async def tag(self, tags: Sequence[str], key: str, ttl: float | None) -> None:
        if key not in self._data:
            return
        for tag in tags:
            self._tags.setdefault(tag, set()).add(key)
            self._key_tags.setdefault(key, set()).add(tag)

    async def drop_tags(self, tags: Sequence[str]) -> int:
        keys = set().union(*(self._tags.get(tag, set()) for tag in tags)) if tags else set()
        for key in keys:
            self._forget(key)
        for tag in tags:
            self._tags.pop(tag, None)
        return len(keys)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        return None
