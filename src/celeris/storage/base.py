"""The contract every storage backend keeps: an obstore store plus what it can do itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

__all__ = ["Backend"]


class Backend(Protocol):
    """An obstore ``ObjectStore`` and its capabilities; ``Storage`` does the rest."""

    name: str
    store: Any  # an obstore store (LocalStore, S3Store, MemoryStore, ...)
    #: whether the store keeps a Content-Type per object (else it is guessed from the name)
    keeps_content_type: bool

    def local_path(self, name: str) -> Path | None:
        """The file on this machine holding ``name``, when there is one (served by FileResponse)."""
        ...

    def presign(self, name: str, expires: float) -> str | None:
        """A URL the store itself serves for ``expires`` seconds, or None if it cannot."""
        ...
