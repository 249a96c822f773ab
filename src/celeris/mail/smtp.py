"""The SMTP mail backend on aiosmtplib: STARTTLS, implicit TLS (``smtps://``), AUTH, timeouts.

``smtp://user:password@host:587`` upgrades with STARTTLS when the server offers it
(``?starttls=always`` insists, ``?starttls=never`` refuses); ``smtps://host:465`` speaks TLS from
the first byte. ``?timeout=`` bounds each step in seconds (10 by default), so a stalled server is
a clear ``MailTimeout`` rather than a hung request.
"""

from __future__ import annotations

import logging
import ssl
from email.message import EmailMessage
from urllib.parse import parse_qsl, unquote, urlsplit

import aiosmtplib

from celeris.mail.errors import MailConfigError, MailError, MailRejected, MailTimeout
from celeris.mail.message import Message

__all__ = ["SMTPBackend"]

logger = logging.getLogger("celeris.mail")

_STARTTLS = {"auto": None, "always": True, "never": False}


class SMTPBackend:
    """Deliver over SMTP, one connection per message."""

    name = "smtp"

    def __init__(self, url: str, *, tls_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        options = dict(parse_qsl(parts.query))
        self.use_tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.use_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        starttls = options.pop("starttls", "auto")
        if starttls not in _STARTTLS:
            raise MailConfigError(f"starttls= is auto, always or never, not {starttls!r}")
        self.start_tls = None if self.use_tls else _STARTTLS[starttls]
        try:
            self.timeout = float(options.pop("timeout", "10"))
        except ValueError:
            raise MailConfigError("timeout= is a number of seconds") from None
        self.tls_context = tls_context
        if options:
            raise MailConfigError(f"unknown SMTP URL options: {', '.join(sorted(options))}")

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def _client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            timeout=self.timeout,
            tls_context=self.tls_context,
        )

    def _error(self, error: Exception) -> MailError:
        where = self.where
        if isinstance(error, aiosmtplib.SMTPTimeoutError | TimeoutError):
            return MailTimeout(f"the SMTP server {where} did not answer within {self.timeout:g}s")
        if isinstance(error, aiosmtplib.SMTPConnectError):
            return MailError(f"could not connect to the SMTP server {where}: {error}")
        if isinstance(error, aiosmtplib.SMTPAuthenticationError):
            return MailError(
                f"the SMTP server {where} refused the login of {self.username!r}: "
                f"{error.code} {error.message}"
            )
        if isinstance(error, aiosmtplib.SMTPRecipientsRefused):
            refused = ", ".join(f"{e.recipient} ({e.code} {e.message})" for e in error.recipients)
            # NOTE: 5xx is permanent (RFC 5321 4.2.1), 4xx transient: retried
            permanent = all(e.code >= 500 for e in error.recipients)
            kind = MailRejected if permanent else MailError
            return kind(f"the SMTP server {where} refused every recipient: {refused}")
        if isinstance(error, aiosmtplib.SMTPServerDisconnected):
            return MailError(f"the SMTP server {where} closed the connection: {error}")
        if isinstance(error, aiosmtplib.SMTPResponseException):
            kind = MailRejected if error.code >= 500 else MailError
            return kind(f"the SMTP server {where} answered {error.code} {error.message}")
        return MailError(f"mail to the SMTP server {where} failed: {error}")

    async def send(self, email: EmailMessage, message: Message, recipients: list[str]) -> None:
        sender = email["From"].addresses[0].addr_spec
        try:
            async with self._client() as client:
                refused, _ = await client.send_message(email, sender=sender, recipients=recipients)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise self._error(error) from error
        if refused:
            # NOTE: delivered to the others; the server refused these (as smtplib reports it)
            logger.warning(
                "the SMTP server %s refused %s for %s",
                self.where,
                ", ".join(
                    f"{rcpt} ({reply.code} {reply.message})" for rcpt, reply in refused.items()
                ),
                email["Message-ID"],
            )

    async def check(self) -> None:
        try:
            async with self._client() as client:
                await client.noop()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise self._error(error) from error

    async def close(self) -> None:
        return None
