"""``Session``: the dict-like ``request.session``, decoded on first access."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # NOTE: annotations only; the manager imports this module at run time
    from celeris.sessions.manager import Sessions

__all__ = ["Session", "new_session_id"]


def new_session_id() -> str:
    """Return a new random session id (256 bits)."""
    return secrets.token_urlsafe(32)


class Session(MutableMapping[str, Any]):
    """One request's session: a mutable mapping that tracks access and changes."""

    __slots__ = (
        "_data",
        "_manager",
        "_raw",
        "accessed",
        "had_cookie",
        "issued",
        "modified",
        "previous_id",
        "session_id",
    )

    def __init__(
        self,
        manager: Sessions,
        raw: str | None = None,
        *,
        data: dict[str, Any] | None = None,
        session_id: str | None = None,
        issued: float | None = None,
    ) -> None:
        self._manager = manager
        self._raw = raw  # the cookie value, decoded on first access (signed-cookie backend)
        self._data = data
        self.session_id = session_id
        self.previous_id: str | None = None
        self.issued = issued
        self.had_cookie = raw is not None or session_id is not None
        self.accessed = False
        self.modified = False

    @property
    def data(self) -> dict[str, Any]:
        """The session's values (decoding the cookie now if not yet done)."""
        self.accessed = True
        data = self._data
        if data is None:
            data, self.issued = self._manager.decode(self._raw)
            self._data = data
        return data

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.modified = True

    def __delitem__(self, key: str) -> None:
        del self.data[key]
        self.modified = True

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __contains__(self, key: object) -> bool:
        return key in self.data

    def get(self, key: str, default: Any = None) -> Any:
        """Return the value of ``key``, or ``default``."""
        return self.data.get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        """Return the value of ``key``, setting it to ``default`` first if absent."""
        data = self.data
        if key not in data:
            data[key] = default
            self.modified = True
        return data[key]

    def clear(self) -> None:
        """Empty the session (its cookie is deleted at the end of the request)."""
        self.data.clear()
        self.modified = True

    def mark_modified(self) -> None:
        """Say a mutable value inside the session changed (``session["cart"].append(3)``)."""
        _ = self.data
        self.modified = True

    def rotate(self) -> None:
        """Give the session a new id, same data (call on login: stops session fixation)."""
        _ = self.data
        if self.session_id is not None and self.previous_id is None:
            self.previous_id = self.session_id
        self.session_id = new_session_id()
        self.modified = True

    def __repr__(self) -> str:
        keys = sorted(self._data) if self._data is not None else "not loaded"
        return f"Session(keys={keys})"
