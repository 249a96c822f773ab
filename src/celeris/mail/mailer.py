"""``Mailer``: send ``Message``s through the backend its URL picks, or render a template first.

URLs: ``console://`` (the default: print), ``memory://`` (``mailer.outbox``, for tests),
``file:///path`` (``.eml`` files), ``smtp://user:pass@host:587`` (STARTTLS) and
``smtps://host:465`` (implicit TLS). ``send(..., background=True)`` goes through a
``celeris.mail.deliver`` job when the app has the jobs battery (see ``celeris.mail.delivery``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlsplit

from celeris import telemetry
from celeris.health import register_check
from celeris.mail import delivery
from celeris.mail.base import Backend
from celeris.mail.console import ConsoleBackend
from celeris.mail.errors import MailConfigError, MailError, MailRejected
from celeris.mail.file import FileBackend
from celeris.mail.health import check
from celeris.mail.memory import MemoryBackend, SentMail
from celeris.mail.message import Message, parse_address
from celeris.mail.templates import MailTemplates
from celeris.settings import app_setting

__all__ = ["Mailer", "resolve_url"]

logger = logging.getLogger("celeris.mail")

DEFAULT_URL = "console://"
DEFAULT_FROM = "webmaster@localhost"


def resolve_url(url: str | None, app: Any) -> str:
    """Pick the URL: ``url=``, the app's MAIL_URL setting, the env, then ``console://``."""
    return str(url or app_setting(app, "MAIL_URL") or DEFAULT_URL)


def _file_folder(url: str) -> Path:
    parts = urlsplit(url)
    # file:///abs/path, or file://./relative as a convenience
    return Path(unquote(parts.netloc + parts.path) if parts.netloc == "." else unquote(parts.path))


def _backend_for(url: str, tls_context: ssl.SSLContext | None) -> Backend:
    scheme = urlsplit(url).scheme
    if scheme == "console":
        return ConsoleBackend()
    if scheme == "memory":
        return MemoryBackend()
    if scheme == "file":
        return FileBackend(_file_folder(url))
    if scheme in ("smtp", "smtps"):
        try:
            from celeris.mail.smtp import SMTPBackend  # NOTE: imported only when chosen
        except ImportError as error:
            raise MailConfigError(
                f"the mail URL {scheme}:// needs aiosmtplib: pip install 'celeris[mail]'"
            ) from error
        return SMTPBackend(url, tls_context=tls_context)
    raise MailConfigError(
        f"unknown mail URL scheme {scheme!r} (use console://, memory://, file:///path, "
        "smtp://host:587 or smtps://host:465)"
    )


