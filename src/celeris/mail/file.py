"""The file mail backend: each mail written as an ``.eml`` file in a folder."""

from __future__ import annotations

import asyncio
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

from celeris.mail.errors import MailError
from celeris.mail.message import Message

__all__ = ["FileBackend"]


class FileBackend:
    """Write each mail to ``<folder>/<timestamp>-<id>.eml`` (readable by any mail client)."""

    name = "file"

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def _write(self, data: bytes) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:12]}.eml"
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(path)  # NOTE: a reader never sees half a mail
        return path

    async def send(self, email: EmailMessage, message: Message, recipients: list[str]) -> None:
        try:
            await asyncio.to_thread(self._write, email.as_bytes())
        except OSError as error:
            raise MailError(f"could not write the mail into {self.folder}: {error}") from error

    async def check(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    async def close(self) -> None:
        return None
