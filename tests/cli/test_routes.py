from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from celeris.cli.routes import format_table, route_rows, routes, routes_of

# A Starlette-shaped app: objects with path/methods/name/endpoint, mounts with .app.
APP_SOURCE = """
class Route:
    def __init__(self, path, endpoint, methods=None, name=None):
        self.path, self.endpoint, self.methods = path, endpoint, methods
        self.name = name or endpoint.__name__

class WebSocketRoute:
    def __init__(self, path, endpoint):
        self.path, self.endpoint, self.name = path, endpoint, endpoint.__name__

class Mount:
    def __init__(self, path, app, name=None):
        self.path, self.app, self.name = path, app, name

class App:
    def __init__(self, routes):
        self.routes = routes
    async def __call__(self, scope, receive, send):
        pass

class Wrapper:  # a middleware around the app
    def __init__(self, app):
        self.app = app
    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)

async def index(): ...
async def create_item(): ...
async def chat(): ...
async def raw_asgi(scope, receive, send): ...

class Items:
    async def list(self): ...

api = App([Route("/items", Items.list, {"GET", "HEAD"}, name="items")])
app = App([
    Route("/", index, {"GET"}),
    Route("/items", create_item, {"POST"}),
    WebSocketRoute("/ws", chat),
    Mount("/api", api),
    Mount("/raw", raw_asgi, name="raw"),
])
wrapped = Wrapper(app)
empty = App([])

def make_app():
    return app
"""


@pytest.fixture
def mod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    name = f"cli_routes_app_{os.getpid()}"
    (tmp_path / f"{name}.py").write_text(APP_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


def test_table(mod: str) -> None:
    result = CliRunner().invoke(routes, [f"{mod}:app"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["METHODS", "PATH", "NAME", "HANDLER"]
    assert lines[1].split() == ["GET", "/", "index", f"{mod}.index"]
    assert lines[2].split() == ["POST", "/items", "create_item", f"{mod}.create_item"]
    assert lines[3].split() == ["WS", "/ws", "chat", f"{mod}.chat"]
    assert lines[4].split() == ["GET,HEAD", "/api/items", "items", f"{mod}.Items.list"]
    assert lines[5].split() == ["*", "/raw", "raw", f"{mod}.raw_asgi"]
    # aligned: every column starts at the same offset on every line
    for column in ("PATH", "NAME", "HANDLER"):
        offset = lines[0].index(column)
        assert all(line[offset - 2 : offset] == "  " and line[offset] != " " for line in lines[1:])


def test_json(mod: str) -> None:
    result = CliRunner().invoke(routes, [f"{mod}:wrapped", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert rows[0] == {"methods": ["GET"], "path": "/", "name": "index", "handler": f"{mod}.index"}
    assert [r["path"] for r in rows] == ["/", "/items", "/ws", "/api/items", "/raw"]


def test_factory_and_empty(mod: str) -> None:
    result = CliRunner().invoke(routes, [f"{mod}:make_app", "--factory", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)) == 5
    result = CliRunner().invoke(routes, [f"{mod}:empty"])
    assert result.output == "No routes.\n"
    result = CliRunner().invoke(routes, [f"{mod}:empty", "--json"])
    assert json.loads(result.output) == []


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("{mod}:raw_asgi", "has no route table"),
        ("{mod}:nothing", 'Attribute "nothing" not found'),
        ("no_such_module_abc:app", "no_such_module_abc"),
        ("bad target", "must look like MODULE:ATTR"),
    ],
)
def test_errors_are_one_line(mod: str, target: str, message: str) -> None:
    result = CliRunner().invoke(routes, [target.format(mod=mod)])
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.startswith("Error: ")
    assert result.output.count("\n") == 1


def test_routes_of_plain_function_is_none() -> None:
    async def app(scope, receive, send): ...

    assert routes_of(app) is None
    assert route_rows(app) == []


def test_format_table_pads_columns() -> None:
    rows = [
        {"methods": ["GET"], "path": "/a-long-path", "name": "n", "handler": "m.f"},
        {"methods": ["DELETE", "PUT"], "path": "/", "name": "longer_name", "handler": "m.g"},
    ]
    assert format_table(rows).splitlines() == [
        "METHODS     PATH          NAME         HANDLER",
        "GET         /a-long-path  n            m.f",
        "DELETE,PUT  /             longer_name  m.g",
    ]


CELERIS_APP = """
from celeris import App, Router

app = App()

@app.get("/")
async def index() -> str:
    return "hi"

@app.route("/items/{item_id:int}", methods=["GET", "PUT"], name="item")
async def item(item_id: int) -> dict:
    return {}

@app.websocket("/ws")
async def live(ws) -> None: ...

api = Router(prefix="/api")

@api.post("/things")
async def make_thing() -> dict:
    return {}

app.include_router(api)
sub = App()

@sub.get("/x")
async def sub_x() -> str:
    return "x"

app.mount("/sub", sub)
"""


def test_celeris_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cli_routes_celeris_app.py").write_text(CELERIS_APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    result = CliRunner().invoke(routes, ["cli_routes_celeris_app:app", "--json"])
    sys.modules.pop("cli_routes_celeris_app", None)
    assert result.exit_code == 0, result.output
    rows = {
        (tuple(r["methods"]), r["path"], r["name"], r["handler"]) for r in json.loads(result.output)
    }
    m = "cli_routes_celeris_app"
    assert rows == {
        (("GET",), "/", "index", f"{m}.index"),
        (("GET", "PUT"), "/items/{item_id:int}", "item", f"{m}.item"),
        (("WS",), "/ws", "live", f"{m}.live"),
        (("POST",), "/api/things", "make_thing", f"{m}.make_thing"),
        (("GET",), "/sub/x", "sub_x", f"{m}.sub_x"),
    }
