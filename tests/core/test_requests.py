from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeris.core.asgi import ASGIConnection
from celeris.core.datastructures import Address
from celeris.core.errors import BadRequest, HTTPError
from celeris.core.requests import ClientDisconnect, Request, parse_cookies


def make_request(
    body: list[bytes] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    disconnect: bool = False,
    **scope_overrides: Any,
) -> Request:
    chunks = body if body is not None else [b""]
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    if disconnect:
        messages = messages[:-1] + [{"type": "http.disconnect"}]
    messages.append({"type": "http.disconnect"})

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        pass

    scope: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": "POST",
        "scheme": "https",
        "path": "/items/1",
        "raw_path": b"/items/1",
        "query_string": b"a=1&a=2&b=x",
        "root_path": "",
        "headers": headers if headers is not None else [(b"host", b"example.com")],
        "client": ("10.0.0.1", 1234),
        "server": ("example.com", 443),
    }
    scope.update(scope_overrides)
    return Request(ASGIConnection(scope, receive, send), app="the-app", path_params={"id": 1})


async def test_request_line_attributes() -> None:
    r = make_request()
    assert r.method == "POST"
    assert r.path == "/items/1"
    assert str(r.url) == "https://example.com/items/1?a=1&a=2&b=x"
    assert str(r.base_url) == "https://example.com/"
    assert r.query_params["a"] == "2"
    assert r.query_params.getlist("a") == ["1", "2"]
    assert r.client == Address("10.0.0.1", 1234)
    assert r.path_params == {"id": 1}
    assert r.app == "the-app"
    assert r.headers["Host"] == "example.com"
    assert r.scope["path"] == "/items/1"
    assert r.url is r.url  # cached
    assert repr(r) == "Request(POST /items/1)"


async def test_url_without_host_uses_server_and_root_path() -> None:
    r = make_request(headers=[], root_path="/api", server=("s.local", 8443))
    assert str(r.url) == "https://s.local:8443/items/1?a=1&a=2&b=x"
    assert str(r.base_url) == "https://s.local:8443/api/"
    assert make_request(client=None).client is None


async def test_state_is_backed_by_connection_state() -> None:
    r = make_request()
    r.state.user = "bob"
    assert r.conn.state == {"user": "bob"}


async def test_cookies_parsed_leniently() -> None:
    r = make_request(headers=[(b"cookie", b'a=1; b="x y"; bad; =; c=3=4; a=2')])
    assert r.cookies == {"a": "2", "b": "x y", "": "bad", "c": "3=4"}
    assert make_request().cookies == {}


def test_parse_cookies_escapes() -> None:
    assert parse_cookies(r'k="a\"b\\c\054d"') == {"k": 'a"b\\c,d'}


@given(st.text())
def test_parse_cookies_never_raises(header: str) -> None:
    assert isinstance(parse_cookies(header), dict)


async def test_body_in_chunks_is_cached() -> None:
    r = make_request([b"he", b"llo"])
    assert await r.body() == b"hello"
    assert await r.body() == b"hello"
    assert [c async for c in r.stream()] == [b"hello"]


async def test_stream_then_body_is_a_clear_error() -> None:
    r = make_request([b"a", b"b"])
    assert [c async for c in r.stream()] == [b"a", b"b"]
    with pytest.raises(RuntimeError, match="consumed by stream"):
        await r.body()
    with pytest.raises(RuntimeError, match="consumed by stream"):
        [c async for c in r.stream()]


async def test_disconnect_while_reading() -> None:
    r = make_request([b"a", b"b"], disconnect=True)
    with pytest.raises(ClientDisconnect):
        await r.body()
    assert await r.is_disconnected()


async def test_json() -> None:
    r = make_request([b'{"a": [1, 2', b"]}"])
    assert await r.json() == {"a": [1, 2]}
    assert await r.json() == {"a": [1, 2]}


@pytest.mark.parametrize(
    ("body", "match"),
    [(b"{bad", "Malformed JSON body"), (b"", "empty"), (b'{"a":1}x', "Malformed JSON body")],
)
async def test_malformed_json_is_bad_request(body: bytes, match: str) -> None:
    r = make_request([body])
    with pytest.raises(BadRequest, match=match) as info:
        await r.json()
    assert info.value.status_code == 400
    assert match in (info.value.detail or "")


async def test_form_urlencoded() -> None:
    r = make_request(
        [b"name=J%C3%BCrgen&tag=a&tag=b"],
        headers=[(b"content-type", b"application/x-www-form-urlencoded")],
    )
    form = await r.form()
    assert form["name"] == "Jürgen"
    assert form.getlist("tag") == ["a", "b"]
    assert await r.form() is form
    await r.close()


async def test_form_multipart_and_close() -> None:
    body = (
        b"--XX\r\n"
        b'Content-Disposition: form-data; name="f"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\n"
        b"hello\r\n"
        b"--XX--\r\n"
    )
    r = make_request([body], headers=[(b"content-type", b"multipart/form-data; boundary=XX")])
    form = await r.form()
    upload = form["f"]
    assert not isinstance(upload, str)
    assert await upload.read() == b"hello"
    await r.close()
    assert upload.file.closed


async def test_form_wrong_content_type_is_415() -> None:
    r = make_request([b"{}"], headers=[(b"content-type", b"application/json")])
    with pytest.raises(HTTPError) as info:
        await r.form()
    assert info.value.status_code == 415


async def test_is_disconnected_does_not_eat_the_body() -> None:
    r = make_request([b"data"])
    assert not await r.is_disconnected()
    assert await r.body() == b"data"
    # body read: the next message is the disconnect, found by polling
    assert await r.is_disconnected()
    await r.close()


async def test_url_for_needs_an_app() -> None:
    class App:
        def url_for(self, name: str, **params: Any) -> str:
            return f"/{name}/{params['id']}"

    r = make_request()
    r.app = App()
    assert r.url_for("item", id=3) == "/item/3"
    r.app = None
    with pytest.raises(RuntimeError, match="application"):
        r.url_for("item")
