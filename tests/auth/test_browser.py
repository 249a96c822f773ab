"""Headless Chromium: signup, the verification link from the mail, login, TOTP set-up and a
sign-in with a code, a passkey through the virtual authenticator (DevTools ``WebAuthn``
domain) and a sign-in with it, a recovery code, and sign out everywhere."""

from __future__ import annotations

import email
import os
import sys
import time
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pyotp
import pytest

from tests.browser import CHROMIUM, CHROMIUM_ARGS, block_outside, free_port, need_chromium, serving

from .conftest import PASSWORD

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

APP = '''
import os

from celeris import App, Depends, HTMLResponse, Request
from celeris.auth import Auth, User
from celeris.db import Database
from celeris.mail import Mailer
from celeris.security import CSRF, csrf_input
from celeris.sessions import Sessions

app = App(title="Accounts demo")
db = Database(os.environ["DATABASE_URL"], app=app)
Sessions(app=app)
CSRF(app=app)
auth = Auth(app=app, db=db, mailer=Mailer(app=app))
app.include_router(auth.router)


@app.get("/")
async def home(request: Request, user: User | None = Depends(auth.optional_user)) -> HTMLResponse:
    who = f"Signed in as {user.email}" if user else "Not signed in"
    token = csrf_input(request)
    return HTMLResponse(
        f"""<!doctype html><html lang="en"><title>Home</title><main>
        <p id="whoami">{who}</p>
        <form method="post" action="/auth/logout">{token}<button id="logout">Sign out</button></form>
        <form method="post" action="/auth/signout-everywhere">{token}
        <button id="everywhere">Sign out everywhere</button></form></main></html>"""
    )
'''


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("auth-browser")
    (folder / "authapp.py").write_text(APP)
    outbox = folder / "outbox"
    port = free_port()
    argv = [sys.executable, "-m", "celeris", "serve", "authapp:app", "--port", str(port)]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(folder)]),
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'app.db'}",
        "SECRET_KEY": "browser-test-secret-key-" + "z" * 20,
        "MAIL_URL": f"file://{outbox}",
    }
    with serving(argv, f"http://127.0.0.1:{port}/", cwd=folder, env=env):
        # NOTE: localhost, not 127.0.0.1: WebAuthn refuses an IP address as relying party id.
        yield f"http://localhost:{port}", outbox


def _verification_link(outbox: Path) -> str:
    [path] = sorted(outbox.glob("*.eml"))
    message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    text = body.get_content()
    return next(line for line in text.splitlines() if line.startswith("http"))


