"""Durable delivery: a background mail stored as a ``celeris.mail.deliver`` job.

The job carries the rendered MIME bytes (so the Message-ID, attachments, inline images and
headers arrive exactly as ``send`` built them) and the envelope recipients (so bcc addresses
are delivered but never written into a header). The jobs battery is reached by duck typing:
``celeris.mail`` never imports ``celeris.jobs``, which needs its own extra.
"""

from __future__ import annotations

from collections.abc import Callable
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as _policy
from typing import TYPE_CHECKING, Any

from celeris.mail.errors import MailConfigError, MailRejected
from celeris.mail.message import _RESERVED, Attachment, Message

if TYPE_CHECKING:
    from celeris.mail.mailer import Mailer

__all__ = ["JOB_NAME", "decode", "message_from_email", "register"]

JOB_NAME = "celeris.mail.deliver"


def decode(mime: bytes) -> EmailMessage:
    """Parse stored MIME bytes back into the ``EmailMessage`` that was rendered."""
    email = message_from_bytes(mime, policy=_policy)
    assert isinstance(email, EmailMessage)  # the default policy's message factory
    return email


def _mailboxes(email: EmailMessage, name: str) -> list[str]:
    header = email[name]
    return [] if header is None else [str(a) for a in header.addresses]


def message_from_email(email: EmailMessage, recipients: list[str]) -> Message:
    """Rebuild the ``Message`` a rendered mail came from (bcc: recipients not in to/cc)."""
    text_part, html_part = email.get_body(("plain",)), email.get_body(("html",))
    attachments: list[Attachment | str] = []
    for part in email.walk():
        if part.is_multipart() or part is text_part or part is html_part:
            continue
        cid = part["Content-ID"]
        payload = part.get_payload(decode=True)
        attachments.append(
            Attachment(
                part.get_filename() or "attachment",
                payload if isinstance(payload, bytes) else b"",
                part.get_content_type(),
                inline=cid is not None and part.get_content_disposition() == "inline",
                cid=str(cid).strip("<>") if cid is not None else None,
            )
        )
    to, cc = _mailboxes(email, "To"), _mailboxes(email, "Cc")
    visible = {addr.addr_spec for h in (email["To"], email["Cc"]) if h for addr in h.addresses}
    return Message(
        to=to,
        cc=cc,
        bcc=[r for r in recipients if r not in visible],
        reply_to=_mailboxes(email, "Reply-To"),
        from_=_mailboxes(email, "From")[0],
        subject=str(email["Subject"] or ""),
        text=None if text_part is None else str(text_part.get_content()),
        html=None if html_part is None else str(html_part.get_content()),
        headers={k: str(v) for k, v in email.items() if k.lower() not in _RESERVED},
        attachments=attachments,
    )


def register(mailer: Mailer, jobs: Any) -> Any:
    """Register the delivery job for ``mailer`` on ``jobs``; return the ``Job``."""
    existing = jobs.registry.get(JOB_NAME)
    if existing is not None:
        if getattr(existing.func, "mailer", None) is mailer:
            return existing
        raise MailConfigError(
            f"{JOB_NAME} already delivers for another Mailer on these Jobs; "
            "one Mailer per Jobs sends in the background"
        )

    async def deliver(mime: bytes, recipients: list[str]) -> None:
        """Deliver one stored mail; a ``MailError`` makes the jobs battery retry it.

        A ``MailRejected`` (an SMTP 5xx) is not retried: the job is dead-lettered at once.
        """
        email = decode(mime)
        await mailer.transmit(email, message_from_email(email, recipients), recipients)

    deliver.mailer = mailer  # type: ignore[attr-defined]
    # NOTE: the mailer's ``retries`` counts attempts (as the in-process task does); a job's
    # ``retries`` counts the attempts after the first.
    decorate: Callable[[Any], Any] = jobs.job(
        name=JOB_NAME,
        retries=max(0, mailer.retries - 1),
        backoff=mailer.retry_delay,
        dont_retry=MailRejected,
    )
    return decorate(deliver)
