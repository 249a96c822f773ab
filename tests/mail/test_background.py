"""Background sends through the jobs battery: stored as a job, retried, dead-lettered, exact."""

from __future__ import annotations

import asyncio
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from celeris import App, Depends, HTTPError
from celeris.db import Database
from celeris.jobs import Jobs, State
from celeris.mail import Attachment, MailConfigError, Mailer, Message
from celeris.mail.delivery import JOB_NAME
from celeris.testing import AsyncTestClient
from tests.mail.conftest import Inbox, SMTPServer, free_port

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


class Flaky(Inbox):
    """Answers 451 to the first ``refusals`` DATA commands, then accepts."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals = refusals
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        if self.refused < self.refusals:
            self.refused += 1
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


def _flaky(refusals: int) -> Iterator[SMTPServer]:
    inbox = Flaky(refusals)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SMTPServer(controller.port, inbox)
    finally:
        controller.stop()


@pytest.fixture
def twice_refusing_server() -> Iterator[SMTPServer]:
    yield from _flaky(2)


@pytest.fixture
def always_refusing_server() -> Iterator[SMTPServer]:
    yield from _flaky(10**6)


@pytest.fixture(params=["memory", "sqlite"])
def jobs_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'jobs.db'}"


def rich_message() -> Message:
    return Message(
        to=[("Ada Lovelace", "ada@example.org")],
        cc="bob@example.org",
        bcc=["secret@example.org"],
        reply_to="help@example.org",
        subject="Rechnung für März",
        text="Hallo Ada,\nanbei die Rechnung.",
        html='<p>Hallo <b>Ada</b></p><img src="cid:logo">',
        headers={"X-Campaign": "spring", "List-Unsubscribe": "<https://example.org/u>"},
        attachments=[
            Attachment("invoice.pdf", b"%PDF-1.4 " + bytes(range(256)), "application/pdf"),
            Attachment("logo.png", PNG, "image/png", inline=True, cid="logo"),
        ],
    )


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_background_send_is_a_job_and_survives_serialisation(jobs_url: str) -> None:
    app = App()
    jobs = Jobs(jobs_url, app=app, poll=0.02, embedded_worker=True)
    mailer = Mailer(app=app, url="memory://", default_from="shop@example.org")
    direct = Mailer(url="memory://", default_from="shop@example.org")

    async with AsyncTestClient(app):
        message_id = await mailer.send(rich_message(), background=True)
        [record] = await jobs.list(name=JOB_NAME)
        await jobs.handle(record.id).result(timeout=10)
        await direct.send(rich_message())

    [sent] = mailer.outbox
    [expected] = direct.outbox
    assert sent.email["Message-ID"] == message_id
    assert sent.recipients == ["ada@example.org", "bob@example.org", "secret@example.org"]
    assert "secret@example.org" not in sent.email.as_string()
    assert sent.email["Bcc"] is None
    for name in ("From", "To", "Cc", "Reply-To", "Subject", "X-Campaign", "List-Unsubscribe"):
        assert str(sent.email[name]) == str(expected.email[name]), name
    assert sent.text == expected.text
    assert sent.html == expected.html
    parts = {p.get_filename(): p for p in sent.email.walk() if p.get_filename()}
    assert parts["invoice.pdf"].get_content() == b"%PDF-1.4 " + bytes(range(256))
    assert parts["logo.png"].get_content() == PNG
    assert parts["logo.png"]["Content-ID"] == "<logo>"
    assert parts["logo.png"].get_content_disposition() == "inline"
    # the Message handed to the backend is the one sent, rebuilt
    assert sent.message.bcc == ["secret@example.org"]
    assert sent.message.subject == "Rechnung für März"
    assert {a.filename: a.inline for a in sent.message.attachments} == {  # type: ignore[union-attr]
        "invoice.pdf": False,
        "logo.png": True,
    }


@pytest.mark.parametrize("order", ["mailer-first", "jobs-first"])
async def test_the_job_is_registered_whichever_comes_first(order: str) -> None:
    app = App()
    if order == "mailer-first":
        mailer = Mailer(app=app, url="memory://")
        jobs = Jobs("memory://", app=app, poll=0.02, embedded_worker=True)
    else:
        jobs = Jobs("memory://", app=app, poll=0.02, embedded_worker=True)
        mailer = Mailer(app=app, url="memory://")
        assert JOB_NAME in jobs.registry  # at once

    @app.post("/signup")
    async def signup(email: str) -> dict[str, str]:
        return {"id": await mailer.send(to=email, subject="Hi", text="x", background=True)}

    async with AsyncTestClient(app) as client:
        assert JOB_NAME in jobs.registry  # by start-up, before the worker claims anything
        message_id = (await client.post("/signup", params={"email": "a@x.org"})).json()["id"]
        [record] = await jobs.list(name=JOB_NAME)
        await jobs.handle(record.id).result(timeout=10)
        assert (await jobs.counts())[State.DONE] == 1
    assert [str(m.email["Message-ID"]) for m in mailer.outbox] == [message_id]


async def test_a_worker_process_importing_the_app_knows_the_job(tmp_path: Path) -> None:
    """A second 'process' (a fresh app + Jobs on the same SQLite file) delivers the mail."""
    url = f"sqlite:///{tmp_path / 'jobs.db'}"

    def build() -> tuple[App, Jobs, Mailer]:
        app = App()
        mailer = Mailer(app=app, url="memory://")  # before Jobs: registered at start-up
        jobs = Jobs(url, app=app, poll=0.02, embedded_worker=False)
        return app, jobs, mailer

    web_app, web_jobs, web_mailer = build()
    async with AsyncTestClient(web_app):
        message_id = await web_mailer.send(to="a@x.org", subject="Hi", text="x", background=True)
    assert web_mailer.outbox == []  # nothing delivered in the web process

    worker_app, worker_jobs, worker_mailer = build()
    await worker_app.lifespan.startup()  # what `celeris worker` does
    worker = worker_jobs.worker(concurrency=2)
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: bool(worker_mailer.outbox))
    finally:
        worker.stop()
        await task
        await worker_app.lifespan.shutdown()
    assert [str(m.email["Message-ID"]) for m in worker_mailer.outbox] == [message_id]


async def test_smtp_refusing_twice_then_accepting_delivers_once(
    jobs_url: str, twice_refusing_server: SMTPServer
) -> None:
    app = App()
    mailer = Mailer(
        app=app,
        url=f"smtp://127.0.0.1:{twice_refusing_server.port}?starttls=never&timeout=5",
        retries=3,
        retry_delay=0.01,
    )
    jobs = Jobs(jobs_url, app=app, poll=0.02, embedded_worker=True)
    async with AsyncTestClient(app):
        message_id = await mailer.send(rich_message(), background=True)
        [record] = await jobs.list(name=JOB_NAME)
        await jobs.handle(record.id).result(timeout=10)
        record = await jobs.handle(record.id).record()
    assert record.attempts == 3
    [received] = twice_refusing_server.messages
    assert received.rcpt_tos == ["ada@example.org", "bob@example.org", "secret@example.org"]
    parsed = message_from_bytes(received.data, policy=policy.default)
    assert parsed["Message-ID"] == message_id
    assert parsed["Bcc"] is None
    assert b"secret@" not in received.data


async def test_a_mail_that_keeps_failing_is_dead_lettered(
    jobs_url: str, always_refusing_server: SMTPServer
) -> None:
    app = App()
    jobs = Jobs(jobs_url, app=app, poll=0.02, embedded_worker=True)
    mailer = Mailer(
        app=app,
        url=f"smtp://127.0.0.1:{always_refusing_server.port}?starttls=never&timeout=5",
        retries=2,
        retry_delay=0.01,
    )
    async with AsyncTestClient(app):
        await mailer.send(to="a@x.org", subject="x", text="x", background=True)
        [record] = await jobs.list(name=JOB_NAME)
        await wait_for(lambda: always_refusing_server.inbox.refused >= 2)  # type: ignore[attr-defined]
        async with asyncio.timeout(10):
            while not await jobs.dead():
                await asyncio.sleep(0.02)
        [dead] = await jobs.dead()
    assert dead.id == record.id
    assert dead.attempts == 2
    assert "MailError" in (dead.error or "")
    assert "451" in (dead.error or "")
    assert always_refusing_server.messages == []


class Rejecting(Inbox):
    """Answers 550 to every DATA command: a permanent refusal."""

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        self.refused += 1
        return "550 5.1.1 no such mailbox"


@pytest.fixture
def rejecting_server() -> Iterator[SMTPServer]:
    inbox = Rejecting()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SMTPServer(controller.port, inbox)
    finally:
        controller.stop()


async def test_a_permanent_5xx_goes_straight_to_the_dead_letters(
    jobs_url: str, rejecting_server: SMTPServer
) -> None:
    app = App()
    jobs = Jobs(jobs_url, app=app, poll=0.02, embedded_worker=True)
    mailer = Mailer(
        app=app,
        url=f"smtp://127.0.0.1:{rejecting_server.port}?starttls=never&timeout=5",
        retries=5,
        retry_delay=0.01,
    )
    async with AsyncTestClient(app):
        await mailer.send(to="a@x.org", subject="x", text="x", background=True)
        async with asyncio.timeout(10):
            while not await jobs.dead():
                await asyncio.sleep(0.02)
        [dead] = await jobs.dead()
        await asyncio.sleep(0.1)  # a retry, had there been one, would be due by now
        assert (await jobs.counts())[State.QUEUED] == 0
    assert dead.attempts == 1  # not the 5 a transient 4xx gets
    assert "MailRejected" in (dead.error or "")
    assert "550" in (dead.error or "")
    assert rejecting_server.inbox.refused == 1  # type: ignore[attr-defined]


metadata = MetaData()
users = Table(
    "mail_test_user",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(100), unique=True),
)


@pytest.mark.parametrize("where", ["same-database", "memory"])
async def test_mail_follows_the_transaction_with_session(tmp_path: Path, where: str) -> None:
    app = App()
    db = Database(
        f"sqlite:///{tmp_path / 'app.db'}", metadata=metadata, create_all=True, root_path=tmp_path
    )
    db.install(app)
    mailer = Mailer(app=app, url="memory://")
    jobs = Jobs("memory://" if where == "memory" else None, app=app, poll=0.02)
    jobs.embedded_worker = True

    @app.post("/signup")
    async def signup(
        email: str, fail: bool = False, session: AsyncSession = Depends(db.session)
    ) -> dict[str, str]:
        await session.execute(users.insert().values(email=email))
        await mailer.send(to=email, subject="Welcome", text="hi", background=True, session=session)
        if fail:
            raise HTTPError(400, "rolled back")
        return {"ok": email}

    async with AsyncTestClient(app) as client:
        assert (await client.post("/signup", params={"email": "a@x.org"})).status_code == 200
        failed = await client.post("/signup", params={"email": "b@x.org", "fail": "true"})
        assert failed.status_code == 400
        assert (await client.post("/signup", params={"email": "a@x.org"})).status_code == 409
        await wait_for(lambda: bool(mailer.outbox))
        await asyncio.sleep(0.2)  # time for a wrongly queued mail to arrive
        async with db.scope() as session:
            assert await session.scalar(select(func.count()).select_from(users)) == 1
        assert sum((await jobs.counts()).values()) == 1
    assert [m.to for m in mailer.outbox] == [["a@x.org"]]


async def test_without_jobs_the_in_process_task_stays_and_session_is_refused() -> None:
    mailer = Mailer(url="memory://")
    await mailer.send(to="a@x.org", subject="x", text="x", background=True)
    await mailer.close()
    assert len(mailer.outbox) == 1
    with pytest.raises(MailConfigError, match="needs the jobs battery"):
        await mailer.send(to="a@x.org", text="x", background=True, session=object())
    with pytest.raises(TypeError, match="session= is for background=True"):
        await mailer.send(to="a@x.org", text="x", session=object())
    with pytest.raises(ValueError, match="retries counts attempts"):
        Mailer(url="memory://", retries=0)


async def test_explicit_jobs_send_template_and_one_mailer_per_jobs(tmp_path: Path) -> None:
    (tmp_path / "mail").mkdir()
    (tmp_path / "mail" / "welcome.subject").write_text("Welcome {{ name }}")
    (tmp_path / "mail" / "welcome.html").write_text("<p>Hi <b>{{ name }}</b></p>")
    jobs = Jobs("memory://", poll=0.02, embedded_worker=True)
    mailer = Mailer(url="memory://", jobs=jobs, templates=tmp_path)
    assert jobs.registry[JOB_NAME].retries == mailer.retries - 1
    with pytest.raises(MailConfigError, match="one Mailer per Jobs"):
        Mailer(url="memory://", jobs=jobs)
    async with jobs:
        message_id = await mailer.send_template(
            "welcome", to="a@x.org", context={"name": "Ada"}, background=True
        )
        await wait_for(lambda: bool(mailer.outbox))
    [sent] = mailer.outbox
    assert (sent.subject, str(sent.email["Message-ID"])) == ("Welcome Ada", message_id)
    assert "Hi Ada" in (sent.text or "")
    assert "<b>Ada</b>" in (sent.html or "")


APP_MODULE = """
from pathlib import Path

