"""The contract every mail backend keeps: deliver one rendered message to its recipients."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Protocol

from celeris.mail.message import Message

__all__ = ["Backend"]


class Backend(Protocol):
    """Deliver rendered mail; raise ``MailError`` (or ``MailTimeout``) when it could not."""

    name: str

    async def send(self, email: EmailMessage, message: Message, recipients: list[str]) -> None:
        """Deliver ``email`` (built from ``message``) to the envelope ``recipients``."""
        ...

    async def check(self) -> None:
        """Raise if the backend cannot deliver right now (the health check)."""
        ...

    async def close(self) -> None: ...
