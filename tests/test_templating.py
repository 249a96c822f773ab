from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from celeris import App, HTTPError
from celeris.templating import TemplateNotFoundError, Templates
from celeris.testing import TestClient


@pytest.fixture
def templates(tmp_path: Path) -> Templates:
    (tmp_path / "page.html").write_text("<p>{{ x }}</p>{% if extra %}{{ extra }}{% endif %}")
    (tmp_path / "base.html").write_text("<main>{% block body %}{% endblock %}</main>")
    (tmp_path / "child.html").write_text(
        '{% extends "base.html" %}{% block body %}{{ name | shout }}{% endblock %}'
    )
    (tmp_path / "broken.html").write_text('{% include "gone.html" %}')
    (tmp_path / "link.html").write_text('{{ url_for("item", id=3) }}')
    (tmp_path / "aw.html").write_text("{{ fetch() }}")
    return Templates(tmp_path)


def test_render_autoescapes(templates: Templates) -> None:
    r = templates.render("page.html", {"x": "<script>"})
    assert r.status_code == 200
    assert r.body == b"<p>&lt;script&gt;</p>"
    assert r.headers["content-type"] == "text/html; charset=utf-8"


def test_render_options(templates: Templates) -> None:
    r = templates.render(
        "page.html", {"x": 1}, status_code=201, headers={"x-a": "b"}, media_type="text/plain"
    )
    assert r.status_code == 201
    assert r.headers["x-a"] == "b"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"


def test_autoescape_off(tmp_path: Path) -> None:
    (tmp_path / "t.txt").write_text("{{ x }}")
    assert Templates(tmp_path, autoescape=False).render("t.txt", {"x": "<b>"}).body == b"<b>"


def test_env_filters_and_inheritance(templates: Templates) -> None:
    templates.env.filters["shout"] = lambda s: str(s).upper()
    assert templates.render("child.html", {"name": "hi"}).body == b"<main>HI</main>"


async def test_render_async_shares_filters(templates: Templates) -> None:
    templates.env.filters["shout"] = lambda s: str(s).upper()

    async def fetch() -> str:
        return "<fetched>"

    r = await templates.render_async("aw.html", {"fetch": fetch})
    assert r.body == b"&lt;fetched&gt;"
    r = await templates.render_async("child.html", {"name": "yo"})
    assert r.body == b"<main>YO</main>"


def test_context_processors(tmp_path: Path) -> None:
    (tmp_path / "t.html").write_text("{{ site }} {{ x }} {{ who }}")

    def proc(request: Any) -> dict[str, Any]:
        return {"site": "celeris", "x": "ignored", "who": request}

    t = Templates(tmp_path, context_processors=[proc])
    assert t.render("t.html", {"x": 1, "request": "req"}).body == b"celeris 1 req"


def test_url_for_uses_request(templates: Templates) -> None:
    class Req:
        def url_for(self, name: str, **params: Any) -> str:
            return f"/{name}s/{params['id']}"

    assert templates.render("link.html", {"request": Req()}).body == b"/items/3"
    with pytest.raises(RuntimeError, match="request"):
        templates.render("link.html")


def test_missing_template_is_clear(templates: Templates) -> None:
    with pytest.raises(TemplateNotFoundError, match="'nope.html' not found"):
        templates.render("nope.html")
    with pytest.raises(TemplateNotFoundError, match="gone.html"):
        templates.render("broken.html")


async def test_missing_template_async(templates: Templates) -> None:
    with pytest.raises(TemplateNotFoundError, match="nope"):
        await templates.render_async("nope.html")


def test_multiple_directories(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (b / "only_b.html").write_text("b")
    assert Templates([a, b]).render_string("only_b.html") == "b"


def test_template_response_spellings(templates: Templates) -> None:
    r = templates.TemplateResponse(object(), "page.html", {"x": 1})
    assert r.body == b"<p>1</p>"
    r = templates.TemplateResponse("page.html", {"x": 2, "request": None}, status_code=202)
    assert r.body == b"<p>2</p>"
    assert r.status_code == 202
    with pytest.raises(TypeError, match="name must be a str"):
        templates.TemplateResponse(object(), {"x": 1})


def test_error_handler_renders_error_templates_for_browsers(tmp_path: Path) -> None:
    (tmp_path / "errors").mkdir()
    (tmp_path / "errors" / "404.html").write_text("<h1>Lost: {{ detail }}</h1>")
    (tmp_path / "error.html").write_text("<h1>{{ status_code }} {{ title }}</h1>{{ detail }}")
    pages = Templates(tmp_path).error_handler()
    app = App(openapi_url=None, exception_handlers={HTTPError: pages, 500: pages})

    @app.get("/gone")
    async def gone() -> str:
        raise HTTPError(410, "<b>moved</b>")

    @app.get("/boom")
    async def boom() -> str:
        raise RuntimeError("secret detail")

    browser = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.get("/nowhere", headers=browser)
        assert (r.status_code, r.text) == (404, "<h1>Lost: No route for /nowhere</h1>")
        r = client.get("/gone", headers=browser)
        assert (r.status_code, r.text) == (410, "<h1>410 Gone</h1>&lt;b&gt;moved&lt;/b&gt;")
        r = client.get("/boom", headers=browser)
        assert r.status_code == 500
        assert r.text == "<h1>500 Internal Server Error</h1>None"
        r = client.post("/gone", headers=browser)
        assert r.status_code == 405
        assert r.headers["allow"] == "GET, HEAD, OPTIONS"
        api = client.get("/nowhere")
        assert api.headers["content-type"] == "application/problem+json"


def test_error_handler_falls_back_to_the_builtin_page(tmp_path: Path) -> None:
    app = App(openapi_url=None, exception_handlers={HTTPError: Templates(tmp_path).error_handler()})
    with TestClient(app) as client:
        r = client.get("/nowhere", headers={"accept": "text/html"})
        assert r.status_code == 404
        assert "<h1>404 Not Found</h1>" in r.text