class Mailer:
    """Send mail; attached to ``app`` it finds ``app.state.jobs`` and drains sends at shutdown."""

    def __init__(
        self,
        app: Any = None,
        url: str | None = None,
        *,
        default_from: str | None = None,
        templates: str | Path = "templates",
        tls_context: ssl.SSLContext | None = None,
        retries: int = 3,
        retry_delay: float = 1.0,
        jobs: Any = None,
    ) -> None:
        self.url = resolve_url(url, app)
        self.backend: Backend = _backend_for(self.url, tls_context)
        self.default_from = str(default_from or app_setting(app, "MAIL_FROM") or DEFAULT_FROM)
        parse_address(self.default_from)  # a bad sender fails at start-up, not on first send
        self.templates = MailTemplates(templates)
        self.retries = retries
        self.retry_delay = retry_delay
        if retries < 1:
            raise ValueError(f"Mailer: retries counts attempts and must be >= 1, not {retries}")
        self._background: set[asyncio.Task[None]] = set()
        self._app = app
        self._jobs = jobs
        self._job: Any = None
        if app is not None:
            app.on_startup(self._warn_if_console)
            # NOTE: a Jobs attached after this Mailer is found at start-up, which runs before
            # the Jobs opens (its handler was registered later), so every process that starts
            # the app (server or `celeris worker`) knows the delivery job before claiming one.
            app.on_startup(self._attach_at_startup)
            app.on_shutdown(self.close)
            register_check(app, "mail", functools.partial(check, self))
        self.attach_jobs()

    def __repr__(self) -> str:
        return f"Mailer(backend={self.backend.name!r}, default_from={self.default_from!r})"

    def _warn_if_console(self) -> None:
        if isinstance(self.backend, ConsoleBackend) and not getattr(self._app, "debug", False):
            logger.warning(
                "mail goes to the console, not to anyone: set MAIL_URL (smtp://...) to send it"
            )

    def _attach_at_startup(self) -> None:
        self.attach_jobs()

    def attach_jobs(self) -> Any:
        """Register the ``celeris.mail.deliver`` job on this mailer's ``Jobs``; return it.

        The ``Jobs`` is the one passed as ``jobs=``, else ``app.state.jobs``; None without one.
        Called at construction, at the app's start-up and on a background send, so the order
        in which ``Mailer`` and ``Jobs`` are created does not matter.
        """
        if self._job is None:
            jobs = self._jobs
            if jobs is None and self._app is not None:
                jobs = getattr(getattr(self._app, "state", None), "jobs", None)
            if jobs is not None:
                self._job = delivery.register(self, jobs)
                self._jobs = jobs
        return self._job

    @property
    def outbox(self) -> list[SentMail]:
        """The mail sent so far (the ``memory://`` backend only)."""
        if not isinstance(self.backend, MemoryBackend):
            raise AttributeError(f"only memory:// keeps an outbox, not {self.backend.name}://")
        return self.backend.outbox

    async def send(
        self,
        message: Message | None = None,
        /,
        *,
        background: bool = False,
        session: Any = None,
        **fields: Any,
    ) -> str:
        """Deliver ``message`` (or one built from ``fields``); return its Message-ID.

        ``background=True`` returns at once. With the jobs battery the mail is stored as a
        ``celeris.mail.deliver`` job (in ``session``'s transaction when given) that a worker
        delivers with ``retries`` attempts, then dead-letters; without it a task in this
        process retries, then logs an error (not durable).
        """
        if message is None:
            message = Message(**fields)
        elif fields:
            raise TypeError("pass a Message or its fields, not both")
        if session is not None and not background:
            raise TypeError("session= is for background=True: a direct send happens now")
        email = message.build(self.default_from)
        recipients = message.recipients
        if background and self.attach_jobs() is not None:
            # PERF: the request waits for one insert (or publish), never for the SMTP server.
            await self._job.enqueue(email.as_bytes(), recipients, session=session)
        elif background:
            if session is not None:
                raise MailConfigError(
                    "send(session=...) needs the jobs battery to follow the transaction: "
                    "attach Jobs(app=app) or pass Mailer(jobs=...)"
                )
            task = asyncio.get_running_loop().create_task(self._deliver_retrying(email, message))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        else:
            await self.transmit(email, message, recipients)
        return str(email["Message-ID"])

    async def transmit(self, email: EmailMessage, message: Message, recipients: list[str]) -> None:
        """Hand one built mail to the backend now (a ``mail send`` span when traced)."""
        if telemetry.tracer is None:
            await self.backend.send(email, message, recipients)
            return
        with telemetry.mail_span(self.backend.name, len(recipients)):
            await self.backend.send(email, message, recipients)

    async def _deliver_retrying(self, email: EmailMessage, message: Message) -> None:
        for attempt in range(1, self.retries + 1):
            try:
                await self.transmit(email, message, message.recipients)
                return
            except MailError as error:
                if attempt == self.retries or isinstance(error, MailRejected):
                    logger.error(
                        "mail %s to %s not delivered after %d attempts: %s",
                        email["Message-ID"],
                        ", ".join(message.recipients),
                        attempt,
                        error,
                    )
                    return
                await asyncio.sleep(self.retry_delay * 2 ** (attempt - 1))
            except Exception:
                logger.exception("mail %s not delivered: the backend failed", email["Message-ID"])
                return

    async def send_template(
        self,
        name: str,
        *,
        to: Sequence[str | tuple[str, str]] | str,
        context: dict[str, Any] | None = None,
        background: bool = False,
        session: Any = None,
        **fields: Any,
    ) -> str:
        """Render ``templates/mail/<name>.{subject,txt,html}`` with ``context`` and send it."""
        rendered = await self.templates.render(name, dict(context or {}))
        message = Message(
            to=to,
            subject=fields.pop("subject", rendered.subject),
            text=rendered.text,
            html=rendered.html,
            **fields,
        )
        return await self.send(message, background=background, session=session)

    async def check(self) -> None:
        """Raise ``MailError`` if the backend cannot deliver now."""
        await self.backend.check()

    async def close(self) -> None:
        """Wait for background sends, then close the backend."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await self.backend.close()

    async def __aenter__(self) -> Mailer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
