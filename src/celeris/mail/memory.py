"""The memory mail backend: sent mail kept in ``outbox`` for tests to read."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage

from celeris.mail.message import Message

__all__ = ["MemoryBackend", "SentMail"]


@dataclass(frozen=True, slots=True)
class SentMail:
    """One delivered mail: the ``Message``, its rendered MIME form and the envelope."""

    message: Message
    email: EmailMessage
    recipients: list[str]

    @property
    def subject(self) -> str:
        return str(self.email["Subject"])

    @property
    def to(self) -> list[str]:
        return self.recipients

    @property
    def text(self) -> str | None:
        part = self.email.get_body(("plain",))
        return None if part is None else str(part.get_content())

    @property
    def html(self) -> str | None:
        part = self.email.get_body(("html",))
        return None if part is None else str(part.get_content())


class MemoryBackend:
    """Append every mail to ``outbox``; nothing leaves the process."""

    name = "memory"

    def __init__(self) -> None:
        self.outbox: list[SentMail] = []

    async def send(self, email: EmailMessage, message: Message, recipients: list[str]) -> None:
        self.outbox.append(SentMail(message, email, recipients))

    async def check(self) -> None:
        return None

    async def close(self) -> None:
        return None
