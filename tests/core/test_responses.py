from __future__ import annotations

import asyncio
import collections
import dataclasses
import decimal
import enum
import os
import types
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from celeris.core.asgi import ASGIConnection
from celeris.core.background import BackgroundTasks
from celeris.core.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    ServerSentEvent,
    ServerSentEvents,
    StreamingResponse,
    _parse_range,
    json_encode,
)
from celeris.types import ASGIApp


def client(app: ASGIApp) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


class FakeConn:
    """A minimal FastRequest recording what is sent."""

    def __init__(
        self, method: str = "GET", headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.scheme = "http"
        self.method = method
        self.http_version = "1.1"
        self.path = "/"
        self.raw_path = b"/"
        self.root_path = ""
        self.query_string = b""
        self.headers = headers or []
        self.client = None
        self.server = None
        self.state: dict[str, Any] = {}
        self.responded: list[tuple[int, list[tuple[bytes, bytes]], bytes]] = []
        self.sent: list[dict[str, Any]] = []
        self.disconnected = False

    async def receive(self) -> dict[str, Any]:
        await asyncio.Event().wait() if not self.disconnected else None
        return {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def respond(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.responded.append((status, headers, body))

    def is_disconnected(self) -> bool:
        return self.disconnected


# --- Response ---------------------------------------------------------------------------------


async def test_plain_response_is_one_respond_call() -> None:
    conn = FakeConn()
    resp = Response("héllo", media_type="text/plain")
    await resp.send_to(conn)
    assert conn.responded == [
        (
            200,
            [(b"content-length", b"6"), (b"content-type", b"text/plain; charset=utf-8")],
            "héllo".encode(),
        )
    ]
    assert conn.sent == []


def test_response_basics() -> None:
    r = Response(
        b"\x00\x01", status_code=201, headers={"X-A": "1"}, media_type="application/octet-stream"
    )
    assert r.body == b"\x00\x01"
    assert r.status_code == 201
    assert r.media_type == "application/octet-stream"
    assert r.headers["x-a"] == "1"
    assert r.headers["content-type"] == "application/octet-stream"
    assert Response().body == b""
    assert Response().headers["content-length"] == "0"
    assert "content-type" not in Response().headers
    assert Response(bytearray(b"ab")).body == b"ab"
    with pytest.raises(TypeError, match="JSONResponse"):
        Response({"a": 1})


@pytest.mark.parametrize("code", [204, 304, 101])
def test_no_body_statuses_have_no_length(code: int) -> None:
    r = Response("ignored", status_code=code, media_type="text/plain")
    assert r.body == b""
    assert "content-length" not in r.headers
    assert "content-type" not in r.headers


def test_user_content_type_and_length_win() -> None:
    r = Response("x", headers={"Content-Type": "text/x-custom"}, media_type="text/plain")
    assert r.headers.getlist("content-type") == ["text/x-custom"]


def test_text_subclasses() -> None:
    assert PlainTextResponse("x").headers["content-type"] == "text/plain; charset=utf-8"
    assert HTMLResponse("<b>").headers["content-type"] == "text/html; charset=utf-8"
    assert (
        Response("x", media_type="text/csv; charset=latin-1").headers["content-type"]
        == "text/csv; charset=latin-1"
    )


async def test_asgi_call_runs_background_after() -> None:
    ran: list[int] = []
    tasks = BackgroundTasks()
    tasks.add_task(ran.append, 1)
    async with client(PlainTextResponse("hi", headers={"x-y": "z"}, background=tasks)) as c:
        r = await c.get("/")
    assert r.status_code == 200
    assert r.text == "hi"
    assert r.headers["x-y"] == "z"
    assert ran == [1]


async def test_send_to_does_not_run_background() -> None:
    ran: list[int] = []
    tasks = BackgroundTasks()
    tasks.add_task(ran.append, 1)
    await Response("x", background=tasks).send_to(FakeConn())
    assert ran == []


async def test_head_over_asgi_has_length_no_body() -> None:
    async with client(PlainTextResponse("hello")) as c:
        r = await c.head("/")
    assert r.content == b""
    assert r.headers["content-length"] == "5"


# --- cookies ----------------------------------------------------------------------------------


def test_set_cookie_attributes() -> None:
    r = Response()
    r.set_cookie(
        "sid",
        "a b",
        max_age=60,
        expires=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        path="/app",
        domain="example.com",
        secure=True,
        httponly=True,
        samesite="strict",
        partitioned=True,
    )
    r.set_cookie("plain", "v")
    first, second = r.headers.getlist("set-cookie")
    assert first.startswith('sid="a b"')
    for part in [
        "Max-Age=60",
        "expires=Wed, 02 Jan 2030 03:04:05 GMT",
        "Path=/app",
        "Domain=example.com",
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Partitioned",
    ]:
        assert part in first
    assert second == "plain=v; Path=/; SameSite=Lax"


def test_delete_cookie_and_bad_samesite() -> None:
    r = Response()
    r.delete_cookie("sid", path="/x", secure=True)
    line = r.headers["set-cookie"]
    assert line.startswith("sid=")
    assert "Max-Age=0" in line
    assert "1970" in line
    assert "Path=/x" in line
    with pytest.raises(ValueError, match="samesite"):
        r.set_cookie("a", samesite="bogus")  # type: ignore[arg-type]
    with pytest.raises(Exception, match="Illegal key"):
        r.set_cookie("bad key;", "v")


async def test_cookies_over_asgi() -> None:
    r = Response("x")
    r.set_cookie("a", "1", httponly=True)
    async with client(r) as c:
        resp = await c.get("/")
    assert resp.cookies["a"] == "1"


# --- JSON and redirects -----------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Model(pydantic.BaseModel):
    name: str
    when: datetime


def test_json_response_types() -> None:
    u = uuid.UUID(int=1)
    data = {
        "set": {1},
        "dec": decimal.Decimal("1.10"),
        "color": Color.RED,
        "point": Point(1, 2),
        "uuid": u,
        "model": Model(name="n", when=datetime(2020, 1, 1, tzinfo=UTC)),
        "path": Path("/tmp/x"),
        "none": None,
    }
    r = JSONResponse(data, status_code=201)
    assert r.headers["content-type"] == "application/json"
    assert r.status_code == 201
    assert msgspec.json.decode(r.body) == {
        "set": [1],
        "dec": "1.10",
        "color": "red",
        "point": {"x": 1, "y": 2},
        "uuid": str(u),
        "model": {"name": "n", "when": "2020-01-01T00:00:00Z"},
        "path": "/tmp/x",
        "none": None,
    }
    assert JSONResponse(None).body == b"null"
    assert JSONResponse(
        {"q": collections.deque([1, 2]), "m": types.MappingProxyType({"a": 1})}
    ).body == (b'{"q":[1,2],"m":{"a":1}}')
    with pytest.raises(TypeError, match="cannot encode object"):
        json_encode(object())


PLUS_2 = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2024, 5, 1, 12, tzinfo=UTC), "2024-05-01T12:00:00.000000Z"),
        (datetime(2024, 5, 1, 12, 0, 0, 120000, tzinfo=UTC), "2024-05-01T12:00:00.120000Z"),
        (datetime(2024, 5, 1, 12, 0, 0, 7, tzinfo=PLUS_2), "2024-05-01T12:00:00.000007+02:00"),
        (datetime(2024, 5, 1, 12, tzinfo=PLUS_2), "2024-05-01T12:00:00.000000+02:00"),
        (datetime(2024, 5, 1, 12), "2024-05-01T12:00:00.000000"),  # naive: no offset to give
    ],
)
def test_json_datetimes_keep_microseconds_and_their_offset(value: datetime, text: str) -> None:
    @dataclasses.dataclass
    class At:
        at: datetime

    class AtStruct(msgspec.Struct):
        at: datetime

    for data in (value, [value], {"at": value}, At(value), AtStruct(value), {"x": [{"at": value}]}):
        assert text.encode() in json_encode(data)
        assert text.encode() in JSONResponse(data).body