def test_signup_verify_login_passkey_and_sign_out_everywhere(
    site: tuple[str, Path], tmp_path: Path
) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    base, outbox = site
    outside: list[str] = []
    shots = tmp_path
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context()
            page = context.new_page()
            block_outside(page, outside)
            cdp = context.new_cdp_session(page)
            cdp.send("WebAuthn.enable")
            authenticator = cdp.send(
                "WebAuthn.addVirtualAuthenticator",
                {
                    "options": {
                        "protocol": "ctap2",
                        "transport": "internal",
                        "hasResidentKey": True,
                        "hasUserVerification": True,
                        "isUserVerified": True,
                        "automaticPresenceSimulation": True,
                    }
                },
            )["authenticatorId"]

            # signup: a weak password first, refused with the message by the field
            page.goto(base + "/auth/signup")
            page.fill("#email", "ada@example.org")
            page.fill("#password", "password")
            page.click("button[type=submit]")
            assert page.get_attribute("#password", "aria-invalid") == "true"
            assert "too common" in page.inner_text("#password-error")
            page.screenshot(path=str(shots / "signup-refused.png"), full_page=True)
            page.fill("#password", PASSWORD)
            with page.expect_navigation(url=base + "/"):
                page.click("button[type=submit]")
            assert page.inner_text("#whoami") == "Signed in as ada@example.org"

            # the link from the captured mail confirms the address, once
            link = _verification_link(outbox).replace("127.0.0.1", "localhost")
            page.goto(link)
            assert "Your email address is confirmed." in page.inner_text("main")
            page.goto(link)
            assert "invalid or was used already" in page.inner_text("main")

            # sign out, then in with the password (the form, CSRF token included)
            page.goto(base + "/")
            with page.expect_navigation():
                page.click("#logout")
            assert page.inner_text("#whoami") == "Not signed in"
            page.goto(base + "/auth/login")
            page.fill("#email", "ADA@example.org")
            page.fill("#password", PASSWORD)
            page.screenshot(path=str(shots / "login.png"), full_page=True)
            with page.expect_navigation(url=base + "/"):
                page.click("button[type=submit]")
            assert page.inner_text("#whoami") == "Signed in as ada@example.org"

            # an authenticator app: the QR code's secret, a code, ten recovery codes
            page.goto(base + "/auth/2fa/totp")
            with page.expect_navigation():
                page.click("#totp-setup")
            assert page.locator("figure svg").count() == 1
            secret = page.inner_text("#totp-secret")
            page.screenshot(path=str(shots / "totp-setup.png"), full_page=True)
            totp = pyotp.TOTP(secret)
            page.fill("#code", totp.now())
            with page.expect_navigation():
                page.click("button[type=submit]")
            recovery = page.locator("#recovery-codes li").all_inner_texts()
            assert len(recovery) == 10

            # the password alone now leads to the code page
            page.goto(base + "/")
            with page.expect_navigation():
                page.click("#logout")
            page.goto(base + "/auth/login")
            page.fill("#email", "ada@example.org")
            page.fill("#password", PASSWORD)
            with page.expect_navigation(url=base + "/auth/2fa"):
                page.click("button[type=submit]")
            page.fill("#code", "000000")
            page.click("button[type=submit]")
            page.wait_for_selector("#code-error")
            page.screenshot(path=str(shots / "totp-wrong.png"), full_page=True)
            page.fill("#code", totp.at(time.time() + 30))  # the next step: now's was used
            with page.expect_navigation(url=base + "/"):
                page.click("button[type=submit]")
            assert page.inner_text("#whoami") == "Signed in as ada@example.org"

            # a passkey, made by the virtual authenticator
            page.goto(base + "/auth/passkeys")
            page.fill("#passkey-name", "Test laptop")
            with page.expect_navigation():
                page.click("button[data-passkey=register]")
            page.wait_for_selector("#passkeys li")
            assert "Test laptop" in page.inner_text("#passkeys")
            page.screenshot(path=str(shots / "passkeys.png"), full_page=True)
            credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
            assert len(credentials["credentials"]) == 1

            # sign out, then in with the passkey alone
            page.goto(base + "/")
            with page.expect_navigation():
                page.click("#logout")
            page.goto(base + "/auth/login")
            with page.expect_navigation(url=base + "/"):
                page.click("button[data-passkey=login]")
            assert page.inner_text("#whoami") == "Signed in as ada@example.org"

            # a second browser signs in; "sign out everywhere" ends both
            other = browser.new_context()
            second = other.new_page()
            block_outside(second, outside)
            second.goto(base + "/auth/login")
            second.fill("#email", "ada@example.org")
            second.fill("#password", PASSWORD)
            with second.expect_navigation(url=base + "/auth/2fa"):
                second.click("button[type=submit]")
            second.fill("#code", recovery[0])
            with second.expect_navigation(url=base + "/"):
                second.click("button[type=submit]")
            assert second.inner_text("#whoami") == "Signed in as ada@example.org"
            with page.expect_navigation():
                page.click("#everywhere")
            page.goto(base + "/")
            assert page.inner_text("#whoami") == "Not signed in"
            second.reload()
            assert second.inner_text("#whoami") == "Not signed in"
            page.screenshot(path=str(shots / "signed-out.png"), full_page=True)
        finally:
            browser.close()
    assert outside == []
    keep = os.environ.get("CELERIS_KEEP_SCREENSHOTS")
    if keep:
        for shot in shots.glob("*.png"):
            Path(keep, shot.name).write_bytes(shot.read_bytes())
