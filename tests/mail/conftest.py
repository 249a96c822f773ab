"""Real SMTP servers on 127.0.0.1: aiosmtpd with STARTTLS and AUTH, implicit TLS, and three
broken ones (refuses, stalls, drops mid-DATA), with a self-signed certificate made per session."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

USER, PASSWORD = "mailer", "s3cret"


@dataclass
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificate(cert_path, key_path)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class Inbox:
    handler_messages: list[Received] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.handler_messages.append(
            Received(
                str(envelope.mail_from), list(envelope.rcpt_tos), bytes(envelope.content or b"")
            )
        )
        return "250 OK"


def _authenticate(
    server: Any, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = (
        isinstance(data, LoginPassword)
        and data.login == USER.encode()
        and data.password == PASSWORD.encode()
    )
    return AuthResult(success=ok, handled=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class SMTPServer:
    port: int
    inbox: Inbox

    @property
    def messages(self) -> list[Received]:
        return self.inbox.handler_messages


@pytest.fixture
async def starttls_server(certificate: Certificate) -> AsyncIterator[SMTPServer]:
    """STARTTLS required, AUTH required (only after TLS)."""
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=certificate.server_context(),
        require_starttls=True,
        authenticator=_authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        yield SMTPServer(controller.port, inbox)
    finally:
        # NOTE: the client's TLS shutdown finishes in callbacks after send() returns; let
        # them run in the test's loop, or the socket is collected as an unclosed transport.
        await asyncio.sleep(0.05)
        controller.stop()


@pytest.fixture
async def tls_server(certificate: Certificate) -> AsyncIterator[SMTPServer]:
    """Implicit TLS from the first byte (smtps://), AUTH offered."""
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        ssl_context=certificate.server_context(),
        authenticator=_authenticate,
        # NOTE: aiosmtpd does not count implicit TLS as TLS for AUTH, and warns on AUTH required
        # without it; the socket is TLS anyway, and the client logs in since it has a user.
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield SMTPServer(controller.port, inbox)
    finally:
        # NOTE: the client's TLS shutdown finishes in callbacks after send() returns; let
        # them run in the test's loop, or the socket is collected as an unclosed transport.
        await asyncio.sleep(0.05)
        controller.stop()


@pytest.fixture
def refusing_port() -> int:
    """A port nothing listens on: connections are refused."""
    return free_port()


@pytest.fixture
async def stalling_port() -> AsyncIterator[int]:
    """Accepts connections and never says a word."""
    writers: list[asyncio.StreamWriter] = []

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    for writer in writers:
        writer.transport.abort()
    server.close()
    await server.wait_closed()
    # NOTE: abort() closes the socket from a callback; let it run before the test's loop
    # closes, or the transport is collected later with an "unclosed transport" warning.
    await asyncio.sleep(0.05)


@pytest.fixture
async def dropping_port() -> AsyncIterator[int]:
    """Speaks SMTP until DATA, reads a few bytes of the message, then hangs up."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 dropper ESMTP\r\n")
        while line := await reader.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                writer.write(b"250-dropper\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                writer.write(b"354 go ahead\r\n")
                await writer.drain()
                await reader.read(10)
                writer.transport.abort()
                return
            else:
                writer.write(b"250 OK\r\n")
            await writer.drain()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    await asyncio.sleep(0.05)  # see stalling_port