def test_json_text_that_looks_like_a_datetime_is_left_alone() -> None:
    data = {"text": "2024-05-01T12:00:00Z", "at": datetime(2024, 5, 1, 12, tzinfo=UTC)}
    assert json_encode(data) == (
        b'{"text":"2024-05-01T12:00:00Z","at":"2024-05-01T12:00:00.000000Z"}'
    )
    assert json_encode({"text": "2024-05-01T12:00:00Z"}) == b'{"text":"2024-05-01T12:00:00Z"}'


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(),
        lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids),
        max_leaves=20,
    )
)
@settings(max_examples=50)
def test_json_roundtrip(value: Any) -> None:
    assert msgspec.json.decode(JSONResponse(value).body) == value


async def test_redirect() -> None:
    r = RedirectResponse("/a b?x=1&y=é")
    assert r.status_code == 307
    assert r.headers["location"] == "/a%20b?x=1&y=%C3%A9"
    assert (
        RedirectResponse("http://x/\r\nSet-Cookie: a=1", 302).headers["location"]
        == "http://x/%0D%0ASet-Cookie:%20a=1"
    )
    async with client(RedirectResponse("https://example.com/next", status_code=301)) as c:
        resp = await c.get("/")
    assert resp.status_code == 301
    assert resp.headers["location"] == "https://example.com/next"


