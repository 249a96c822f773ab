"""Local files (``file://./media``, ``file:///srv/media``): the embedded default."""

from __future__ import annotations

from pathlib import Path

from obstore.store import LocalStore

__all__ = ["LocalBackend"]


class LocalBackend:
    """Files under ``root`` on this machine, served by the app through signed URLs."""

    name = "file"
    keeps_content_type = False

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.store = LocalStore(self.root, mkdir=True)

    def local_path(self, name: str) -> Path | None:
        path = (self.root / name).resolve()
        # SECURITY: names are validated already; a symlink inside the root must not lead out.
        if not path.is_relative_to(self.root):
            return None
        return path

    def presign(self, name: str, expires: float) -> str | None:
        return None
