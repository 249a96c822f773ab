"""Response heads: precomputed status lines and the once-a-second Date/Server line."""

from __future__ import annotations

from email.utils import formatdate
from http import HTTPStatus
from typing import Final

# PERF: one bytes object per status code, built once; a response head is one join.
STATUS_LINES: Final[dict[int, bytes]] = {
    int(s): f"HTTP/1.1 {int(s)} {s.phrase}\r\n".encode("latin-1") for s in HTTPStatus
}


def status_line(status: int) -> bytes:
    """Return the ``HTTP/1.1 <code> <reason>`` line for ``status``."""
    line = STATUS_LINES.get(status)
    if line is None:
        if not 100 <= status <= 999:
            raise ValueError(f"invalid HTTP status code {status!r}")
        line = b"HTTP/1.1 %d \r\n" % status
        STATUS_LINES[status] = line
    return line


# SECURITY/PERF: header pairs known to hold no CR or LF. A response whose every header is
# one of these (compared by value, so it does not matter who built the pair), or a
# content-length of digits, skips the CR/LF scan of its head (~2,300 Ir: two bytes.count).
# A tuple, not a set: ``in`` compares by ==, which cannot fail on unhashable pairs.
CLEAN_HEADERS: Final[tuple[tuple[bytes, bytes], ...]] = (
    (b"content-type", b"text/plain; charset=utf-8"),
    (b"content-type", b"application/json"),
    (b"content-type", b"text/html; charset=utf-8"),
    (b"content-type", b"application/problem+json"),
)

# PERF: ``b"content-length: %d\r\n" % n`` costs ~800 Ir per response; most bodies are
# small, so their lines are kept by length (bounded: longer bodies are formatted each time).
CONTENT_LENGTH_LINES: Final[dict[int, bytes]] = {}
_CACHED_LENGTHS: Final = 16384


def content_length_line(length: int) -> bytes:
    """Return the ``content-length`` line for a body of ``length`` bytes."""
    line = CONTENT_LENGTH_LINES.get(length)
    if line is None:
        line = b"content-length: %d\r\n" % length
        if 0 <= length < _CACHED_LENGTHS:
            CONTENT_LENGTH_LINES[length] = line
    return line


class DefaultHeaders:
    """The ``date`` and ``server`` lines every response carries, refreshed once a second."""

    __slots__ = ("date_header", "line", "nlines", "server_header")

    def __init__(self, *, server_header: bool = True, date_header: bool = True) -> None:
        self.server_header = server_header
        self.date_header = date_header
        self.line = b""
        self.nlines = int(date_header) + int(server_header)
        self.tick()

    def tick(self) -> None:
        """Recompute the cached header lines (the server calls this every second)."""
        # PERF: formatting the date costs ~2 us; doing it per response would be most of a
        # small response's head. Ticking once a second is what RFC 9110 allows.
        parts = []
        if self.date_header:
            parts.append(b"date: " + formatdate(usegmt=True).encode("ascii") + b"\r\n")
        if self.server_header:
            parts.append(b"server: celeris\r\n")
        self.line = b"".join(parts)
