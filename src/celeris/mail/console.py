"""The console mail backend: print each mail (the development default)."""

from __future__ import annotations

import sys
from email.message import EmailMessage
from typing import TextIO

from celeris.mail.message import Message

__all__ = ["ConsoleBackend"]


class ConsoleBackend:
    """Write each mail, headers and body, to ``stream`` (stdout by default)."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream

    async def send(self, email: EmailMessage, message: Message, recipients: list[str]) -> None:
        stream = self.stream or sys.stdout
        rule = "-" * 72
        stream.write(f"{rule}\nEnvelope-To: {', '.join(recipients)}\n{email.as_string()}\n{rule}\n")
        stream.flush()

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        return None
