"""The battery's input errors (each names the field at fault and says how to fix it)."""

from __future__ import annotations

__all__ = ["SignupError"]


class SignupError(ValueError):
    """An account cannot be created: ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.messages = [message]
        super().__init__(message)
