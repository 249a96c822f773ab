"""``Message``: one mail, validated when built, rendered with the standard ``email`` package.

Addresses are checked to be exactly one mailbox each, and no header (subject, names, extra
headers) may carry a line break: that is how header injection smuggles in a ``Bcc:``.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default as _policy
from email.utils import make_msgid
from pathlib import Path

from celeris.mail.errors import InvalidAddress, InvalidHeader

__all__ = ["Attachment", "Message", "parse_address"]

# NOTE: a practical subset of RFC 5321's mailbox: dot-atom local part, dotted domain labels
# (or a single label such as localhost); IDNs are accepted as Unicode labels.
_LOCAL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+)*$"
)
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9\u0080-\U0010ffff-]{1,63}(?<!-)$")
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII except ':'
_RESERVED = frozenset(
    {"from", "to", "cc", "bcc", "reply-to", "subject", "date", "message-id", "mime-version"}
    | {"content-type", "content-transfer-encoding"}
)


def _no_breaks(what: str, value: str) -> str:
    if "\r" in value or "\n" in value or "\0" in value:
        raise InvalidHeader(f"{what} may not contain line breaks or NUL: {value!r}")
    return value


def parse_address(value: str | tuple[str, str]) -> Address:
    """Parse ``"Name <a@x.org>"``, ``"a@x.org"`` or ``(name, address)`` into one mailbox."""
    if isinstance(value, tuple) and len(value) == 2:
        name, addr = value
    elif isinstance(value, str):
        _no_breaks("an address", value)
        try:
            parsed = _policy.header_factory("to", value)
        except Exception:  # NOTE: the stdlib parser raises IndexError on some malformed input
            raise InvalidAddress(f"not an email address: {value!r}") from None
        if parsed.defects or len(parsed.addresses) != 1:
            raise InvalidAddress(f"not one email address: {value!r}")
        name, addr = parsed.addresses[0].display_name, parsed.addresses[0].addr_spec
    else:
        raise InvalidAddress(f"an address is a string or (name, address), not {value!r}")
    _no_breaks("an address", name)
    _no_breaks("an address", addr)
    local, at, domain = addr.rpartition("@")
    if (
        not at
        or len(addr) > 254
        or len(local) > 64
        or not _LOCAL.match(local)
        or not all(_LABEL.match(label) for label in domain.split("."))
    ):
        raise InvalidAddress(f"not a valid email address: {addr!r}")
    return Address(display_name=name, username=local, domain=domain)


def _addresses(values: str | Sequence[str | tuple[str, str]] | None) -> list[Address]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    return [parse_address(v) for v in values]


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a message; ``inline=True`` with a ``cid`` for images in the HTML."""

    filename: str
    content: bytes
    content_type: str | None = None
    inline: bool = False
    cid: str | None = None

    def __post_init__(self) -> None:
        _no_breaks("an attachment's filename", self.filename)
        if self.cid is not None:
            _no_breaks("a content id", self.cid)
        if self.inline and not self.cid:
            raise ValueError(f"inline attachment {self.filename!r} needs a cid to refer to it")

    @classmethod
    def from_path(
        cls, path: str | Path, *, content_type: str | None = None, cid: str | None = None
    ) -> Attachment:
        """Attach a file from disk (inline when ``cid`` is given)."""
        path = Path(path)
        return cls(path.name, path.read_bytes(), content_type, inline=cid is not None, cid=cid)

    @property
    def mime_type(self) -> tuple[str, str]:
        guessed = self.content_type or mimetypes.guess_type(self.filename)[0]
        maintype, _, subtype = (guessed or "application/octet-stream").partition("/")
        return maintype, subtype or "octet-stream"


@dataclass(slots=True, kw_only=True)
class Message:
    """A mail: recipients, subject, a text and/or HTML body, attachments and headers."""

    to: Sequence[str | tuple[str, str]] | str = ()
    subject: str = ""
    text: str | None = None
    html: str | None = None
    from_: str | tuple[str, str] | None = None  # None: the mailer's default sender
    cc: Sequence[str | tuple[str, str]] | str = ()
    bcc: Sequence[str | tuple[str, str]] | str = ()
    reply_to: Sequence[str | tuple[str, str]] | str = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    attachments: Sequence[Attachment | str | Path] = ()

    def __post_init__(self) -> None:
        _no_breaks("the subject", self.subject)
        self.attachments = [
            a if isinstance(a, Attachment) else Attachment.from_path(a) for a in self.attachments
        ]
        # Validate now, so a bad address fails where the message is built, not at delivery.
        if not self.recipients:
            raise InvalidAddress("a message needs at least one recipient (to, cc or bcc)")
        _addresses(self.reply_to)
        if self.from_ is not None:
            parse_address(self.from_)
        for name, value in self.headers.items():
            if not _HEADER_NAME.match(name):
                raise InvalidHeader(f"not a header name: {name!r}")
            if name.lower() in _RESERVED:
                raise InvalidHeader(f"set {name} through its Message field, not headers=")
            _no_breaks(f"the {name} header", value)
        if self.text is None and self.html is None:
            self.text = ""

    @property
    def recipients(self) -> list[str]:
        """Every envelope recipient: to, cc and bcc (bcc never appears in the headers)."""
        return [
            a.addr_spec for a in (*_addresses(self.to), *_addresses(self.cc), *_addresses(self.bcc))
        ]

    def build(self, default_from: str) -> EmailMessage:
        """Render the message as a MIME ``EmailMessage`` (Bcc left out of the headers)."""
        sender = parse_address(self.from_ if self.from_ is not None else default_from)
        email = EmailMessage()
        email["From"] = sender
        if to := _addresses(self.to):
            email["To"] = to
        if cc := _addresses(self.cc):
            email["Cc"] = cc
        if reply_to := _addresses(self.reply_to):
            email["Reply-To"] = reply_to
        email["Subject"] = self.subject
        email["Message-ID"] = make_msgid(domain=sender.domain)
        for name, value in self.headers.items():
            email[name] = value
        files = [
            a for a in self.attachments if isinstance(a, Attachment)
        ]  # all, since __post_init__
        inline = [a for a in files if a.inline]
        if self.text is not None:
            email.set_content(self.text)
            if self.html is not None:
                email.add_alternative(self.html, subtype="html")
        else:
            email.set_content(self.html or "", subtype="html")
        if inline:
            html_part = email.get_body(("html",))
            if html_part is None:
                raise ValueError("inline images need an html body that refers to their cid")
            for item in inline:
                maintype, subtype = item.mime_type
                html_part.add_related(
                    item.content,
                    maintype=maintype,
                    subtype=subtype,
                    cid=f"<{item.cid}>",
                    filename=item.filename,
                    disposition="inline",
                )
        for item in files:
            if not item.inline:
                maintype, subtype = item.mime_type
                email.add_attachment(
                    item.content, maintype=maintype, subtype=subtype, filename=item.filename
                )
        return email