# --- streaming --------------------------------------------------------------------------------


async def test_streaming_async_and_sync() -> None:
    async def agen() -> AsyncIterator[str | bytes]:
        yield "a"
        yield b"b"
        yield ""

    def sgen() -> Iterator[bytes]:
        yield b"x"
        yield b"y"

    async with client(StreamingResponse(agen(), media_type="text/plain")) as c:
        r = await c.get("/")
    assert r.text == "ab"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert "content-length" not in r.headers
    async with client(StreamingResponse(sgen())) as c:
        r = await c.get("/")
    assert r.content == b"xy"


async def test_streaming_stops_on_disconnect() -> None:
    produced = 0
    closed = asyncio.Event()

    async def forever() -> AsyncIterator[bytes]:
        nonlocal produced
        try:
            while True:
                produced += 1
                yield b"x"
                await asyncio.sleep(0.001)
        finally:
            closed.set()

    conn = FakeConn()

    conn.receive = _disconnect_after(0.02)  # type: ignore[method-assign]
    await asyncio.wait_for(StreamingResponse(forever()).send_to(conn), 2)
    assert closed.is_set()
    assert produced > 0
    assert conn.sent[0]["type"] == "http.response.start"


def _disconnect_after(delay: float) -> Any:
    async def receive() -> dict[str, Any]:
        await asyncio.sleep(delay)
        return {"type": "http.disconnect"}

    return receive


async def test_streaming_head_sends_no_body() -> None:
    conn = FakeConn(method="HEAD")
    await StreamingResponse(iter([b"abc"])).send_to(conn)
    assert [m.get("body") for m in conn.sent[1:]] == [b""]


async def test_streaming_error_propagates() -> None:
    async def bad() -> AsyncIterator[bytes]:
        yield b"a"
        raise ValueError("broken stream")

    with pytest.raises(ValueError, match="broken stream"):
        await StreamingResponse(bad()).send_to(FakeConn())


def test_streaming_rejects_non_iterators() -> None:
    with pytest.raises(TypeError, match="iterator"):
        StreamingResponse(42)  # type: ignore[arg-type]


# --- server-sent events -----------------------------------------------------------------------


