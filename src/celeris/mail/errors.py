"""The mail battery's errors: bad input is a ``ValueError``, a failed delivery a ``MailError``."""

from __future__ import annotations

from celeris.core.errors import UnprocessableEntity

__all__ = [
    "InvalidAddress",
    "InvalidHeader",
    "MailConfigError",
    "MailError",
    "MailRejected",
    "MailTimeout",
]


# NOTE: bad input, so also a 422: a handler that passes a visitor's address straight into a
# Message answers with a problem+json naming the fault, not a 500.
class InvalidAddress(UnprocessableEntity, ValueError):
    """An address that is not one mailbox (``name <local@domain>`` or ``local@domain``)."""


class InvalidHeader(UnprocessableEntity, ValueError):
    """A header name or value that would break the message (line breaks, NUL, bad names)."""


class MailConfigError(ValueError):
    """A mail URL names an unknown scheme, or its backend's extra is not installed."""


class MailError(Exception):
    """The message was not delivered; the message says where and why."""


class MailRejected(MailError):
    """The server refused the message for good (an SMTP 5xx reply): sending again cannot help.

    Not retried: a background send goes straight to the jobs battery's dead letters.
    """


class MailTimeout(MailError, TimeoutError):
    """The mail server did not answer in time."""
