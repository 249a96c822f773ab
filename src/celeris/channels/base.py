"""What a channels backend is: the ``Backend`` protocol, ``Message`` and the errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Protocol

import msgspec

from celeris.core.errors import ServiceUnavailable

__all__ = [
    "Backend",
    "ChannelsUnavailable",
    "Deliver",
    "Message",
    "SlowSubscriber",
    "order",
]

#: What a backend calls with each message it receives: ``(channel, id, raw JSON)``.
Deliver = Callable[[str, "str | None", bytes], None]

_decode: Final = msgspec.json.decode
_encode: Final = msgspec.json.encode


class ChannelsUnavailable(ServiceUnavailable):
    """The channels backend does not answer (a publish during an outage): 503 + Retry-After."""


class SlowSubscriber(Exception):
    """Raised by a subscription whose bounded queue overflowed: it was dropped.

    ``code`` is the WebSocket close code to send (1013, "try again later"): the client
    reconnects and, on a resumable backend, asks for what it missed.
    """

    code: Final = 1013

    def __init__(self, channel: str, maxsize: int) -> None:
        self.channel = channel
        self.maxsize = maxsize
        super().__init__(
            f"subscriber of {channel!r} dropped: {maxsize} messages waiting (a slow client)"
        )


class Message:
    """One published message: its ``channel``, ``id`` (None on pub/sub) and ``data``.

    ``raw`` is the JSON as published; ``data`` is decoded on first access, once per
    process and message however many local subscribers receive it.
    """

    __slots__ = ("_data", "_event", "_frame", "channel", "id", "raw")

    def __init__(self, channel: str, id: str | None, raw: bytes) -> None:
        self.channel = channel
        self.id = id
        self.raw = raw
        self._data: Any = _UNSET
        self._frame: str | None = None
        self._event: dict[str, Any] | None = None

    @property
    def data(self) -> Any:
        """The published value, decoded from JSON."""
        data = self._data
        if data is _UNSET:
            data = self._data = _decode(self.raw)
        return data

    def frame(self) -> str:
        """Return the WebSocket text frame ``{"channel": ..., "id": ..., "data": ...}``."""
        frame = self._frame
        if frame is None:
            # PERF: built once per message for every local client; the published JSON is
            # spliced in as is, never decoded and re-encoded.
            head = _encode({"channel": self.channel, "id": self.id})
            frame = self._frame = (head[:-1] + b',"data":' + self.raw + b"}").decode()
        return frame

    def send_event(self) -> dict[str, Any]:
        """Return the ASGI ``websocket.send`` event of ``frame()``, made once per message.

        NOTE: the same dict goes to every local subscriber's ``send``; ASGI servers and
        celeris's middleware read a ``websocket.send`` event and never change it.
        """
        event = self._event
        if event is None:
            event = self._event = {"type": "websocket.send", "text": self.frame()}
        return event

    def __repr__(self) -> str:
        return f"Message(channel={self.channel!r}, id={self.id!r}, raw={self.raw!r})"


_UNSET: Final[Any] = object()


def order(message_id: str) -> tuple[int, int]:
    """Return the sort key of a message id: ``"12"`` (memory) or ``"1700000000000-3"`` (Redis)."""
    head, _, tail = message_id.partition("-")
    try:
        return int(head), int(tail or 0)
    except ValueError:
        raise ValueError(f"{message_id!r} is not a channels message id") from None


class Backend(Protocol):
    """Carry messages between the processes of an app; one per ``Channels``."""

    #: the backend's name ("memory", "redis", "redis-streams")
    name: str
    #: whether ``since`` can return what a reconnecting subscriber missed
    resumable: bool

    async def open(self, deliver: Deliver) -> None:
        """Connect; from now on call ``deliver`` with every message of a listened channel."""

    async def close(self) -> None:
        """Disconnect and stop delivering."""

    async def publish(self, channel: str, raw: bytes) -> str | None:
        """Send ``raw`` (JSON) to every process listening to ``channel``; return its id."""

    async def listen(self, channel: str) -> None:
        """Start delivering ``channel`` (its first local subscriber arrived)."""

    async def unlisten(self, channel: str) -> None:
        """Stop delivering ``channel`` (its last local subscriber left)."""

    async def since(self, channel: str, last_id: str) -> list[tuple[str, bytes]]:
        """Return the retained messages of ``channel`` after ``last_id``, oldest first."""

    async def trimmed_after(self, channel: str, last_id: str) -> bool:
        """Tell whether messages after ``last_id`` may be gone (older than the history)."""

    async def join(self, channel: str, token: str, member: str) -> None:
        """Record ``member`` (one connection, ``token``) as present on ``channel``."""

    async def leave(self, channel: str, token: str) -> None:
        """Forget the connection ``token`` on ``channel``."""

    async def members(self, channel: str) -> list[str]:
        """Return who is present on ``channel`` in every process, sorted, each once."""

    async def ping(self) -> None:
        """Raise ``ChannelsUnavailable`` unless the backend answers."""