def test_sse_encoding() -> None:
    assert ServerSentEvent("hi").encode() == b"data: hi\n\n"
    assert ServerSentEvent("a\nb", event="msg", id=3, retry=1000).encode() == (
        b"event: msg\nid: 3\nretry: 1000\ndata: a\ndata: b\n\n"
    )
    assert ServerSentEvent({"a": 1}).encode() == b'data: {"a":1}\n\n'
    assert ServerSentEvent(comment="keep").encode() == b": keep\n\n"
    with pytest.raises(ValueError, match="CR, LF"):
        ServerSentEvent("x", event="a\nb")
    with pytest.raises(ValueError, match="CR, LF"):
        ServerSentEvent("x", id="1\r")
    with pytest.raises(ValueError, match="retry"):
        ServerSentEvent("x", retry=-1)


async def test_sse_stream_over_asgi() -> None:
    async def events() -> AsyncIterator[Any]:
        yield "hello"
        yield {"n": 1}
        yield ServerSentEvent("bye", event="end", id="9")

    async with client(ServerSentEvents(events())) as c:
        r = await c.get("/")
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert r.headers["cache-control"] == "no-cache"
    assert r.headers["x-accel-buffering"] == "no"
    assert r.text == 'data: hello\n\ndata: {"n":1}\n\nevent: end\nid: 9\ndata: bye\n\n'


async def test_sse_pings_when_idle_without_losing_items() -> None:
    async def slow() -> AsyncIterator[str]:
        await asyncio.sleep(0.12)
        yield "late"

    async with client(ServerSentEvents(slow(), ping=0.05)) as c:
        r = await c.get("/")
    assert r.text.count(": ping\n\n") >= 1
    assert r.text.endswith("data: late\n\n")


async def test_sse_sync_iterator() -> None:
    async with client(ServerSentEvents(iter(["a", "b"]))) as c:
        r = await c.get("/")
    assert r.text == "data: a\n\ndata: b\n\n"


# --- files ------------------------------------------------------------------------------------


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    p = tmp_path / "data.txt"
    p.write_bytes(bytes(range(256)) * 400)  # 102400 bytes: over one chunk
    return p


async def test_file_full_and_validators(data_file: Path) -> None:
    async with client(FileResponse(data_file)) as c:
        r = await c.get("/")
    assert r.status_code == 200
    assert r.content == data_file.read_bytes()
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["content-length"] == "102400"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["etag"].startswith('"')
    assert r.headers["last-modified"].endswith("GMT")


async def test_small_file_is_one_respond(tmp_path: Path) -> None:
    p = tmp_path / "s.json"
    p.write_text("{}")
    conn = FakeConn()
    await FileResponse(p).send_to(conn)
    ((status, headers, body),) = conn.responded
    assert status == 200
    assert body == b"{}"
    assert (b"content-type", b"application/json") in headers


async def test_file_head(data_file: Path) -> None:
    async with client(FileResponse(data_file)) as c:
        r = await c.head("/")
    assert r.content == b""
    assert r.headers["content-length"] == "102400"


async def test_file_conditional_304(data_file: Path) -> None:
    async with client(FileResponse(data_file)) as c:
        first = await c.get("/")
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        r = await c.get("/", headers={"if-none-match": etag})
        assert r.status_code == 304
        assert r.content == b""
        assert r.headers["etag"] == etag
        assert (await c.get("/", headers={"if-none-match": f'"x", W/{etag}'})).status_code == 304
        assert (await c.get("/", headers={"if-none-match": "*"})).status_code == 304
        assert (await c.get("/", headers={"if-none-match": '"other"'})).status_code == 200
        assert (await c.get("/", headers={"if-modified-since": modified})).status_code == 304
        old = "Mon, 01 Jan 1990 00:00:00 GMT"
        assert (await c.get("/", headers={"if-modified-since": old})).status_code == 200
        assert (await c.get("/", headers={"if-modified-since": "garbage"})).status_code == 200
        # If-None-Match takes precedence over If-Modified-Since
        r = await c.get("/", headers={"if-none-match": '"other"', "if-modified-since": modified})
        assert r.status_code == 200


