from __future__ import annotations

import html

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from celeris import App
from celeris.core import errors
from celeris.core.errors import (
    BadRequest,
    HTTPError,
    MethodNotAllowed,
    NotFound,
    RequestValidationError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from celeris.testing import TestClient


def test_http_error_problem_defaults() -> None:
    err = HTTPError(404, "No such item")
    assert str(err) == "No such item"
    assert err.to_problem() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "No such item",
    }
    resp = err.to_response()
    assert resp.status_code == 404
    assert resp.headers["content-type"] == "application/problem+json"
    assert msgspec.json.decode(resp.body)["detail"] == "No such item"
    assert resp.headers["content-length"] == str(len(resp.body))


def test_custom_title_type_extra_and_headers() -> None:
    err = HTTPError(
        409,
        "taken",
        {"X-Why": "dup"},
        title="Duplicate",
        type="https://example.com/probs/dup",
        extra={"field": "email", "status": 1},
    )
    problem = err.to_problem()
    assert problem["title"] == "Duplicate"
    assert problem["type"].endswith("/dup")
    assert problem["field"] == "email"
    assert problem["status"] == 409
    assert err.to_response().headers["x-why"] == "dup"


def test_no_detail_omits_member() -> None:
    assert "detail" not in HTTPError(500).to_problem()
    assert str(HTTPError(500)) == "Internal Server Error"


@pytest.mark.parametrize(
    ("cls", "code"),
    [
        (errors.BadRequest, 400),
        (errors.Unauthorized, 401),
        (errors.Forbidden, 403),
        (errors.NotFound, 404),
        (errors.MethodNotAllowed, 405),
        (errors.NotAcceptable, 406),
        (errors.Conflict, 409),
        (errors.Gone, 410),
        (errors.PayloadTooLarge, 413),
        (errors.UnsupportedMediaType, 415),
        (errors.UnprocessableEntity, 422),
        (errors.TooManyRequests, 429),
        (errors.InternalServerError, 500),
        (errors.ServiceUnavailable, 503),
    ],
)
def test_subclasses(cls: type[HTTPError], code: int) -> None:
    err = cls("why")  # type: ignore[call-arg]
    assert isinstance(err, HTTPError)
    assert err.status_code == code
    assert err.detail == "why"
    assert err.to_response().status_code == code


def test_allow_and_retry_after_helpers() -> None:
    assert MethodNotAllowed(allow=["GET", "HEAD"]).to_response().headers["allow"] == "GET, HEAD"
    assert TooManyRequests(retry_after=30).headers == {"retry-after": "30"}
    assert ServiceUnavailable(retry_after=5).to_response().headers["retry-after"] == "5"
    assert (
        Unauthorized(headers={"WWW-Authenticate": "Bearer"})
        .to_response()
        .headers["www-authenticate"]
        == "Bearer"
    )


def test_request_validation_error() -> None:
    errs = [
        {"loc": ["query", "limit"], "msg": "Expected `int`", "type": "int_parsing"},
        {"loc": ["body", "name"], "msg": "Field required", "type": "missing"},
    ]
    err = RequestValidationError(errs)
    assert err.status_code == 422
    assert err.errors == errs
    body = msgspec.json.decode(err.to_response().body)
    assert body["status"] == 422
    assert body["errors"] == errs
    assert body["detail"] == "query.limit: Expected `int` (and 1 more)"
    assert err.to_response().headers["content-type"] == "application/problem+json"


def test_bad_status_codes() -> None:
    with pytest.raises(ValueError, match="between 100 and 599"):
        HTTPError(99)
    with pytest.raises(TypeError, match="int"):
        HTTPError("404")  # type: ignore[arg-type]


def test_catchable_as_specific_class() -> None:
    with pytest.raises(NotFound):
        raise NotFound()
    assert repr(BadRequest("x")) == "BadRequest(status_code=400, detail='x')"


# --- HTML error pages for browsers; problem+json stays the default ------------------------


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),  # a browser
        ("text/html", True),
        ("application/json", False),
        ("*/*", False),
        (None, False),
        ("", False),
        ("text/html, application/json", False),  # a tie: JSON
        ("application/json;q=0.5, text/html", True),
        ("text/html;q=0, */*", False),
        ("text/html;q=abc", False),
        ("text/html;q=nan", False),
        ("text/html;q=inf, application/json", False),
        ("application/problem+json, text/html;q=0.9", False),
    ],
)
def test_prefers_html(accept: str | None, html: bool) -> None:
    assert errors.prefers_html(accept) is html


def test_browsers_get_html_error_pages_and_apis_problem_json() -> None:
    app = App(openapi_url=None)

    @app.get("/items")
    async def items(limit: int = 10) -> dict[str, int]:
        return {"limit": limit}

    @app.get("/teapot")
    async def teapot() -> str:
        raise HTTPError(418, "<script>alert(1)</script>", headers={"X-Why": "tea"})

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("do not show this")

    browser = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/nowhere", headers=browser)
        assert r.status_code == 404
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert r.headers["vary"] == "Accept"
        assert "<h1>404 Not Found</h1>" in r.text
        assert "No route for /nowhere" in r.text
        r = client.get("/teapot", headers=browser)
        assert r.status_code == 418
        assert r.headers["x-why"] == "tea"
        assert "&lt;script&gt;" in r.text
        assert "<script>" not in r.text
        r = client.get("/items?limit=abc", headers=browser)
        assert r.status_code == 422
        assert "<code>query.limit</code> must be an integer" in r.text
        r = client.post("/items", headers=browser)
        assert (r.status_code, r.headers["allow"]) == (405, "GET, HEAD, OPTIONS")
        r = client.get("/boom", headers=browser)
        assert r.status_code == 500
        assert "500 Internal Server Error" in r.text
        assert "do not show" not in r.text
        for accept in ({}, {"accept": "application/json"}, {"accept": "*/*"}):
            r = client.get("/nowhere", headers=accept)
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["status"] == 404


@given(accept=st.text(max_size=200), detail=st.text(max_size=200))
def test_any_accept_and_detail_give_a_safe_answer(accept: str, detail: str) -> None:
    assert errors.prefers_html(accept) in (True, False)
    page = HTTPError(400, detail or None).to_response("text/html").body.decode()
    if detail:
        assert f"<p>{html.escape(detail)}</p>" in page
    assert "<script" not in page
