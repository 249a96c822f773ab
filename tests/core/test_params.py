"""Parameter markers and binding from path, query, headers, cookies, body, form, files."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Annotated, Any, TypedDict
from urllib.parse import quote

import msgspec
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from celeris import (
    App,
    BackgroundTasks,
    Body,
    Cookie,
    File,
    Form,
    Header,
    Path,
    Query,
    Request,
    UploadFile,
)
from celeris.core.params import MISSING, Dependency, Param, Source
from celeris.testing import TestClient


class Item(msgspec.Struct):
    name: str
    price: float


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


def test_markers_are_plain_data() -> None:
    q = Query(5, alias="n", description="count")
    assert isinstance(q, Param)
    assert q.source is Source.QUERY
    assert q.default == 5
    assert q.alias == "n"
    assert Query().default is MISSING
    assert Query(...).default is MISSING
    assert "Query" in repr(q)
    h = Header(convert_underscores=False)
    assert h.source is Source.HEADER
    assert h.convert_underscores is False
    assert Body(embed=True).embed is True
    assert isinstance(Path(), Param)
    assert isinstance(Cookie(), Param)
    assert Form().source is Source.FORM
    assert File().source is Source.FILE
    assert not MISSING
    assert repr(MISSING) == "MISSING"


def test_depends_needs_a_callable() -> None:
    with pytest.raises(TypeError):
        Dependency(42)  # type: ignore[arg-type]


@pytest.fixture
def app() -> App:
    app = App()

    @app.get("/path/{a}/{b:int}/{u:uuid}")
    async def path(a: str, b: Annotated[int, Path()], u: uuid.UUID) -> dict[str, Any]:
        return {"a": a, "b": b, "u": str(u)}

    @app.get("/typed/{n}")
    async def typed(n: int) -> int:
        return n

    @app.get("/query")
    async def query(
        n: int,
        flag: bool = False,
        tags: list[str] = Query([]),
        nums: Annotated[list[int], Query(alias="num")] = [],  # noqa: B006
        opt: float | None = None,
    ) -> dict[str, Any]:
        return {"n": n, "flag": flag, "tags": tags, "nums": nums, "opt": opt}

    @app.get("/headers")
    async def headers(
        x_token: Annotated[str, Header()],
        user_agent: str = Header("none"),
        raw_name: str = Header("-", convert_underscores=False),
        multi: Annotated[list[str], Header(alias="X-Multi")] = [],  # noqa: B006
    ) -> dict[str, Any]:
        return {"token": x_token, "ua": user_agent, "raw": raw_name, "multi": multi}

    @app.get("/cookies")
    async def cookies(
        session: Annotated[str, Cookie()], theme: str = Cookie("light")
    ) -> dict[str, str]:
        return {"session": session, "theme": theme}

    @app.post("/struct")
    async def struct(item: Item) -> Item:
        return item

    @app.post("/dataclass")
    async def dc(point: Point) -> dict[str, int]:
        return {"sum": point.x + point.y}

    @app.post("/typeddict")
    async def td(movie: Movie) -> Movie:
        return movie

    @app.post("/list")
    async def many(items: list[Item]) -> int:
        return len(items)

    @app.post("/raw")
    async def raw(data: bytes) -> bytes:
        return data[::-1]

    @app.post("/dict")
    async def anydict(data: dict[str, Any]) -> dict[str, Any]:
        return {"keys": sorted(data)}

    @app.post("/embed")
    async def embed(item: Annotated[Item, Body()], count: Annotated[int, Body()]) -> dict[str, Any]:
        return {"name": item.name, "count": count}

    @app.post("/single-embed")
    async def single_embed(count: int = Body(embed=True)) -> int:
        return count

    @app.post("/optional-body")
    async def optional_body(item: Item | None = None) -> str:
        return "none" if item is None else item.name

    @app.post("/form")
    async def form(
        name: Annotated[str, Form()], age: int = Form(0), tags: list[str] = Form([])
    ) -> dict[str, Any]:
        return {"name": name, "age": age, "tags": tags}

    @app.post("/upload")
    async def upload(file: UploadFile, note: str = Form("")) -> dict[str, Any]:
        data = await file.read()
        return {"filename": file.filename, "size": len(data), "note": note}

    @app.post("/upload-bytes")
    async def upload_bytes(file: Annotated[bytes, File()]) -> int:
        return len(file)

    @app.post("/uploads")
    async def uploads(files: list[UploadFile]) -> list[str]:
        return [f.filename or "" for f in files]

    @app.get("/special")
    async def special(request: Request, tasks: BackgroundTasks) -> dict[str, Any]:
        return {"method": request.method, "tasks": len(tasks)}

    return app


@pytest.fixture
def client(app: App) -> TestClient:
    return TestClient(app)


def test_path_params_typed(client: TestClient) -> None:
    u = uuid.uuid4()
    assert client.get(f"/path/x/3/{u}").json() == {"a": "x", "b": 3, "u": str(u)}


def test_path_annotation_failure_is_422(client: TestClient) -> None:
    r = client.get("/typed/abc")
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["path", "n"]


def test_path_marker_for_unknown_param_fails_at_startup() -> None:
    app = App()

    @app.get("/x")
    async def bad(y: int = Path()) -> int:
        return y

    with pytest.raises(TypeError, match="not in the route path"):
        app.build_middleware_stack()


def test_query_params_types_lists_aliases(client: TestClient) -> None:
    r = client.get(
        "/query",
        params=[
            ("n", "1"),
            ("flag", "true"),
            ("tags", "a"),
            ("tags", "b"),
            ("num", "4"),
            ("num", "5"),
        ],
    )
    assert r.json() == {"n": 1, "flag": True, "tags": ["a", "b"], "nums": [4, 5], "opt": None}
    assert client.get("/query", params={"n": "2", "opt": "1.5"}).json()["opt"] == 1.5


def test_query_errors_collected(client: TestClient) -> None:
    r = client.get("/query", params={"opt": "x", "num": "y"})
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["errors"]]
    assert ["query", "n"] in locs
    assert ["query", "opt"] in locs
    assert ["query", "num", 0] in locs


def test_headers_convert_underscores_and_lists(client: TestClient) -> None:
    r = client.get(
        "/headers",
        headers=[("X-Token", "t"), ("raw_name", "r"), ("x-multi", "1"), ("x-multi", "2")],
    )
    assert r.json() == {"token": "t", "ua": r.json()["ua"], "raw": "r", "multi": ["1", "2"]}
    assert r.json()["ua"].startswith("python-httpx")
    r = client.get("/headers")
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["header", "x-token"]


def test_cookies(client: TestClient) -> None:
    r = client.get("/cookies", headers={"cookie": "session=abc"})
    assert r.json() == {"session": "abc", "theme": "light"}
    r = client.get("/cookies")
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["cookie", "session"]


def test_struct_body_strict(client: TestClient) -> None:
    assert client.post("/struct", json={"name": "a", "price": 2}).json() == {
        "name": "a",
        "price": 2.0,
    }
    r = client.post("/struct", json={"name": "a", "price": "2"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "price"]
    r = client.post("/struct", json={"price": 2})
    assert r.json()["errors"] == [
        {"loc": ["body", "name"], "msg": "Field required", "type": "missing"}
    ]


def test_missing_body_is_422(client: TestClient) -> None:
    r = client.post("/struct")
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body"]


def test_malformed_json_is_400(client: TestClient) -> None:
    r = client.post("/struct", content=b'{"name": ', headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"


def test_dataclass_typeddict_list_bodies(client: TestClient) -> None:
    assert client.post("/dataclass", json={"x": 1, "y": 2}).json() == {"sum": 3}
    assert client.post("/typeddict", json={"title": "t", "year": 1999}).json() == {
        "title": "t",
        "year": 1999,
    }
    assert client.post("/typeddict", json={"title": "t"}).status_code == 422
    assert (
        client.post("/list", json=[{"name": "a", "price": 1}, {"name": "b", "price": 2}]).json()
        == 2
    )
    r = client.post("/list", json=[{"name": "a", "price": 1}, {"name": "b"}])
    assert r.json()["errors"][0]["loc"] == ["body", 1, "price"]


def test_raw_and_dict_bodies(client: TestClient) -> None:
    assert client.post("/raw", content=b"abc").content == b"cba"
    assert client.post("/dict", json={"b": 1, "a": 2}).json() == {"keys": ["a", "b"]}
    assert client.post("/dict", json=[1]).status_code == 422


def test_embedded_body_members(client: TestClient) -> None:
    r = client.post("/embed", json={"item": {"name": "n", "price": 1}, "count": 3})
    assert r.json() == {"name": "n", "count": 3}
    r = client.post("/embed", json={"item": {"name": "n", "price": 1}, "count": "3"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "count"]
    r = client.post("/embed", json={})
    assert {tuple(e["loc"]) for e in r.json()["errors"]} == {("body", "item"), ("body", "count")}
    assert client.post("/embed", json=[1]).status_code == 422
    assert client.post("/embed", content=b"[").status_code == 400
    assert client.post("/single-embed", json={"count": 4}).json() == 4


def test_optional_body(client: TestClient) -> None:
    assert client.post("/optional-body").text == "none"
    assert client.post("/optional-body", json={"name": "x", "price": 1}).text == "x"


def test_form_fields(client: TestClient) -> None:
    r = client.post("/form", data={"name": "n", "age": "3", "tags": ["a", "b"]})
    assert r.json() == {"name": "n", "age": 3, "tags": ["a", "b"]}
    r = client.post("/form", data={"age": "x"})
    locs = [e["loc"] for e in r.json()["errors"]]
    assert ["form", "name"] in locs
    assert ["form", "age"] in locs


def test_uploads(client: TestClient) -> None:
    r = client.post(
        "/upload", files={"file": ("a.txt", b"hello", "text/plain")}, data={"note": "n"}
    )
    assert r.json() == {"filename": "a.txt", "size": 5, "note": "n"}
    assert client.post("/upload-bytes", files={"file": ("b.bin", b"123")}).json() == 3
    r = client.post("/uploads", files=[("files", ("1.txt", b"1")), ("files", ("2.txt", b"2"))])
    assert r.json() == ["1.txt", "2.txt"]
    r = client.post("/upload", data={"note": "x"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["file", "file"]


def test_special_parameters(client: TestClient) -> None:
    assert client.get("/special").json() == {"method": "GET", "tasks": 0}


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(min_value=-(10**15), max_value=10**15),
    tags=st.lists(st.text(min_size=1, max_size=10), max_size=4),
)
def test_query_round_trip_generated(n: int, tags: list[str]) -> None:
    app = App()

    @app.get("/q")
    async def q(n: int, tags: list[str] = Query([])) -> dict[str, Any]:
        return {"n": n, "tags": tags}

    client = TestClient(app)
    params = [("n", str(n)), *(("tags", t) for t in tags)]
    assert client.get("/q", params=params).json() == {"n": n, "tags": tags}


@settings(max_examples=50, deadline=None)
@given(text=st.text(min_size=1, max_size=20))
def test_bad_int_query_never_500(text: str) -> None:
    app = App()

    @app.get("/q")
    async def q(n: int) -> int:
        return n

    r = TestClient(app).get("/q", params={"n": text})
    try:
        expected = int(text.strip())
    except ValueError:
        assert r.status_code == 422
    else:
        assert r.status_code in (200, 422)
        if r.status_code == 200:
            assert r.json() == expected


class Filters(msgspec.Struct):
    limit: int = 10
    tags: list[str] = []
    q: str | None = None


def test_query_model_takes_every_key() -> None:
    app = App()

    @app.get("/search")
    async def search(filters: Annotated[Filters, Query()]) -> Filters:
        return filters

    @app.get("/optional")
    async def optional(filters: Filters = Query(None)) -> str:
        return "none" if filters is None else str(filters.limit)

    client = TestClient(app)
    r = client.get("/search", params=[("limit", "5"), ("tags", "a"), ("tags", "b")])
    assert r.json() == {"limit": 5, "tags": ["a", "b"], "q": None}
    r = client.get("/search", params={"limit": "x"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["query", "limit"]
    assert client.get("/optional").text == "none"
    assert client.get("/optional", params={"limit": "3"}).text == "3"


class Login(msgspec.Struct):
    username: str
    remember: bool = False


def test_form_model() -> None:
    app = App()

    @app.post("/login")
    async def login(form: Annotated[Login, Form()]) -> Login:
        return form

    client = TestClient(app)
    r = client.post("/login", data={"username": "ann", "remember": "true"})
    assert r.json() == {"username": "ann", "remember": True}
    r = client.post("/login", data={"remember": "true"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["form", "username"]


try:
    import pydantic
except ImportError:  # pragma: no cover - pydantic is an optional extra
    pydantic = None  # type: ignore[assignment]

if pydantic is not None:

    class Model(pydantic.BaseModel):
        name: str
        n: int = 0


@pytest.mark.skipif(pydantic is None, reason="pydantic is not installed")
def test_pydantic_body_and_response() -> None:
    app = App()

    @app.post("/m")
    async def m(model: Model) -> Model:
        return model

    client = TestClient(app)
    assert client.post("/m", json={"name": "a", "n": 2}).json() == {"name": "a", "n": 2}
    r = client.post("/m", json={"n": 2})
    assert r.status_code == 422
    assert r.json()["errors"][0]["loc"] == ["body", "name"]


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(min_value=-(10**12), max_value=10**12),
    word=st.text(
        alphabet=st.characters(blacklist_characters="/?#%", blacklist_categories=("Cs", "Cc")),
        min_size=1,
        max_size=12,
    ),
)
def test_path_params_round_trip_generated(n: int, word: str) -> None:
    assume(word not in (".", ".."))
    app = App()

    @app.get("/p/{n}/{word}")
    async def p(n: int, word: str) -> dict[str, Any]:
        return {"n": n, "word": word}

    r = TestClient(app).get(f"/p/{n}/{quote(word)}")
    assert r.json() == {"n": n, "word": word}


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=64) | st.text(max_size=32).map(str.encode))
def test_arbitrary_bodies_never_500(body: bytes) -> None:
    app = App()

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    @app.post("/embed")
    async def embed(a: int = Body(embed=True), b: str = Body("x", embed=True)) -> dict[str, Any]:
        return {"a": a, "b": b}

    client = TestClient(app)
    for path in ("/items", "/embed"):
        r = client.post(path, content=body, headers={"content-type": "application/json"})
        assert r.status_code in (200, 400, 422)
        assert r.headers["content-type"] in ("application/json", "application/problem+json")


# --- constraints written once on every marker ------------------------------------------------


def test_every_marker_takes_the_shared_options() -> None:
    for marker in (Path, Query, Header, Cookie, Body, Form, File):
        m = marker(
            alias="a",
            title="t",
            description="d",
            examples=[1],
            deprecated=True,
            include_in_schema=False,
            ge=1,
            le=9,
        )
        assert isinstance(m, Param)
        assert (m.alias, m.title, m.description, m.examples) == ("a", "t", "d", [1])
        assert m.deprecated is True
        assert m.include_in_schema is False
        assert m.constraints == {"ge": 1, "le": 9}
    assert Query().constraints == {}
    assert Body(embed=True, media_type="application/x").media_type == "application/x"
    assert Header(convert_underscores=False, max_length=3).constraints == {"max_length": 3}


def test_marker_refuses_unknown_option() -> None:
    with pytest.raises(TypeError, match="unknown options"):
        Query(maxlength=3)  # type: ignore[call-arg]


def _constrained_app() -> App:
    app = App()

    @app.get("/items/{n}")
    async def read(
        n: int = Path(ge=1),
        q: Annotated[str | None, Query(max_length=3)] = None,
        x_key: str = Header("abc", pattern="^[a-z]+$"),
        session: str = Cookie("s", min_length=1),
        step: float = Query(1.0, multiple_of=0.5, lt=10),
    ) -> dict[str, Any]:
        return {"n": n, "q": q, "key": x_key, "session": session, "step": step}

    @app.post("/body")
    async def body(v: Annotated[int, Body(gt=0, embed=True)]) -> dict[str, int]:
        return {"v": v}

    @app.post("/form")
    async def form(
        name: str = Form(min_length=2), data: bytes = File(max_length=3)
    ) -> dict[str, Any]:
        return {"name": name, "size": len(data)}

    return app


def test_constraints_validate_every_source() -> None:
    with TestClient(_constrained_app()) as client:
        ok = client.get("/items/1", params={"q": "abc", "step": "2.5"})
        assert ok.status_code == 200
        assert ok.json() == {"n": 1, "q": "abc", "key": "abc", "session": "s", "step": 2.5}
        bad = client.get("/items/0", params={"q": "abcd", "step": "0.3"}, headers={"x-key": "A"})
        assert bad.status_code == 422
        locs = {tuple(e["loc"]) for e in bad.json()["errors"]}
        assert locs == {("path", "n"), ("query", "q"), ("header", "x-key"), ("query", "step")}
        assert client.post("/body", json={"v": 0}).status_code == 422
        assert client.post("/body", json={"v": 3}).json() == {"v": 3}
        r = client.post("/form", data={"name": "a"}, files={"data": ("f", b"abcd")})
        assert r.status_code == 422
        assert {tuple(e["loc"]) for e in r.json()["errors"]} == {("form", "name"), ("file", "data")}
        r = client.post("/form", data={"name": "ab"}, files={"data": ("f", b"abc")})
        assert r.json() == {"name": "ab", "size": 3}


@settings(max_examples=40, deadline=None)
@given(st.text(alphabet="abcxyz", max_size=8))
def test_max_length_matches_python_len(text: str) -> None:
    app = App(openapi_url=None)

    @app.get("/")
    async def index(q: str = Query(max_length=4)) -> str:
        return q

    with TestClient(app) as client:
        r = client.get("/", params={"q": text})
    if text and len(text) <= 4:
        assert r.status_code == 200
        assert r.text == text
    elif not text:
        assert r.status_code in (200, 422)
    else:
        assert r.status_code == 422


def test_constraints_reach_openapi() -> None:
    with TestClient(_constrained_app()) as client:
        spec = client.get("/openapi.json").json()
    params = {p["name"]: p["schema"] for p in spec["paths"]["/items/{n}"]["get"]["parameters"]}
    assert params["n"]["minimum"] == 1
    assert params["q"]["maxLength"] == 3
    assert params["x-key"]["pattern"] == "^[a-z]+$"
    assert params["session"]["minLength"] == 1
    assert params["step"]["multipleOf"] == 0.5
    assert params["step"]["exclusiveMaximum"] == 10
    body = spec["paths"]["/body"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["properties"]["v"]["exclusiveMinimum"] == 0


def test_constraint_that_does_not_fit_the_type_fails_at_start_up() -> None:
    app = App()

    @app.get("/")
    async def handler(n: int = Query(pattern="^[0-9]+$")) -> str:
        return ""

    with pytest.raises(TypeError, match=r"handler.*parameter 'n'.*pattern"), TestClient(app):
        pass


def test_marker_constraints_combine_with_msgspec_meta() -> None:
    app = App()

    @app.get("/")
    async def index(n: Annotated[int, Query(ge=1), msgspec.Meta(le=5)] = 3) -> int:
        return n

    with TestClient(app) as client:
        assert client.get("/", params={"n": "5"}).json() == 5
        assert client.get("/").json() == 3
        assert client.get("/", params={"n": "0"}).status_code == 422
        assert client.get("/", params={"n": "6"}).status_code == 422
        schema = client.get("/openapi.json").json()["paths"]["/"]["get"]["parameters"][0]
    assert schema["schema"]["minimum"] == 1
    assert schema["schema"]["maximum"] == 5