from celeris import App
from celeris.jobs import Jobs
from celeris.mail import Mailer

HERE = Path(__file__).parent
app = App()
mailer = Mailer(app=app, url=f"file://{HERE / 'outbox'}", default_from="shop@example.org")
jobs = Jobs(f"sqlite:///{HERE / 'jobs.db'}", app=app, poll=0.05)
"""


def test_celeris_worker_delivers_a_mail_the_web_process_stored(tmp_path: Path) -> None:
    """Mailer created before Jobs, a real `celeris worker` process: the mail arrives once."""
    (tmp_path / "mailapp.py").write_text(APP_MODULE)
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, str(tmp_path)])}
    sys.path.insert(0, str(tmp_path))
    try:
        module = importlib.import_module("mailapp")
    finally:
        sys.path.remove(str(tmp_path))

    async def produce() -> str:
        await module.app.lifespan.startup()
        try:
            return str(await module.mailer.send(rich_message(), background=True))
        finally:
            await module.app.lifespan.shutdown()

    message_id = asyncio.run(produce())
    assert not (tmp_path / "outbox").exists()  # the web process did not deliver it
    process = subprocess.Popen(
        [sys.executable, "-m", "celeris", "worker", "mailapp:app", "--status-interval", "0"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not list((tmp_path / "outbox").glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a second delivery would show up by now
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    [eml] = list((tmp_path / "outbox").glob("*.eml"))
    parsed = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert parsed["Message-ID"] == message_id, stderr
    assert parsed["Bcc"] is None
    logo = next(p for p in parsed.walk() if p.get_filename() == "logo.png")
    assert logo.get_content() == PNG
    sys.modules.pop("mailapp", None)
