"""Storage names: relative, ``/``-separated paths that can never leave the storage root.

SECURITY: a name is refused, not repaired, when any segment is empty, ``.`` or ``..``, when it
starts with ``/`` or a drive letter, holds a backslash, NUL or another control character, or
when percent-decoding it (up to three times) would produce any of these: a name that only
becomes a traversal after a proxy or a framework decodes it is a traversal.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import unquote

from celeris.storage.errors import InvalidName

__all__ = ["alternative_name", "clean_name"]

MAX_NAME = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def _check(name: str, original: str) -> None:
    if _CONTROL.search(name):
        raise InvalidName(f"a file name may not contain control characters or NUL: {original!r}")
    if "\\" in name:
        raise InvalidName(f"a file name uses / between folders, not \\: {original!r}")
    if name.startswith("/") or _DRIVE.match(name):
        raise InvalidName(f"a file name is relative to the storage, not absolute: {original!r}")
    for segment in name.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidName(f"a file name may not have empty, '.' or '..' segments: {original!r}")


def clean_name(name: object) -> str:
    """Return ``name`` if it is a safe relative storage path; raise ``InvalidName`` if not."""
    if not isinstance(name, str) or not name:
        raise InvalidName(f"a file name is a non-empty string, not {name!r}")
    if len(name) > MAX_NAME:
        raise InvalidName(f"a file name is at most {MAX_NAME} characters")
    decoded = name
    for _ in range(4):
        _check(decoded, name)
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    else:
        raise InvalidName(f"a file name may not be percent-encoded this deep: {name!r}")
    return name


def alternative_name(name: str) -> str:
    """``avatars/me.png`` -> ``avatars/me_3kq9x2a.png``: a new name beside a taken one."""
    folder, _, leaf = name.rpartition("/")
    stem, dot, extension = leaf.partition(".") if not leaf.startswith(".") else (leaf, "", "")
    unique = f"{stem}_{secrets.token_hex(4)}{dot}{extension}"
    return f"{folder}/{unique}" if folder else unique
