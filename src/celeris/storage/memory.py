"""In-process storage (``memory://``) for tests: gone when the process ends."""

from __future__ import annotations

from pathlib import Path

from obstore.store import MemoryStore

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Objects in this process's memory, served by the app through signed URLs."""

    name = "memory"
    keeps_content_type = True

    def __init__(self) -> None:
        self.store = MemoryStore()

    def local_path(self, name: str) -> Path | None:
        return None

    def presign(self, name: str, expires: float) -> str | None:
        return None
