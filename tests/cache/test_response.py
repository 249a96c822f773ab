"""Whole-response caching: hits, ETag/304, Vary, no-cache, and nothing private is shared."""

from __future__ import annotations

import msgspec
import pytest

from celeris import App, JSONResponse, Request, Response, Router, StreamingResponse
from celeris.cache import Cache
from celeris.testing import AsyncTestClient


class Page(msgspec.Struct):
    n: int
    lang: str


def _app(cache: Cache) -> tuple[App, list[str]]:
    app = App()
    calls: list[str] = []

    @app.get("/page/{slug}")
    @cache.response(ttl=60, vary=["Accept-Language"])
    async def page(slug: str, request: Request, q: int = 0) -> Page:
        calls.append(slug)
        return Page(len(calls), request.headers.get("accept-language", "-"))

    @app.get("/text")
    @cache.response(ttl=60)
    async def text() -> str:
        calls.append("text")
        return f"call {len(calls)}"

    @app.get("/cookie")
    @cache.response(ttl=60)
    async def cookie() -> Response:
        calls.append("cookie")
        response = Response("hi")
        response.set_cookie("session", "abc")
        return response

    @app.get("/explicit")
    @cache.response(ttl=60)
    async def explicit() -> JSONResponse:
        calls.append("explicit")
        return JSONResponse({"calls": len(calls)}, headers={"x-made": "here"})

    @app.get("/stream")
    @cache.response(ttl=60)
    async def stream() -> StreamingResponse:
        calls.append("stream")

        async def parts():
            yield b"a"

        return StreamingResponse(parts())

    @app.get("/missing")
    @cache.response(ttl=60)
    async def missing() -> Response:
        calls.append("missing")
        return Response("no", status_code=404)

    return app, calls


async def test_hit_miss_vary_and_query(cache: Cache) -> None:
    app, calls = _app(cache)
    async with AsyncTestClient(app) as client:
        first = await client.get("/page/a", headers={"accept-language": "en"})
        assert first.json() == {"n": 1, "lang": "en"}
        assert first.headers["content-type"] == "application/json"
        assert first.headers["vary"] == "accept-language"
        again = await client.get("/page/a", headers={"accept-language": "en"})
        assert again.json() == {"n": 1, "lang": "en"}  # cached
        assert again.headers["etag"] == first.headers["etag"]
        assert (await client.get("/page/a", headers={"accept-language": "fr"})).json()["n"] == 2
        assert (await client.get("/page/a?q=1", headers={"accept-language": "en"})).json()["n"] == 3
        assert (await client.get("/page/b", headers={"accept-language": "en"})).json()["n"] == 4
        assert calls == ["a", "a", "a", "b"]
        assert (await client.get("/text")).text == "call 5"
        assert (await client.get("/text")).text == "call 5"


async def test_response_objects(cache: Cache) -> None:
    app, calls = _app(cache)
    async with AsyncTestClient(app) as client:
        for _ in range(2):
            response = await client.get("/explicit")
            assert response.json() == {"calls": 1}  # cached with its headers
            assert response.headers["x-made"] == "here"
            assert response.headers["content-type"] == "application/json"
            assert (await client.get("/stream")).content == b"a"
        assert calls == ["explicit", "stream", "stream"]  # a stream is never stored


async def test_etag_304(cache: Cache) -> None:
    app, calls = _app(cache)
    async with AsyncTestClient(app) as client:
        etag = (await client.get("/text")).headers["etag"]
        response = await client.get("/text", headers={"if-none-match": etag})
        assert response.status_code == 304
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert (await client.get("/text", headers={"if-none-match": '"other"'})).status_code == 200
        assert calls == ["text"]


async def test_client_no_cache_recomputes(cache: Cache) -> None:
    app, calls = _app(cache)
    async with AsyncTestClient(app) as client:
        assert (await client.get("/text")).text == "call 1"
        assert (await client.get("/text", headers={"cache-control": "no-cache"})).text == "call 2"
        assert (await client.get("/text")).text == "call 2"  # the fresh copy was stored


async def test_private_responses_never_shared(cache: Cache) -> None:
    app, calls = _app(cache)
    async with AsyncTestClient(app) as client:
        for _ in range(2):
            assert (await client.get("/cookie")).headers["set-cookie"].startswith("session=")
        assert (await client.get("/missing")).status_code == 404
        assert (await client.get("/missing")).status_code == 404
        client.cookies.clear()
        await client.get("/text", headers={"authorization": "Bearer u1"})
        await client.get("/text", headers={"authorization": "Bearer u2"})
        await client.get("/text", headers={"cookie": "session=u3"})
        assert calls == ["cookie", "cookie", "missing", "missing", "text", "text", "text"]


async def test_per_user_when_keyed_on_the_cookie(cache: Cache) -> None:
    app = App()
    calls = 0

    @app.get("/me")
    @cache.response(ttl=60, vary=["Cookie"])
    async def me(request: Request) -> dict[str, str]:
        nonlocal calls
        calls += 1
        return {"cookie": request.headers.get("cookie", "")}

    async with AsyncTestClient(app) as client:
        for who in ("a", "b", "a", "b"):
            response = await client.get("/me", headers={"cookie": f"u={who}"})
            assert response.json() == {"cookie": f"u={who}"}
        assert calls == 2


async def test_signature_and_openapi_unchanged(cache: Cache) -> None:
    app, _ = _app(cache)
    async with AsyncTestClient(app) as client:
        assert (await client.get("/page/a?q=x")).status_code == 422  # still validated
        spec = (await client.get("/openapi.json")).json()
    params = {p["name"] for p in spec["paths"]["/page/{slug}"]["get"]["parameters"]}
    assert params == {"slug", "q"}  # the cache's own Request parameter is not documented


async def test_the_cache_route_option_is_the_decorator(cache: Cache) -> None:
    # BATTERIES.md's form: @app.get(..., cache=cache.response(...)) on App and Router routes.
    app = App()
    router = Router(prefix="/r")
    calls: list[str] = []

    @app.get("/report", cache=cache.response(ttl=30, vary=["Accept-Language"]))
    async def report(request: Request) -> dict[str, int | str]:
        calls.append("report")
        return {"n": len(calls), "lang": request.headers.get("accept-language", "-")}

    @router.get("/item/{n}", cache=cache.response(ttl=30))
    async def item(n: int) -> dict[str, int]:
        calls.append(f"item{n}")
        return {"n": n}

    app.include_router(router)
    async with AsyncTestClient(app) as client:
        first = await client.get("/report", headers={"accept-language": "en"})
        again = await client.get("/report", headers={"accept-language": "en"})
        assert first.json() == again.json() == {"n": 1, "lang": "en"}
        assert (
            await client.get(
                "/report", headers={"if-none-match": first.headers["etag"], "accept-language": "en"}
            )
        ).status_code == 304
        assert (await client.get("/r/item/7")).json() == {"n": 7}
        assert (await client.get("/r/item/7")).json() == {"n": 7}
        assert (await client.get("/r/item/x")).status_code == 422
        spec = (await client.get("/openapi.json")).json()
    assert calls == ["report", "item7"]
    assert spec["paths"]["/r/item/{n}"]["get"]["operationId"]


def test_the_cache_route_option_refuses_what_is_not_a_response_cache() -> None:
    app = App()
    with pytest.raises(TypeError, match="cache.response"):
        app.add_route("/x", lambda: "x", cache="yes")  # type: ignore[typeddict-item]
