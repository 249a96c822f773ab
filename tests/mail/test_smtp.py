"""Delivery over real SMTP: STARTTLS + AUTH, implicit TLS, and servers that refuse, stall or drop."""

from __future__ import annotations

import time
from email import message_from_bytes, policy

import pytest

from celeris.mail import Mailer, MailError, MailTimeout, Message, check
from tests.mail.conftest import PASSWORD, USER, Certificate, SMTPServer


async def test_starttls_and_auth(starttls_server: SMTPServer, certificate: Certificate) -> None:
    mailer = Mailer(
        url=f"smtp://{USER}:{PASSWORD}@127.0.0.1:{starttls_server.port}?starttls=always",
        default_from="App <app@example.org>",
        tls_context=certificate.client_context(),
    )
    message_id = await mailer.send(
        Message(
            to=["Ada <ada@example.org>"],
            cc=["bob@example.org"],
            bcc=["hidden@example.org"],
            subject="Hello",
            text="plain",
            html="<p>rich</p>",
        )
    )
    [received] = starttls_server.messages
    assert received.mail_from == "app@example.org"
    assert received.rcpt_tos == ["ada@example.org", "bob@example.org", "hidden@example.org"]
    parsed = message_from_bytes(received.data, policy=policy.default)
    assert parsed["Message-ID"] == message_id
    assert parsed["Subject"] == "Hello"
    assert parsed["Bcc"] is None  # never in the headers
    assert "hidden@example.org" not in received.data.decode()
    assert parsed.get_body(("plain",)).get_content().strip() == "plain"
    assert (await check(mailer)).status == "ok"


async def test_implicit_tls(tls_server: SMTPServer, certificate: Certificate) -> None:
    mailer = Mailer(
        url=f"smtps://{USER}:{PASSWORD}@127.0.0.1:{tls_server.port}",
        tls_context=certificate.client_context(),
    )
    await mailer.send(to="ada@example.org", subject="TLS", text="x")
    assert len(tls_server.messages) == 1
    wrong = Mailer(
        url=f"smtps://{USER}:nope@127.0.0.1:{tls_server.port}",
        tls_context=certificate.client_context(),
    )
    with pytest.raises(MailError, match="refused the login"):
        await wrong.send(to="ada@example.org", subject="TLS", text="x")


async def test_wrong_password(starttls_server: SMTPServer, certificate: Certificate) -> None:
    mailer = Mailer(
        url=f"smtp://{USER}:wrong@127.0.0.1:{starttls_server.port}",
        tls_context=certificate.client_context(),
    )
    with pytest.raises(MailError, match="refused the login of 'mailer'"):
        await mailer.send(to="ada@example.org", subject="x", text="x")
    assert starttls_server.messages == []


async def test_untrusted_certificate(starttls_server: SMTPServer) -> None:
    mailer = Mailer(url=f"smtp://{USER}:{PASSWORD}@127.0.0.1:{starttls_server.port}")
    with pytest.raises(MailError):
        await mailer.send(to="ada@example.org", subject="x", text="x")
    assert starttls_server.messages == []


async def test_refused_connection(refusing_port: int) -> None:
    mailer = Mailer(url=f"smtp://127.0.0.1:{refusing_port}?timeout=2")
    with pytest.raises(
        MailError, match=f"could not connect to the SMTP server 127.0.0.1:{refusing_port}"
    ):
        await mailer.send(to="ada@example.org", subject="x", text="x")
    health = await check(mailer)
    assert health.status == "unavailable"
    assert "could not connect" in (health.error or "")


async def test_stalled_server_times_out(stalling_port: int) -> None:
    mailer = Mailer(url=f"smtp://127.0.0.1:{stalling_port}?timeout=0.3")
    started = time.monotonic()
    with pytest.raises(MailTimeout, match=r"did not answer within 0.3s"):
        await mailer.send(to="ada@example.org", subject="x", text="x")
    assert time.monotonic() - started < 2


async def test_dropped_mid_data(dropping_port: int) -> None:
    mailer = Mailer(url=f"smtp://127.0.0.1:{dropping_port}?timeout=2&starttls=never")
    with pytest.raises(MailError, match="closed the connection") as caught:
        await mailer.send(to="ada@example.org", subject="x", text="a long body " * 1000)
    assert not isinstance(caught.value, MailTimeout)


async def test_background_send_retries_then_logs(
    refusing_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = Mailer(url=f"smtp://127.0.0.1:{refusing_port}?timeout=1", retries=2, retry_delay=0.01)
    message_id = await mailer.send(to="ada@example.org", subject="x", text="x", background=True)
    await mailer.close()  # drains the background send
    [record] = [r for r in caplog.records if r.name == "celeris.mail"]
    assert record.levelname == "ERROR"
    assert message_id in record.getMessage()
    assert "after 2 attempts" in record.getMessage()


def test_bad_url_options() -> None:
    with pytest.raises(ValueError, match="unknown SMTP URL options: port"):
        Mailer(url="smtp://h?port=1")
    with pytest.raises(ValueError, match="starttls= is auto, always or never"):
        Mailer(url="smtp://h?starttls=maybe")
