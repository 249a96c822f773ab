"""``MemoryStore``: sessions in this process's memory (``memory://``), for tests and one worker."""

from __future__ import annotations

import time
from typing import Any

import msgspec

__all__ = ["MemoryStore"]


class MemoryStore:
    """Keep sessions in a dict of encoded bytes (so a request's edits count only once saved)."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[float, bytes]] = {}

    async def open(self) -> None:
        """Nothing to connect."""

    async def close(self) -> None:
        """Nothing to disconnect."""

    async def load(self, session_id: str) -> dict[str, Any] | None:
        """Return the session's data unless it is unknown or expired."""
        entry = self._data.get(session_id)
        if entry is None:
            return None
        expires, blob = entry
        if expires <= time.monotonic():
            del self._data[session_id]
            return None
        data: dict[str, Any] = msgspec.json.decode(blob)
        return data

    async def save(self, session_id: str, data: dict[str, Any], max_age: int) -> None:
        """Store the data for ``max_age`` seconds; expired entries are pruned now and then."""
        now = time.monotonic()
        if len(self._data) % 1024 == 1023:
            self._data = {k: v for k, v in self._data.items() if v[0] > now}
        self._data[session_id] = (now + max_age, msgspec.json.encode(data))

    async def delete(self, session_id: str) -> None:
        """Forget the session."""
        self._data.pop(session_id, None)

    async def ping(self) -> None:
        """Always answers."""

    def __len__(self) -> int:
        return len(self._data)
