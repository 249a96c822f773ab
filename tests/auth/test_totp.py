"""TOTP: enrollment with a QR code, sign-in with a code, no replays, recovery codes once."""

from __future__ import annotations

import time

import pyotp

from celeris.auth import Auth
from celeris.testing import AsyncTestClient

from .conftest import PASSWORD, MakeApp, alogin, asignup


async def _enroll(client: AsyncTestClient) -> tuple[str, list[str]]:
    setup = await client.post("/auth/2fa/totp/setup")
    assert setup.status_code == 200
    body = setup.json()
    assert body["uri"].startswith("otpauth://totp/")
    assert "secret=" + body["secret"] in body["uri"]
    assert body["qr_svg"].startswith("<svg")
    secret = body["secret"]
    wrong = await client.post("/auth/2fa/totp/confirm", json={"code": "000000"})
    assert wrong.status_code == 400
    done = await client.post("/auth/2fa/totp/confirm", json={"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 200
    codes = done.json()["recovery_codes"]
    assert len(codes) == 10
    assert len(set(codes)) == 10
    return secret, codes


def _next_code(secret: str) -> str:
    """A code for the next time step (valid within the window, not yet used)."""
    totp = pyotp.TOTP(secret)
    return totp.at(time.time() + totp.interval)


async def test_sign_in_needs_the_code_once_enrolled(make_app: MakeApp, database_url: str) -> None:
    app, auth, _ = make_app(url=database_url, login_rate="50/minute")
    async with AsyncTestClient(app) as client:
        await asignup(client)
        secret, _ = await _enroll(client)
        assert (await client.post("/auth/2fa/totp/setup")).status_code == 409
        await client.post("/auth/logout")
        step_one = await alogin(client)
        assert step_one.status_code == 202
        assert step_one.json() == {"two_factor_required": True}
        assert (await client.get("/me")).status_code == 401  # the password alone is not enough
        wrong = await client.post("/auth/2fa", json={"code": "123456"})
        assert wrong.status_code == 400
        code = _next_code(secret)
        ok = await client.post("/auth/2fa", json={"code": code})
        assert ok.status_code == 200
        assert (await client.get("/me")).status_code == 200
        # the same code again, in a new sign-in: a replay, refused
        await client.post("/auth/logout")
        await alogin(client)
        replay = await client.post("/auth/2fa", json={"code": code})
        assert replay.status_code == 400
        assert (await client.get("/me")).status_code == 401


async def test_the_second_step_needs_the_first(make_app: MakeApp) -> None:
    app, auth, _ = make_app()
    async with AsyncTestClient(app) as client:
        await asignup(client)
        secret, _ = await _enroll(client)
        await client.post("/auth/logout")
        stranger = AsyncTestClient(app)
        r = await stranger.post("/auth/2fa", json={"code": pyotp.TOTP(secret).now()})
        assert r.status_code == 400
        assert (await stranger.get("/me")).status_code == 401


async def test_recovery_codes_work_once(make_app: MakeApp) -> None:
    app, auth, _ = make_app(login_rate="50/minute")
    async with AsyncTestClient(app) as client:
        user_id = (await asignup(client)).json()["id"]
        _, codes = await _enroll(client)
        await client.post("/auth/logout")
        await alogin(client)
        assert (await client.post("/auth/2fa", json={"code": codes[0].upper()})).status_code == 200
        assert await auth.two_factor.recovery_codes_left(user_id) == 9
        await client.post("/auth/logout")
        await alogin(client)
        assert (await client.post("/auth/2fa", json={"code": codes[0]})).status_code == 400


async def test_jwt_pairs_need_the_code_too_and_disable_needs_a_code(make_app: MakeApp) -> None:
    app, auth, _ = make_app(jwt=True, login_rate="50/minute")
    async with AsyncTestClient(app) as client:
        await asignup(client)
        secret, codes = await _enroll(client)
        body = {"email": "ada@example.org", "password": PASSWORD}
        assert (await client.post("/auth/jwt", json=body)).status_code == 400
        ok = await client.post("/auth/jwt", json={**body, "code": _next_code(secret)})
        assert ok.status_code == 200
        assert (await client.post("/auth/2fa/totp/disable", json={"code": "1"})).status_code == 400
        off = await client.post("/auth/2fa/totp/disable", json={"code": codes[3]})
        assert off.status_code == 204
        await client.post("/auth/logout")
        assert (await alogin(client)).status_code == 200  # no second step any more


async def test_codes_outside_the_window_are_refused(make_app: MakeApp) -> None:
    app, auth, _ = make_app()
    async with AsyncTestClient(app) as client:
        user_id = (await asignup(client)).json()["id"]
        secret, _ = await _enroll(client)
        factor = auth.two_factor
        old = pyotp.TOTP(secret).at(time.time() - 120)
        assert not await factor.verify(user_id, old)
        assert not await factor.verify(user_id, "abcdef")
        assert not await factor.verify(user_id, "9" * 1000)
        assert isinstance(auth, Auth)


async def test_a_wrong_code_to_disable_shows_the_page_again_to_a_browser(
    make_app: MakeApp,
) -> None:
    app, auth, _ = make_app()
    async with AsyncTestClient(app) as client:
        user_id = (await asignup(client)).json()["id"]
        _, codes = await _enroll(client)
        form = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        page = await client.post("/auth/2fa/totp/disable", data={"code": "1"}, headers=form)
        assert page.status_code == 400
        assert page.headers["content-type"].startswith("text/html")
        assert '<p role="alert">That code is wrong.</p>' in page.text
        assert 'id="code" name="code"' in page.text
        assert 'aria-invalid="true" aria-describedby="code-error"' in page.text
        assert '<p class="error" id="code-error">That code is wrong.</p>' in page.text
        assert 'action="/auth/2fa/totp/disable"' in page.text  # the form to try again
        assert await auth.two_factor.enabled(user_id)
        # an API client still gets problem+json with the field's error
        api = await client.post("/auth/2fa/totp/disable", json={"code": "1"})
        assert api.status_code == 400
        assert api.headers["content-type"].startswith("application/problem+json")
        assert [e["loc"] for e in api.json()["errors"]] == [["body", "code"]]
        off = await client.post("/auth/2fa/totp/disable", data={"code": codes[0]}, headers=form)
        assert off.status_code == 200
        assert "Two-factor authentication is off." in off.text
        assert not await auth.two_factor.enabled(user_id)
