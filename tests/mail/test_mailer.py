"""The mailer: URL resolution, console/memory/file backends, templates, app attachment."""

from __future__ import annotations

import io
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from celeris import App
from celeris.mail import MailConfigError, Mailer, Message, check, html_to_text
from celeris.mail.console import ConsoleBackend
from celeris.testing import AsyncTestClient


def test_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    class Settings:
        MAIL_URL = "memory://"
        MAIL_FROM = "App <app@example.org>"

    class WithSettings:
        settings = Settings()

        def on_shutdown(self, f: object) -> object:
            return f

    monkeypatch.delenv("MAIL_URL", raising=False)
    monkeypatch.delenv("MAIL_FROM", raising=False)
    assert Mailer().url == "console://"
    assert Mailer().default_from == "webmaster@localhost"
    monkeypatch.setenv("MAIL_URL", "file:///tmp/x")
    assert Mailer().url == "file:///tmp/x"
    mailer = Mailer(app=WithSettings())
    assert (mailer.url, mailer.default_from) == ("memory://", "App <app@example.org>")
    assert Mailer(app=WithSettings(), url="console://").url == "console://"


def test_unknown_scheme_and_bad_sender() -> None:
    with pytest.raises(MailConfigError, match="smtp://host:587"):
        Mailer(url="sendmail://")
    with pytest.raises(ValueError, match="not"):
        Mailer(url="memory://", default_from="nobody")


async def test_memory_outbox() -> None:
    mailer = Mailer(url="memory://", default_from="app@example.org")
    await mailer.send(to=["a@x.org"], subject="One", text="1")
    await mailer.send(Message(to=["b@x.org"], bcc=["c@x.org"], subject="Two", html="<p>2</p>"))
    assert [m.subject for m in mailer.outbox] == ["One", "Two"]
    assert mailer.outbox[1].to == ["b@x.org", "c@x.org"]
    assert mailer.outbox[1].html.strip() == "<p>2</p>"
    assert mailer.outbox[0].text.strip() == "1"
    with pytest.raises(TypeError, match="not both"):
        await mailer.send(Message(to="a@x.org"), subject="x")
    with pytest.raises(AttributeError, match="only memory://"):
        _ = Mailer(url="console://").outbox


async def test_console_prints() -> None:
    stream = io.StringIO()
    mailer = Mailer(url="console://")
    assert isinstance(mailer.backend, ConsoleBackend)
    mailer.backend.stream = stream
    await mailer.send(to="a@x.org", subject="Printed", text="body here")
    out = stream.getvalue()
    assert "Subject: Printed" in out
    assert "body here" in out
    assert "Envelope-To: a@x.org" in out


async def test_file_writes_eml(tmp_path: Path) -> None:
    mailer = Mailer(url=f"file://{tmp_path}/outbox")
    await mailer.send(to="a@x.org", subject="Saved", text="x")
    [eml] = (tmp_path / "outbox").glob("*.eml")
    assert message_from_bytes(eml.read_bytes(), policy=policy.default)["Subject"] == "Saved"
    assert (await check(mailer)).status == "ok"


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    mail = tmp_path / "templates" / "mail"
    mail.mkdir(parents=True)
    (mail / "welcome.subject").write_text("Welcome, {{ name }}!\n")
    (mail / "welcome.txt").write_text("Hello {{ name }}, <not escaped>\n")
    (mail / "welcome.html").write_text("<p>Hello {{ name }}</p>")
    (mail / "digest.subject").write_text("Digest {{ n }}\nBcc: victim@y.org")
    (mail / "digest.html").write_text(
        "<html><head><style>p{}</style></head><body><h1>News</h1><p>Read <a href='https://x.org/1'>"
        "this</a> &amp; more</p><ul><li>one</li><li>two</li></ul></body></html>"
    )
    return tmp_path / "templates"


async def test_send_template(templates: Path) -> None:
    mailer = Mailer(url="memory://", templates=templates)
    await mailer.send_template("welcome", to=["a@x.org"], context={"name": "<Ada>"})
    [sent] = mailer.outbox
    assert sent.subject == "Welcome, <Ada>!"
    assert sent.text == "Hello <Ada>, <not escaped>\n"  # text is not HTML: no escaping
    assert sent.html.strip() == "<p>Hello &lt;Ada&gt;</p>"  # HTML autoescaped


async def test_text_derived_from_html_and_one_line_subject(templates: Path) -> None:
    mailer = Mailer(url="memory://", templates=templates)
    await mailer.send_template("digest", to="a@x.org", context={"n": 3})
    [sent] = mailer.outbox
    assert sent.subject == "Digest 3 Bcc: victim@y.org"  # folded onto one line, no header
    assert sent.email["Bcc"] is None
    assert sent.text == "News\n\nRead this (https://x.org/1) & more\n\n- one\n\n- two\n"


async def test_missing_template_and_bad_names(templates: Path) -> None:
    mailer = Mailer(url="memory://", templates=templates)
    with pytest.raises(LookupError, match=r"mail/nothing\.txt or \.html"):
        await mailer.send_template("nothing", to="a@x.org")
    with pytest.raises(ValueError, match="plain name"):
        await mailer.send_template("../secret", to="a@x.org")


def test_html_to_text() -> None:
    assert html_to_text("<p>a<br>b</p><script>x()</script>") == "a\nb\n"


async def test_attached_to_an_app() -> None:
    app = App()
    mailer = Mailer(app=app, url="memory://")

    @app.post("/signup")
    async def signup(email: str) -> dict[str, str]:
        await mailer.send(to=[email], subject="Welcome", text="hi", background=True)
        return {"ok": email}

    async with AsyncTestClient(app) as client:
        assert (await client.post("/signup", params={"email": "a@x.org"})).status_code == 200
        bad = await client.post("/signup", params={"email": "a@x.org\r\nBcc: v@y.org"})
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
        assert "line breaks" in bad.json()["detail"]
    # the shutdown drained the background send
    assert [m.to for m in mailer.outbox] == [["a@x.org"]]
