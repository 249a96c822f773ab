"""Email addresses as identities: one normal form, so look-alikes cannot share an account."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_EMAIL_LENGTH", "EmailInvalid", "normalize_email"]

MAX_EMAIL_LENGTH = 254  # RFC 5321 path limit
_LOCAL = re.compile(r"^[^\s@\"(),:;<>\[\\\]]+$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class EmailInvalid(ValueError):
    """The text is not an email address this battery accepts (the message says why)."""


def _script(char: str) -> str:
    """Return the Unicode script word of a letter (``LATIN``, ``CYRILLIC``...), or ``""``."""
    if char.isascii() or not char.isalpha():
        return "LATIN" if char.isalpha() else ""
    return unicodedata.name(char, "").split(" ", 1)[0]


def normalize_email(email: str) -> str:
    """Return the canonical form of ``email`` (NFKC, case-folded, IDNA domain) or raise.

    Two addresses that render alike normalise alike: full-width letters, ligatures and case
    fold together; a local part that mixes scripts (a Cyrillic ``U+0430`` among Latin letters)
    is refused, and a Unicode domain becomes its ASCII (punycode) form.
    """
    if not isinstance(email, str) or len(email) > MAX_EMAIL_LENGTH:
        raise EmailInvalid("Enter a valid email address (254 characters at most).")
    text = unicodedata.normalize("NFKC", email.strip())
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain or not _LOCAL.match(local):
        raise EmailInvalid("Enter a valid email address.")
    # SECURITY: a mixed-script local part is the classic look-alike ("paypal" spelt with a
    # Cyrillic U+0430); one script per local part keeps every distinct address visibly distinct.
    scripts = {s for s in map(_script, local) if s}
    if len(scripts) > 1:
        raise EmailInvalid("The email address mixes alphabets; type it in one alphabet.")
    try:
        ascii_domain = domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise EmailInvalid("The email address's domain is not valid.") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise EmailInvalid("The email address's domain is not valid.")
    normal = f"{local.casefold()}@{ascii_domain}"
    if len(normal) > MAX_EMAIL_LENGTH:
        raise EmailInvalid("Enter a valid email address (254 characters at most).")
    return normal
