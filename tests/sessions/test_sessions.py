"""``celeris.sessions``: the same behaviour on every backend, through the app."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import pytest

from celeris import App, Request
from celeris.sessions import Session, Sessions, SessionTooLarge, flash, get_flashed_messages
from celeris.testing import TestClient

SECRET = "test-secret-key-of-some-length"


def make_app(**options: Any) -> tuple[App, Sessions]:
    db = options.get("db")
    app = App()
    if db is not None:
        db.install(app)
    sessions = Sessions(app=app, secret_key=SECRET, **options)

    @app.get("/set")
    async def set_value(request: Request, value: str = "x") -> dict[str, Any]:
        request.session["value"] = value
        return {"ok": True}

    @app.get("/get")
    async def get_value(request: Request) -> dict[str, Any]:
        return {"value": request.session.get("value")}

    @app.get("/peek")
    async def peek(request: Request) -> dict[str, Any]:
        return {"path": request.path}  # sees the Request, never touches the session

    @app.get("/bare")
    async def bare() -> str:
        return "bare"

    @app.get("/clear")
    async def clear(request: Request) -> None:
        request.session.clear()

    @app.get("/rotate")
    async def rotate(request: Request) -> dict[str, Any]:
        request.session.rotate()
        return {"id": request.session.session_id}

    @app.get("/big")
    async def big(request: Request) -> str:
        request.session["blob"] = secrets.token_hex(3000)  # incompressible
        return "never"

    @app.get("/flash")
    async def do_flash(request: Request) -> None:
        flash(request, "Saved", category="success")
        flash(request, "Careful", category="warning")

    @app.get("/flashes")
    async def flashes(request: Request) -> list[Any]:
        return get_flashed_messages(request, with_categories=True)

    return app, sessions


def test_round_trip(backend: dict[str, Any]) -> None:
    app, _ = make_app(**backend)
    with TestClient(app) as client:
        assert client.get("/get").json() == {"value": None}
        r = client.get("/set", params={"value": "hello"})
        assert r.status_code == 200
        assert "session" in r.cookies
        assert client.get("/get").json() == {"value": "hello"}
        client.get("/set", params={"value": "again"})
        assert client.get("/get").json() == {"value": "again"}


def test_cookie_flags(backend: dict[str, Any]) -> None:
    app, _ = make_app(**backend)
    with TestClient(app) as client:
        header = client.get("/set").headers["set-cookie"]
        lowered = header.lower()
        assert lowered.startswith("session=")
        assert "httponly" in lowered
        assert "samesite=lax" in lowered
        assert "path=/" in lowered
        assert "max-age=1209600" in lowered  # 14 days
        assert "secure" not in lowered  # plain HTTP
    with TestClient(app, base_url="https://testserver") as client:
        assert "; secure" in client.get("/set").headers["set-cookie"].lower()


def test_a_route_that_never_touches_the_session_sets_no_cookie(backend: dict[str, Any]) -> None:
    app, _ = make_app(**backend)
    with TestClient(app) as client:
        r = client.get("/peek")
        assert "set-cookie" not in r.headers
        client.get("/set")
        for path in ("/peek", "/bare", "/get"):  # reading is not writing
            r = client.get(path)
            assert r.status_code == 200
            assert "set-cookie" not in r.headers, path
        assert client.get("/get").headers["vary"] == "Cookie"
        assert "vary" not in client.get("/bare").headers


def test_routes_without_the_request_skip_the_step(backend: dict[str, Any]) -> None:
    app, sessions = make_app(**backend)
    with TestClient(app) as client:
        by_path = {route.path: route for route in app.routes}
        assert sessions.for_route(by_path["/bare"]) is None
        assert sessions.for_route(by_path["/get"]) is not None
        assert client.get("/nowhere", headers={"cookie": "session=x"}).status_code == 404


@pytest.mark.parametrize(
    "forged",
    [
        "garbage",
        "eyJ2YWx1ZSI6ImFkbWluIn0.ZZZZZZ.bad-signature",
        "x" * 5000,
        "",
        "...",
        "\u00e9\u00e9",
    ],
    ids=["garbage", "bad-signature", "huge", "empty", "dots", "non-ascii"],
)
def test_forged_cookies_are_an_empty_session(
    backend: dict[str, Any], forged: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, _ = make_app(**backend)
    with TestClient(app) as client, caplog.at_level(logging.INFO, "celeris.sessions"):
        r = client.get("/get", headers={"cookie": f"session={forged}".encode()})
        assert r.status_code == 200
        assert r.json() == {"value": None}
    if forged not in ("",):
        assert "session cookie refused" in caplog.text


def test_truncated_and_resigned_cookies(backend: dict[str, Any]) -> None:
    app, _ = make_app(**backend)
    with TestClient(app) as client:
        good = client.get("/set", params={"value": "admin"}).cookies["session"]
        client.cookies.clear()
        for bad in (good[:-3], good[: len(good) // 2], good + "A", "A" + good):
            r = client.get("/get", headers={"cookie": f"session={bad}"})
            assert r.status_code == 200, bad
            assert r.json() == {"value": None}, bad
        # a cookie signed with another key is refused too
        other_sessions = Sessions(secret_key="another-key", url="cookie://")
        forged = other_sessions.signer.dumps({"value": "admin"})
        r = client.get("/get", headers={"cookie": f"session={forged}"})
        assert r.json() == {"value": None}


class _Later:
    """A ``time`` module whose clock runs ``ahead`` seconds fast."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def time(self) -> float:
        return time.time() + self.ahead


