"""Password rules: minimum length, not a common password, not like the email address."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from difflib import SequenceMatcher
from functools import cache

__all__ = [
    "DEFAULT_VALIDATORS",
    "PasswordInvalid",
    "common_password",
    "minimum_length",
    "similar_to_email",
    "validate_password",
]

#: A rule takes (password, email) and returns a message, or None when the password passes.
Validator = Callable[[str, str | None], str | None]


class PasswordInvalid(ValueError):
    """The password breaks one or more rules; ``messages`` lists them all."""

    def __init__(self, messages: Sequence[str]) -> None:
        self.messages = list(messages)
        super().__init__(" ".join(self.messages))


def minimum_length(length: int = 10) -> Validator:
    """Refuse passwords shorter than ``length`` characters."""

    def check(password: str, _email: str | None) -> str | None:
        if len(password) < length:
            return f"This password is too short: use at least {length} characters."
        return None

    return check


@cache
def _common() -> frozenset[str]:
    # NOTE: zxcvbn's list (30,000 passwords ranked by frequency in real leaks) is loaded on the
    # first check, not at import: the module is large.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

    return frozenset(FREQUENCY_LISTS["passwords"])


def common_password(password: str, _email: str | None) -> str | None:
    """Refuse the 30,000 most common passwords (zxcvbn's list), in any case."""
    if password.lower().strip() in _common():
        return "This password is too common."
    return None


def similar_to_email(password: str, email: str | None, max_similarity: float = 0.7) -> str | None:
    """Refuse passwords too much like the email address or its parts."""
    if not email:
        return None
    lowered = password.lower()
    local, _, domain = email.lower().partition("@")
    parts = {email.lower(), local, *re.split(r"\W+", local), domain.split(".")[0]}
    for part in parts:
        if len(part) < 3:
            continue
        if part in lowered and len(part) >= len(lowered) / 2:
            return "This password is too similar to the email address."
        if SequenceMatcher(a=lowered, b=part).quick_ratio() >= max_similarity and (
            SequenceMatcher(a=lowered, b=part).ratio() >= max_similarity
        ):
            return "This password is too similar to the email address."
    return None


DEFAULT_VALIDATORS: tuple[Validator, ...] = (minimum_length(10), common_password, similar_to_email)


def validate_password(
    password: str, email: str | None = None, validators: Sequence[Validator] = DEFAULT_VALIDATORS
) -> None:
    """Raise ``PasswordInvalid`` with every broken rule's message."""
    messages = [m for m in (v(password, email) for v in validators) if m is not None]
    if messages:
        raise PasswordInvalid(messages)
