from __future__ import annotations

import gzip
import random
import zlib

import brotli
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeris.middleware import GZipMiddleware
from celeris.middleware.gzip import choose_encoding, parse_accept_encoding
from celeris.types import Message, Receive, Scope, Send

BIG = b"celeris " * 200  # 1600 bytes, compresses well


def app_with(body: bytes, *, headers: list[tuple[bytes, bytes]] | None = None, chunks: int = 1):
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        h = [(b"content-length", str(len(body)).encode()), *(headers or [])]
        if not any(n == b"content-type" for n, _ in h):
            h.append((b"content-type", b"text/plain"))
        await send({"type": "http.response.start", "status": 200, "headers": h})
        if chunks == 1:
            await send({"type": "http.response.body", "body": body})
            return
        size = len(body) // chunks + 1
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        for i in range(0, len(body), size):
            await send(
                {"type": "http.response.body", "body": body[i : i + size], "more_body": True}
            )
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return app


async def call(mw: GZipMiddleware, accept: str | None, method: str = "GET") -> list[Message]:
    """Run ``mw`` with raw ASGI and return the messages it sent (undecoded)."""
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    headers = [] if accept is None else [(b"accept-encoding", accept.encode())]
    await mw({"type": "http", "method": method, "path": "/", "headers": headers}, receive, send)
    return sent


def header(message: Message, name: bytes) -> bytes | None:
    return next((v for n, v in message["headers"] if n == name), None)


async def test_gzip_through_httpx() -> None:
    mw = GZipMiddleware(app_with(BIG), brotli=False)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mw), base_url="http://t") as c:
        r = await c.get("/", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["vary"] == "Accept-Encoding"
    assert r.content == BIG  # httpx decodes
    assert int(r.headers["content-length"]) < len(BIG)


async def test_whole_body_gzip_fixes_length_and_weakens_etag() -> None:
    sent = await call(
        GZipMiddleware(
            app_with(BIG, headers=[(b"etag", b'"abc"'), (b"vary", b"Origin")]), brotli=False
        ),
        "gzip",
    )
    start, body = sent
    assert header(start, b"content-encoding") == b"gzip"
    assert header(start, b"content-length") == str(len(body["body"])).encode()
    assert header(start, b"etag") == b'W/"abc"'
    assert header(start, b"vary") == b"Origin, Accept-Encoding"
    assert gzip.decompress(body["body"]) == BIG


async def test_brotli_preferred_when_available() -> None:
    sent = await call(GZipMiddleware(app_with(BIG)), "gzip, deflate, br")
    assert header(sent[0], b"content-encoding") == b"br"
    assert brotli.decompress(sent[1]["body"]) == BIG


async def test_q_values_decide() -> None:
    sent = await call(GZipMiddleware(app_with(BIG)), "br;q=0.5, gzip;q=0.9")
    assert header(sent[0], b"content-encoding") == b"gzip"
    sent = await call(GZipMiddleware(app_with(BIG)), "br;q=0, gzip;q=0")
    assert header(sent[0], b"content-encoding") is None
    assert sent[1]["body"] == BIG


@pytest.mark.parametrize(
    ("accept", "extra", "method", "body"),
    [
        (None, [], "GET", BIG),
        ("identity", [], "GET", BIG),
        ("gzip", [], "GET", b"small"),
        ("gzip", [], "HEAD", BIG),
        ("gzip", [(b"content-encoding", b"br")], "GET", BIG),
        ("gzip", [(b"cache-control", b"no-transform")], "GET", BIG),
        ("gzip", [(b"content-type", b"image/png")], "GET", BIG),
    ],
)
async def test_skipped(accept: str | None, extra: list, method: str, body: bytes) -> None:
    sent = await call(GZipMiddleware(app_with(body, headers=extra), brotli=False), accept, method)
    assert sent[-1]["body"] == body
    assert header(sent[0], b"content-encoding") in (None, b"br")
    assert header(sent[0], b"content-length") == str(len(body)).encode()


async def test_event_stream_is_not_compressed() -> None:
    async def sse(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        await send({"type": "http.response.body", "body": b"data: x\n\n" * 100, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    sent = await call(GZipMiddleware(sse), "gzip")
    assert header(sent[0], b"content-encoding") is None
    assert sent[1]["body"] == b"data: x\n\n" * 100


@pytest.mark.parametrize("encoding", ["gzip", "br"])
async def test_streaming_is_compressed_incrementally(encoding: str) -> None:
    sent = await call(GZipMiddleware(app_with(BIG, chunks=4)), encoding)
    start, *bodies = sent
    assert header(start, b"content-encoding") == encoding.encode()
    assert header(start, b"content-length") is None
    assert len(bodies) == 5  # four data chunks and the final one; the empty lead is dropped
    assert all(b["more_body"] for b in bodies[:-1])
    assert not bodies[-1]["more_body"]
    if encoding == "gzip":
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        # each flushed chunk decodes on its own, in order
        first = d.decompress(bodies[0]["body"])
        assert first == BIG[: len(first)]
        assert first
        rest = b"".join(d.decompress(b["body"]) for b in bodies[1:])
        assert first + rest == BIG
    else:
        assert brotli.decompress(b"".join(b["body"] for b in bodies)) == BIG


async def test_small_stream_end_still_sends_uncompressed() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    sent = await call(GZipMiddleware(app), "gzip")
    assert sent[0]["headers"] == []
    assert sent[1]["body"] == b""


async def test_no_body_statuses_pass_through() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", b'"x"')]})
        await send({"type": "http.response.body", "body": b""})

    sent = await call(GZipMiddleware(app), "gzip")
    assert sent[0]["headers"] == [(b"etag", b'"x"')]


def test_parse_accept_encoding() -> None:
    assert parse_accept_encoding("gzip;q=0.8, BR, *;q=0.1, x;q=abc, y;q=7") == {
        "gzip": 0.8,
        "br": 1.0,
        "*": 0.1,
        "x": 0.0,
        "y": 0.0,
    }
    assert choose_encoding("*", True) == "br"
    assert choose_encoding("*", False) == "gzip"
    assert choose_encoding("*;q=0.5, gzip;q=0", True) == "br"
    assert choose_encoding("deflate", True) is None


@given(st.text(max_size=200))
def test_choose_encoding_never_fails(value: str) -> None:
    assert choose_encoding(value, True) in (None, "br", "gzip")


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="compresslevel"):
        GZipMiddleware(app_with(b""), compresslevel=0)
    with pytest.raises(ValueError, match="minimum_size"):
        GZipMiddleware(app_with(b""), minimum_size=-1)


async def test_incompressible_body_is_sent_as_is() -> None:
    rng = random.Random(7)
    noise = bytes(rng.getrandbits(8) for _ in range(2000))
    sent = await call(GZipMiddleware(app_with(noise), brotli=False), "gzip")
    assert header(sent[0], b"content-encoding") is None
    assert sent[1]["body"] == noise