def test_expired_cookie_is_an_empty_session(
    backend: dict[str, Any], caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import itsdangerous.timed

    app, _ = make_app(max_age=60, **backend)
    with TestClient(app) as client:
        client.get("/set", params={"value": "soon-gone"})
        assert client.get("/get").json() == {"value": "soon-gone"}
        monkeypatch.setattr(itsdangerous.timed, "time", _Later(61))  # a minute later
        with caplog.at_level(logging.INFO, "celeris.sessions"):
            assert client.get("/get").json() == {"value": None}
        assert "session cookie expired" in caplog.text


def test_sliding_expiry_refreshes_the_cookie(
    backend: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import itsdangerous.timed

    from celeris.sessions import manager

    app, _ = make_app(**backend)  # 14 days, refreshed when a day old
    with TestClient(app) as client:
        client.get("/set", params={"value": "kept"})
        assert "set-cookie" not in client.get("/get").headers  # fresh: no rewrite
        later = _Later(13 * 86_400)  # 13 days on: still valid, due a refresh
        monkeypatch.setattr(itsdangerous.timed, "time", later)
        monkeypatch.setattr(manager, "time", later)
        r = client.get("/get")
        assert r.json() == {"value": "kept"}
        assert "max-age=1209600" in r.headers["set-cookie"].lower()  # a fresh 14 days
        later.ahead = 26 * 86_400  # 13 more days: alive only because it slid
        assert client.get("/get").json() == {"value": "kept"}


def test_clear_deletes_the_cookie(backend: dict[str, Any]) -> None:
    app, _ = make_app(**backend)
    with TestClient(app) as client:
        client.get("/set")
        old = client.cookies["session"]
        r = client.get("/clear")
        assert "max-age=0" in r.headers["set-cookie"].lower()
        assert "session" not in client.cookies
        # the old cookie, replayed, no longer carries data on server-side stores
        if backend["url"] != "cookie://":
            r = client.get("/get", headers={"cookie": f"session={old}"})
            assert r.json() == {"value": None}


def test_rotate_gives_a_new_id_with_the_same_data(backend: dict[str, Any]) -> None:
    app, _ = make_app(**backend)
    with TestClient(app) as client:
        client.get("/set", params={"value": "kept"})
        before = client.cookies["session"]
        new_id = client.get("/rotate").json()["id"]
        after = client.cookies["session"]
        assert client.get("/get").json() == {"value": "kept"}
        if backend["url"] != "cookie://":  # a signed cookie has no id to change
            assert after != before
            assert new_id
            client.cookies.clear()
            r = client.get("/get", headers={"cookie": f"session={before}"})
            assert r.json() == {"value": None}  # the old id is gone: no session fixation


def test_flash_messages(backend: dict[str, Any]) -> None:
    app, _ = make_app(**backend)
    with TestClient(app) as client:
        client.get("/flash")
        assert client.get("/flashes").json() == [["success", "Saved"], ["warning", "Careful"]]
        assert client.get("/flashes").json() == []


def test_oversized_cookie_is_refused_at_write_time() -> None:
    app, _ = make_app(url="cookie://")
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/big")
        assert r.status_code == 500
        assert "set-cookie" not in r.headers
    app, _ = make_app(url="cookie://")
    with TestClient(app) as client, pytest.raises(SessionTooLarge, match=r"redis://.*'db'"):
        client.get("/big")


def test_oversized_session_fits_server_side() -> None:
    app, _ = make_app(url="memory://")
    with TestClient(app) as client:
        assert client.get("/big").status_code == 200
        assert len(client.cookies["session"]) < 200


def test_session_without_the_battery_says_what_to_do() -> None:
    app = App()

    @app.get("/")
    async def index(request: Request) -> str:
        return str(request.session)

    with TestClient(app) as client, pytest.raises(RuntimeError, match=r"Sessions\(app=app\)"):
        client.get("/")


def test_secret_key_from_settings_and_missing_key() -> None:
    from celeris.settings import Settings

    class Config(Settings):
        SECRET_KEY: str

    app = App(settings=Config(SECRET_KEY="from-settings"))
    sessions = Sessions(app=app)

    @app.get("/")
    async def index(request: Request) -> None:
        request.session["a"] = 1

    with TestClient(app) as client:
        value = client.get("/").cookies["session"]
    assert sessions.signer.loads(value, 60) is not None
    bare = App()
    Sessions(app=bare)
    with pytest.raises(RuntimeError, match="settings.E001"), TestClient(bare):
        pass


def test_unknown_backend_names_the_fix() -> None:
    app = App()
    Sessions(app=app, url="mongodb://x", secret_key=SECRET)
    with pytest.raises(RuntimeError, match="sessions.E002"), TestClient(app):
        pass


def test_session_url_from_settings(redis_url: str) -> None:
    from celeris.settings import Settings

    class Config(Settings):
        SECRET_KEY: str = SECRET
        SESSION_URL: str | None = None

    app = App(settings=Config(SESSION_URL=redis_url))
    sessions = Sessions(app=app)
    with TestClient(app):
        assert type(sessions.store).__name__ == "RedisStore"


def test_session_mapping_api() -> None:
    sessions = Sessions(secret_key=SECRET)
    session = Session(sessions, sessions.signer.dumps({"a": 1}))
    assert not session.accessed
    assert dict(session) == {"a": 1}
    assert session.accessed
    assert not session.modified
    assert session.setdefault("b", 2) == 2
    assert session.modified
    del session["a"]
    assert list(session) == ["b"]
    assert len(session) == 1
    assert "b" in session


def test_signed_cookie_is_itsdangerous_format() -> None:
    import base64
    import zlib

    import itsdangerous

    from celeris.sessions import SignedCookie

    ours = SignedCookie(SECRET)
    theirs = itsdangerous.URLSafeTimedSerializer(SECRET, salt="celeris.sessions")
    big = {"a": "x" * 500}
    value = ours.dumps(big)
    assert value.startswith(".")  # compressed
    assert theirs.loads(value) == big
    assert ours.loads(theirs.dumps({"b": 1}), 60)[0] == {"b": 1}
    # even a value we signed may not inflate without bound
    bomb = b"." + base64.urlsafe_b64encode(zlib.compress(b'"' + b"x" * 200_000 + b'"'))
    assert ours.loads(ours.signer.sign(bomb).decode(), 60) is None


def test_db_backend_puts_its_table_on_the_models_metadata(tmp_path) -> None:
    from celeris.db import Database, Model

    db = Database(f"sqlite:///{tmp_path}/m.db", root_path=tmp_path)
    Sessions(App(), url="db", db=db, secret_key=SECRET)
    assert "celeris_session" in Model.metadata.tables


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        (None, "Cookie"),
        ("Accept-Encoding", "Accept-Encoding, Cookie"),
        ("accept-encoding, cookie", "accept-encoding, cookie"),
        ("*", "*"),
    ],
)
def test_a_route_that_reads_the_session_varies_on_cookie(given: str | None, sent: str) -> None:
    from celeris import PlainTextResponse

    app = App()
    Sessions(app=app, secret_key=SECRET)

    @app.get("/")
    async def index(request: Request) -> PlainTextResponse:
        headers = {"vary": given} if given is not None else None
        return PlainTextResponse(str(request.session.get("user")), headers=headers)

    with TestClient(app) as client:
        r = client.get("/")
        assert r.headers.get_list("vary") == [sent]


