"""celeris.core._fast: the compiled extractors and response maker behave as the code they replace."""

from __future__ import annotations

import os
from typing import Annotated, Any

import pytest

from celeris import App, Header, Path, Request, Response
from celeris.core import _fast
from celeris.core._fast import HeaderExtractor, PathExtractor, parts_response
from celeris.core.params import MISSING
from celeris.core.validation import ValidationFailure, identity, text_converter
from celeris.testing import TestClient
from celeris.types import CheckedHeader

from .test_app import FakeConn


def _slots(cls: type) -> list[str]:
    return [name for klass in cls.__mro__ for name in getattr(klass, "__slots__", ())]


def test_the_module_is_compiled_in_the_compiled_build() -> None:
    compiled = not _fast.__file__.endswith(".py")
    assert compiled is (os.environ.get("CELERIS_EXPECT_COMPILED") == "1")


def test_parts_response_sets_every_slot_as_of_parts_does() -> None:
    headers: list[Any] = [CheckedHeader((b"content-type", b"text/plain; charset=utf-8"))]
    made = parts_response(201, headers, b"hi", "text/plain")
    expected = Response.of_parts(201, list(headers), b"hi", "text/plain")
    assert type(made) is Response
    assert made.raw_headers is headers
    for name in _slots(Response):
        assert getattr(made, name) == getattr(expected, name), name
    made.headers["x-a"] = "1"  # the MutableHeaders view writes through to the raw list
    assert headers[-1] == (b"x-a", b"1")


def test_header_extractor_reads_the_first_value_of_a_request_or_websocket() -> None:
    conn = FakeConn("GET", "/")
    conn.headers = [(b"host", b"t"), (b"x-n", b"7"), (b"x-n", b"8")]
    request = Request(conn)
    as_text = HeaderExtractor(b"x-n", identity, True)
    as_int = HeaderExtractor(b"x-n", text_converter(int, ["header", "x-n"]), False)
    assert as_text(request, {}) == "7"
    assert as_int(request, {}) == 7
    assert HeaderExtractor(b"x-none", identity, True)(request, {}) is MISSING

    class Other:  # a WebSocket's headers: a Headers object with .raw
        headers = request.headers

    assert as_int(Other(), {}) == 7
    bad = HeaderExtractor(b"host", text_converter(int, ["header", "host"]), False)
    with pytest.raises(ValidationFailure):
        bad(request, {})


def test_path_extractor_converts_unless_identity() -> None:
    as_int = PathExtractor("n", text_converter(int, ["path", "n"]), False)
    assert as_int(None, {"n": "3"}) == 3
    assert as_int(None, {}) is MISSING
    assert PathExtractor("n", identity, True)(None, {"n": "3"}) == "3"


def test_header_and_path_parameters_through_an_app() -> None:
    app = App()

    @app.get("/items/{n}")
    async def item(
        n: Annotated[int, Path()],
        agent: Annotated[str, Header()] = "",
        count: Annotated[int | None, Header(alias="x-count")] = None,
    ) -> dict[str, Any]:
        return {"n": n, "agent": agent, "count": count}

    with TestClient(app) as client:
        ok = client.get("/items/4", headers={"agent": "a", "x-count": "2"})
        assert ok.json() == {"n": 4, "agent": "a", "count": 2}
        assert client.get("/items/4").json() == {"n": 4, "agent": "", "count": None}
        bad = client.get("/items/4", headers={"x-count": "two"})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["loc"] == ["header", "x-count"]
        assert client.get("/items/x").status_code == 422
