"""The mail battery: ``Mailer(app=app)`` and ``Message``; console by default, SMTP by MAIL_URL."""

from celeris.mail.errors import (
    InvalidAddress,
    InvalidHeader,
    MailConfigError,
    MailError,
    MailRejected,
    MailTimeout,
)
from celeris.mail.health import Health, check
from celeris.mail.mailer import Mailer, resolve_url
from celeris.mail.memory import SentMail
from celeris.mail.message import Attachment, Message, parse_address
from celeris.mail.templates import html_to_text

__all__ = [
    "Attachment",
    "Health",
    "InvalidAddress",
    "InvalidHeader",
    "MailConfigError",
    "MailError",
    "MailRejected",
    "MailTimeout",
    "Mailer",
    "Message",
    "SentMail",
    "check",
    "html_to_text",
    "parse_address",
    "resolve_url",
]
