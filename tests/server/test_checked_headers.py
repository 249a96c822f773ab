"""CheckedHeader: pairs checked once when made skip the server's CR/LF scan; others do not."""

from __future__ import annotations

import pytest

from celeris import App, Request, Response
from celeris.core.pipeline import Step
from celeris.middleware import RequestIDMiddleware
from celeris.types import CheckedHeader, Receive, Scope, Send

from .support import raw, serving, status_of

GET = b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"


@pytest.mark.parametrize(
    "pair",
    [
        (b"x-a", b"1\r\nSet-Cookie: evil=1"),
        (b"x-a", b"1\nx"),
        (b"x-a", b"1\rx"),
        (b"x-a\r\nx", b"1"),
    ],
)
def test_a_checked_header_refuses_cr_and_lf(pair: tuple[bytes, bytes]) -> None:
    with pytest.raises(ValueError, match="CR or LF"):
        CheckedHeader(pair)


def test_a_checked_header_is_the_pair_it_was_made_of() -> None:
    pair = CheckedHeader((b"x-frame-options", b"DENY"))
    assert pair == (b"x-frame-options", b"DENY")
    assert tuple(pair) == (b"x-frame-options", b"DENY")
    with pytest.raises(TypeError):
        CheckedHeader(("x-a", b"1"))  # type: ignore[arg-type]


class _Framing(Step):
    headers = (("X-Frame-Options", "DENY"),)


async def test_an_unchecked_header_with_crlf_is_refused_next_to_checked_ones() -> None:
    app = App(openapi_url=None)
    app.add_step(_Framing())

    @app.after_request
    async def smuggle(response: Response) -> None:
        response.raw_headers.append((b"x-a", b"1\r\nSet-Cookie: evil=1"))

    @app.get("/")
    async def index() -> str:
        return "ok"

    async with serving(app) as (_, port):
        response = await raw(port, GET)
    assert status_of(response) == 500
    assert b"evil" not in response


async def test_the_constant_headers_of_a_step_are_sent_unscanned_and_intact() -> None:
    app = App(openapi_url=None)
    app.add_step(_Framing())
    app.add_middleware(RequestIDMiddleware, generator=lambda: "id-1")

    @app.get("/")
    async def index() -> str:
        return "ok"

    async with serving(app) as (_, port):
        response = await raw(port, GET)
    assert status_of(response) == 200
    assert b"\r\nx-frame-options: DENY\r\n" in response
    assert b"\r\nx-request-id: id-1\r\n" in response


async def test_a_request_id_holding_crlf_is_refused() -> None:
    app = App(openapi_url=None)
    app.add_middleware(RequestIDMiddleware, generator=lambda: "1\r\nSet-Cookie: evil=1")

    @app.get("/")
    async def index(request: Request) -> str:
        return "ok"

    async with serving(app) as (_, port):
        response = await raw(port, GET)
    assert status_of(response) == 500
    assert b"evil" not in response


async def test_an_asgi_response_mixing_checked_and_unchecked_headers_is_scanned() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = [CheckedHeader((b"x-ok", b"1")), (b"x-a", b"1\r\nSet-Cookie: evil=1")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"x"})

    async with serving(app) as (_, port):
        response = await raw(port, GET)
    assert status_of(response) == 500
    assert b"evil" not in response
