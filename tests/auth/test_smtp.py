"""The reset mail over real SMTP (aiosmtpd on 127.0.0.1), and the link it carries works once."""

from __future__ import annotations

import asyncio
import email
import socket
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from celeris import App
from celeris.auth import Auth, PasswordHasher
from celeris.db import Database
from celeris.mail import Mailer
from celeris.sessions import Sessions
from celeris.testing import AsyncTestClient

from .conftest import FAST, PASSWORD, SECRET


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, _Inbox]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    inbox = _Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


async def test_password_reset_over_smtp(smtp: tuple[int, _Inbox], tmp_path: Path) -> None:
    port, inbox = smtp
    app = App()
    db = Database(f"sqlite:///{tmp_path}/smtp.db", app=app, root_path=tmp_path)
    Sessions(app=app, secret_key=SECRET)
    mailer = Mailer(app=app, url=f"smtp://127.0.0.1:{port}?starttls=never")
    auth = Auth(app=app, db=db, mailer=mailer, secret_key=SECRET, hasher=PasswordHasher(**FAST))
    app.include_router(auth.router)
    async with AsyncTestClient(app) as client:
        await auth.create_user("ada@example.org", PASSWORD)
        r = await client.post("/auth/password/reset", json={"email": "ada@example.org"})
        assert r.status_code == 202
        for _ in range(100):  # delivered in the background
            if inbox.messages:
                break
            await asyncio.sleep(0.05)
        [message] = inbox.messages
        assert message["To"] == "ada@example.org"
        assert message["Subject"] == "Reset your password"
        text = message.get_body(preferencelist=("plain",)).get_content()
        link = next(line for line in text.splitlines() if line.startswith("http"))
        token = link.split("token=")[1]
        new = "a new and long passphrase"
        body = {"token": token, "password": new}
        assert (await client.post("/auth/password/reset/confirm", json=body)).status_code == 200
        assert (await client.post("/auth/password/reset/confirm", json=body)).status_code == 400
        assert await auth.verify_credentials("ada@example.org", new) is not None
