"""``MemoryBackend``: channels inside one process (the embedded default, and tests)."""

from __future__ import annotations

from collections import deque

from celeris.channels.base import Deliver, order

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Deliver in-process; keep the last ``history`` messages of each channel for resuming."""

    name = "memory"

    def __init__(self, history: int = 0) -> None:
        self.history = history
        self.resumable = history > 0
        self._deliver: Deliver | None = None
        self._listened: set[str] = set()
        self._seq: dict[str, int] = {}
        self._kept: dict[str, deque[tuple[str, bytes]]] = {}
        self._present: dict[str, dict[str, str]] = {}

    async def open(self, deliver: Deliver) -> None:
        self._deliver = deliver

    async def close(self) -> None:
        self._deliver = None
        self._listened.clear()

    async def publish(self, channel: str, raw: bytes) -> str | None:
        message_id: str | None = None
        if self.history:
            seq = self._seq[channel] = self._seq.get(channel, 0) + 1
            message_id = str(seq)
            kept = self._kept.get(channel)
            if kept is None:
                kept = self._kept[channel] = deque(maxlen=self.history)
            kept.append((message_id, raw))
        deliver = self._deliver
        if deliver is not None and channel in self._listened:
            deliver(channel, message_id, raw)
        return message_id

    async def listen(self, channel: str) -> None:
        self._listened.add(channel)

    async def unlisten(self, channel: str) -> None:
        self._listened.discard(channel)

    async def since(self, channel: str, last_id: str) -> list[tuple[str, bytes]]:
        after = order(last_id)
        return [(i, raw) for i, raw in self._kept.get(channel, ()) if order(i) > after]

    async def trimmed_after(self, channel: str, last_id: str) -> bool:
        after = order(last_id)[0]
        newest = self._seq.get(channel, 0)
        if after >= newest:
            return False
        kept = self._kept.get(channel)
        oldest = int(kept[0][0]) if kept else newest + 1
        return oldest > after + 1

    async def join(self, channel: str, token: str, member: str) -> None:
        self._present.setdefault(channel, {})[token] = member

    async def leave(self, channel: str, token: str) -> None:
        present = self._present.get(channel)
        if present is not None:
            present.pop(token, None)
            if not present:
                del self._present[channel]

    async def members(self, channel: str) -> list[str]:
        return sorted(set(self._present.get(channel, {}).values()))

    async def ping(self) -> None:
        return