async def test_file_single_range(data_file: Path) -> None:
    data = data_file.read_bytes()
    async with client(FileResponse(data_file)) as c:
        r = await c.get("/", headers={"range": "bytes=10-19"})
        assert r.status_code == 206
        assert r.content == data[10:20]
        assert r.headers["content-range"] == "bytes 10-19/102400"
        assert r.headers["content-length"] == "10"
        r = await c.get("/", headers={"range": "bytes=-5"})
        assert r.content == data[-5:]
        assert r.headers["content-range"] == "bytes 102395-102399/102400"
        r = await c.get("/", headers={"range": "bytes=102390-"})
        assert r.content == data[102390:]
        r = await c.get("/", headers={"range": "bytes=100000-999999"})
        assert r.content == data[100000:]
        r = await c.head("/", headers={"range": "bytes=0-0"})
        assert r.status_code == 206
        assert r.content == b""
        assert r.headers["content-length"] == "1"


async def test_file_multiple_ranges(data_file: Path) -> None:
    data = data_file.read_bytes()
    async with client(FileResponse(data_file)) as c:
        r = await c.get("/", headers={"range": "bytes=0-1, 10-12"})
    assert r.status_code == 206
    ctype = r.headers["content-type"]
    assert ctype.startswith("multipart/byteranges; boundary=")
    boundary = ctype.split("boundary=")[1]
    assert int(r.headers["content-length"]) == len(r.content)
    parts = r.content.split(f"--{boundary}".encode())
    assert parts[0] == b""
    assert parts[-1] == b"--\r\n"
    assert b"Content-Range: bytes 0-1/102400\r\n\r\n" + data[0:2] + b"\r\n" in parts[1]
    assert b"Content-Range: bytes 10-12/102400\r\n\r\n" + data[10:13] + b"\r\n" in parts[2]


async def test_file_overlapping_ranges_coalesce(data_file: Path) -> None:
    async with client(FileResponse(data_file)) as c:
        r = await c.get("/", headers={"range": "bytes=0-5,3-9"})
    assert r.headers["content-range"] == "bytes 0-9/102400"


@pytest.mark.parametrize("header", ["bytes=200000-", "bytes=102400-102500", "bytes=-0"])
async def test_file_unsatisfiable_416(data_file: Path, header: str) -> None:
    async with client(FileResponse(data_file)) as c:
        r = await c.get("/", headers={"range": header})
    assert r.status_code == 416
    assert r.headers["content-range"] == "bytes */102400"
    assert r.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("header", ["items=0-1", "bytes=5-1", "bytes=a-b", "bytes", "bytes=1-2-3"])
async def test_file_invalid_range_ignored(data_file: Path, header: str) -> None:
    async with client(FileResponse(data_file)) as c:
        r = await c.get("/", headers={"range": header})
    assert r.status_code == 200
    assert len(r.content) == 102400


async def test_file_if_range(data_file: Path) -> None:
    async with client(FileResponse(data_file)) as c:
        first = await c.head("/")
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        r = await c.get("/", headers={"range": "bytes=0-0", "if-range": etag})
        assert r.status_code == 206
        r = await c.get("/", headers={"range": "bytes=0-0", "if-range": modified})
        assert r.status_code == 206
        r = await c.get("/", headers={"range": "bytes=0-0", "if-range": '"stale"'})
        assert r.status_code == 200
        assert len(r.content) == 102400


async def test_file_missing_is_404(tmp_path: Path) -> None:
    async with client(FileResponse(tmp_path / "nope.txt")) as c:
        r = await c.get("/")
    assert r.status_code == 404
    assert r.json()["status"] == 404
    async with client(FileResponse(tmp_path)) as c:  # a directory is not a file
        assert (await c.get("/")).status_code == 404


