"""Flash messages: one-time notes kept in the session until the next page shows them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["flash", "get_flashed_messages"]

KEY = "_flashes"


def flash(request: Any, message: str, category: str = "message") -> None:
    """Keep ``message`` in the session for the next page that shows flashed messages."""
    session = request.session
    flashes = list(session.get(KEY) or [])
    flashes.append([category, message])
    session[KEY] = flashes


def get_flashed_messages(
    request: Any, *, with_categories: bool = False, category_filter: Sequence[str] = ()
) -> list[Any]:
    """Return (and forget) the flashed messages: texts, or ``(category, text)`` pairs."""
    session = request.session
    flashes = session.get(KEY)
    if not flashes:
        return []
    if category_filter:
        shown = [f for f in flashes if f[0] in category_filter]
        kept = [f for f in flashes if f[0] not in category_filter]
    else:
        shown, kept = flashes, []
    if kept:
        session[KEY] = kept
    else:
        del session[KEY]
    if with_categories:
        return [(category, message) for category, message in shown]
    return [message for _, message in shown]
