"""Messages: MIME structure, attachments and inline images, address validation, no injection."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from celeris.mail import Attachment, InvalidAddress, InvalidHeader, Message, parse_address


def _parsed(message: Message, sender: str = "app@example.org"):
    return message_from_bytes(message.build(sender).as_bytes(), policy=policy.default)


def test_text_and_html_alternatives() -> None:
    email = _parsed(Message(to=["a@x.org"], subject="Hi", text="plain", html="<b>rich</b>"))
    assert email.get_content_type() == "multipart/alternative"
    assert email.get_body(("plain",)).get_content().strip() == "plain"
    assert email.get_body(("html",)).get_content().strip() == "<b>rich</b>"


def test_html_only_and_empty() -> None:
    assert _parsed(Message(to="a@x.org", html="<p>x</p>")).get_content_type() == "text/html"
    assert _parsed(Message(to="a@x.org")).get_content_type() == "text/plain"


def test_attachments_and_inline_images(tmp_path: Path) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 fake")
    logo = Attachment("logo.png", b"\x89PNG fake", inline=True, cid="logo")
    email = _parsed(
        Message(
            to=["a@x.org"],
            text="see attached",
            html='<img src="cid:logo">',
            attachments=[report, logo, Attachment("data.csv", b"a,b\n1,2\n")],
        )
    )
    assert email.get_content_type() == "multipart/mixed"
    files = {part.get_filename(): part for part in email.iter_attachments()}
    assert set(files) == {"report.pdf", "data.csv"}
    assert files["report.pdf"].get_content_type() == "application/pdf"
    assert files["report.pdf"].get_content() == b"%PDF-1.4 fake"
    assert files["data.csv"].get_content_type() == "text/csv"
    related = next(p for p in email.walk() if p.get_content_type() == "multipart/related")
    image = next(p for p in related.walk() if p.get_content_type() == "image/png")
    assert image["Content-ID"] == "<logo>"
    assert image.get_content_disposition() == "inline"
    assert image.get_content() == b"\x89PNG fake"


def test_inline_needs_cid_and_html() -> None:
    with pytest.raises(ValueError, match="needs a cid"):
        Attachment("x.png", b"", inline=True)
    with pytest.raises(ValueError, match="html body"):
        Message(
            to="a@x.org", text="t", attachments=[Attachment("x.png", b"", inline=True, cid="x")]
        ).build("a@x.org")


def test_headers_reply_to_cc() -> None:
    email = _parsed(
        Message(
            to=[("Ada Lovelace", "ada@x.org")],
            cc="Bob <bob@x.org>",
            reply_to=["support@x.org"],
            from_="News <news@x.org>",
            headers={"X-Campaign": "spring", "List-Unsubscribe": "<https://x.org/u>"},
            subject="Ünïcode subject",
            text="x",
        )
    )
    assert email["To"] == "Ada Lovelace <ada@x.org>"
    assert email["Cc"] == "Bob <bob@x.org>"
    assert email["Reply-To"] == "support@x.org"
    assert email["From"] == "News <news@x.org>"
    assert email["X-Campaign"] == "spring"
    assert email["Subject"] == "Ünïcode subject"
    assert email["Message-ID"].endswith("@x.org>")


def test_display_names_are_quoted() -> None:
    email = _parsed(Message(to=[("Doe, Jane", "jane@x.org")], text="x"))
    assert email["To"].addresses[0].display_name == "Doe, Jane"
    assert len(email["To"].addresses) == 1


@pytest.mark.parametrize(
    "address",
    [
        "",
        "plain",
        "a@",
        "@x.org",
        "a b@x.org",
        "a@x.org, b@x.org",  # two addresses where one is expected
        "Evil, Guy <a@x.org>",
        "a@-x.org",
        "a@x..org",
        "a" * 65 + "@x.org",
    ],
)
def test_invalid_addresses(address: str) -> None:
    with pytest.raises(InvalidAddress):
        parse_address(address)


@pytest.mark.parametrize(
    "fields",
    [
        {"to": ["a@x.org\r\nBcc: victim@y.org"]},
        {"to": [("Name\r\nBcc: victim@y.org", "a@x.org")]},
        {"to": ["a@x.org"], "subject": "hi\nBcc: victim@y.org"},
        {"to": ["a@x.org"], "subject": "nul\0"},
        {"to": ["a@x.org"], "headers": {"X-A": "v\r\nBcc: victim@y.org"}},
        {"to": ["a@x.org"], "headers": {"X A": "v"}},
        {"to": ["a@x.org"], "headers": {"Bcc": "victim@y.org"}},
    ],
    ids=["to", "name", "subject", "nul", "header-value", "header-name", "reserved"],
)
def test_header_injection_refused(fields: dict) -> None:
    with pytest.raises((InvalidHeader, InvalidAddress)):
        Message(**fields)


def test_attachment_filename_injection_refused() -> None:
    with pytest.raises(InvalidHeader):
        Attachment("a\r\nBcc: v@y.org.txt", b"")


def test_needs_a_recipient() -> None:
    with pytest.raises(InvalidAddress, match="at least one recipient"):
        Message(subject="x")
    assert Message(bcc=["a@x.org"]).recipients == ["a@x.org"]


def test_unicode_addresses() -> None:
    assert parse_address("Jöhn <j@exämple.org>").domain == "exämple.org"