async def test_file_content_disposition(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(b"x")
    r = FileResponse(p, filename="report.pdf")
    assert r.headers["content-disposition"] == 'attachment; filename="report.pdf"'
    assert r.media_type == "application/pdf"
    r = FileResponse(p, filename="résumé €.txt", content_disposition_type="inline")
    assert r.headers["content-disposition"] == (
        "inline; filename=\"r?sum? ?.txt\"; filename*=utf-8''r%C3%A9sum%C3%A9%20%E2%82%AC.txt"
    )
    r = FileResponse(p, filename='a"b.txt')
    assert 'filename="a_b.txt"' in r.headers["content-disposition"]
    assert FileResponse(p).media_type == "application/octet-stream"


async def test_file_stops_when_client_gone(data_file: Path) -> None:
    conn = FakeConn()
    conn.disconnected = True
    await FileResponse(data_file).send_to(conn)
    assert conn.sent[0]["type"] == "http.response.start"
    assert len(conn.sent) == 1


@given(st.text(max_size=40), st.integers(0, 1000))
def test_parse_range_never_raises(header: str, size: int) -> None:
    result = _parse_range(header, size)
    if result:
        for start, end in result:
            assert 0 <= start <= end < size


def test_file_uses_given_stat(data_file: Path) -> None:
    st_result = os.stat(data_file)
    r = FileResponse(data_file, stat_result=st_result)
    assert r.stat_result is st_result


async def test_asgi_connection_for_responses(data_file: Path) -> None:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(m: dict[str, Any]) -> None:
        sent.append(m)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": [(b"range", b"bytes=0-3")]}
    await FileResponse(data_file).send_to(ASGIConnection(scope, receive, send))
    assert sent[0]["status"] == 206
    assert b"".join(m.get("body", b"") for m in sent[1:]) == bytes(range(4))


async def test_sse_disconnect_closes_a_waiting_generator() -> None:
    finalized = asyncio.Event()

    async def waits_forever() -> AsyncIterator[str]:
        try:
            yield "first"
            await asyncio.Event().wait()
            yield "never"
        finally:
            finalized.set()

    conn = FakeConn()
    conn.receive = _disconnect_after(0.05)  # type: ignore[method-assign]
    await asyncio.wait_for(ServerSentEvents(waits_forever(), ping=0.01).send_to(conn), 2)
    assert finalized.is_set()
    bodies = [m.get("body") for m in conn.sent[1:]]
    assert bodies[0] == b"data: first\n\n"
    assert b": ping\n\n" in bodies


def test_subclass_media_type_idiom() -> None:
    class CSVResponse(Response):
        media_type = "text/csv"

    class Slotted(Response):
        __slots__ = ()
        media_type = "application/xml"

    r = CSVResponse("a,b")
    assert r.media_type == "text/csv"
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert Slotted("<a/>").headers["content-type"] == "application/xml"
    assert CSVResponse("x", media_type="text/plain").media_type == "text/plain"


@pytest.mark.parametrize("behaviour", ["raises", "spins"])
async def test_streaming_survives_odd_receive(behaviour: str) -> None:
    async def receive() -> dict[str, Any]:
        if behaviour == "raises":
            raise RuntimeError("receive is not available")
        return {"type": "http.request", "body": b"", "more_body": False}

    async def slow() -> AsyncIterator[bytes]:
        for part in (b"a", b"b", b"c"):
            await asyncio.sleep(0.01)
            yield part

    conn = FakeConn()
    conn.receive = receive  # type: ignore[method-assign]
    await asyncio.wait_for(StreamingResponse(slow()).send_to(conn), 2)
    assert b"".join(m.get("body", b"") for m in conn.sent[1:]) == b"abc"
    assert conn.sent[-1]["more_body"] is False


def test_cookie_expires_relative() -> None:
    r = Response()
    r.set_cookie("a", "1", expires=timedelta(hours=1))
    r.set_cookie("b", "1", expires=60)
    for line in r.headers.getlist("set-cookie"):
        assert "expires=" in line
        assert line.rstrip().split("expires=")[1][:3] in {
            "Mon",
            "Tue",
            "Wed",
            "Thu",
            "Fri",
            "Sat",
            "Sun",
        }