def test_refresh_after_zero_rewrites_the_cookie_on_every_read() -> None:
    app, _ = make_app(url="cookie://", refresh_after=0)
    with TestClient(app) as client:
        client.get("/set", params={"value": "kept"})
        for _ in range(2):
            r = client.get("/get")
            assert r.json() == {"value": "kept"}
            assert "max-age=1209600" in r.headers["set-cookie"].lower()
        assert "set-cookie" not in client.get("/bare").headers


def test_the_step_s_async_and_plain_forms_behave_alike() -> None:
    """The pipeline calls the plain forms for the signed cookie; the async ones stay exact."""
    from celeris import Step

    sessions = Sessions(secret_key=SECRET, url="cookie://")
    before, before_is_async = sessions._step._before_entry()
    after, after_is_async = sessions._step._after_entry()
    assert (before, before_is_async) == (sessions.open_signed, False)
    assert (after, after_is_async) == (sessions.close_signed, False)
    assert Sessions(secret_key=SECRET, url="memory://")._step._before_entry()[1] is True

    class AsyncOnly(Step):
        """The session step as a Step without the plain forms (only before/after)."""

        async def before(self, request: Request) -> None:
            await sessions._step.before(request)

        async def after(self, request: Request, response: Any) -> None:
            await sessions._step.after(request, response)

    app = App()
    app.state.sessions = sessions
    sessions.app = app
    app.add_step(AsyncOnly())

    @app.get("/set")
    async def set_value(request: Request, value: str) -> str:
        request.session["value"] = value
        return value

    @app.get("/get")
    async def get_value(request: Request) -> dict[str, Any]:
        return {"value": request.session.get("value")}

    with TestClient(app) as client:
        r = client.get("/set", params={"value": "v"})
        assert "max-age=1209600" in r.headers["set-cookie"].lower()
        r = client.get("/get")
        assert r.json() == {"value": "v"}
        assert "set-cookie" not in r.headers
        assert r.headers["vary"] == "Cookie"


@pytest.mark.parametrize("https", [False, True])
@pytest.mark.parametrize("options", [{}, {"domain": "example.org", "same_site": "strict"}])
def test_the_session_cookie_line_is_set_cookie_s_own(https: bool, options: dict[str, Any]) -> None:
    from celeris import Response

    sessions = Sessions(secret_key=SECRET, url="cookie://", max_age=600, **options)
    value = sessions.signer.dumps({"user": "ada"})
    ours, theirs = Response(), Response()
    for _ in range(2):  # the first call renders the attributes, the second reuses them
        sessions._set_cookie(ours, value, https)
    theirs.set_cookie(
        "session",
        value,
        max_age=600,
        path="/",
        domain=options.get("domain"),
        secure=https,
        httponly=True,
        samesite=options.get("same_site", "lax"),
    )
    assert ours.headers.getlist("set-cookie") == theirs.headers.getlist("set-cookie") * 2
