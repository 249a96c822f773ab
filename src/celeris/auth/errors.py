"""The battery's input errors (each names the field at fault and says how to fix it)."""

from __future__ import annotations

__all__ = ["PasskeyError", "SignupError", "SocialLoginError"]


class SignupError(ValueError):
    """An account cannot be created: ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.messages = [message]
        super().__init__(message)


class PasskeyError(ValueError):
    """A passkey ceremony failed: no challenge, a mismatch, an unknown credential."""


class SocialLoginError(ValueError):
    """The provider's answer cannot sign anyone in (a message safe to show)."""
