"""The generated OpenAPI 3.1 document: complete, correct, valid."""

from __future__ import annotations

import dataclasses
import enum
import inspect
import keyword
from types import SimpleNamespace
from typing import Annotated, Any, Generic, Literal, TypedDict, TypeVar

import msgspec
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openapi_spec_validator import validate

from celeris import (
    App,
    Body,
    Cookie,
    Depends,
    Form,
    Header,
    HTMLResponse,
    Query,
    Response,
    Router,
    UploadFile,
)
from celeris.core.routing import Route
from celeris.openapi.endpoints import document_of, versions_of
from celeris.openapi.generator import OpenAPIError, api_version_of, generate
from celeris.openapi.security import APIKeyHeader, HTTPBearer
from celeris.testing import TestClient

from .sample_app import app as sample

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
VALIDATION = {
    "application/problem+json": {"schema": {"$ref": "#/components/schemas/ValidationProblem"}}
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    document = document_of(sample)
    validate(document)
    return document


def op(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    operation: dict[str, Any] = doc["paths"][path][method]
    return operation


def params(operation: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in operation.get("parameters", ())}


def test_document_head(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {
        "title": "Sample API",
        "version": "1.2.3",
        "description": "Everything the spec can say.",
    }
    assert doc["tags"] == [{"name": "items"}]
    assert "/hidden" not in doc["paths"]
    assert "/openapi.json" not in doc["paths"]
    assert "/docs" not in doc["paths"]


def test_operation_ids_are_readable_unique_and_overridable(doc: dict[str, Any]) -> None:
    ids = [o["operationId"] for item in doc["paths"].values() for o in item.values()]
    assert len(ids) == len(set(ids))
    assert op(doc, "get", "/items/{item_id}")["operationId"] == "items.read_item"
    assert op(doc, "get", "/items/")["operationId"] == "items.list_items"
    assert op(doc, "delete", "/items/{item_id}")["operationId"] == "remove_item"
    assert op(doc, "post", "/shapes")["operationId"] == "sample_app.shape"


def test_summary_and_description_from_docstring(doc: dict[str, Any]) -> None:
    listing = op(doc, "get", "/items/")
    assert listing["summary"] == "List items."
    assert listing["description"] == "Filter by color, page with ``limit``."
    assert op(doc, "post", "/points")["summary"] == "Point"


def test_parameters_carry_constraints_descriptions_and_defaults(doc: dict[str, Any]) -> None:
    listing = params(op(doc, "get", "/items/"))
    assert listing["limit"]["in"] == "query"
    assert listing["limit"]["description"] == "How many to return"
    assert listing["limit"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 10,
    }
    assert listing["limit"].get("required", False) is False
    assert listing["color"]["schema"] == {"$ref": "#/components/schemas/Color"}
    read = params(op(doc, "get", "/items/{item_id}"))
    assert read["item_id"] == {
        "name": "item_id",
        "in": "path",
        "schema": {"type": "integer"},
        "required": True,
    }
    delete = params(op(doc, "delete", "/items/{item_id}"))
    assert delete["item_id"]["schema"] == {"type": "integer", "minimum": 0}
    agent = params(op(doc, "get", "/agent"))
    assert agent["user-agent"]["in"] == "header"
    assert agent["mode"]["schema"] == {"enum": ["long", "short"], "default": "short"}


def test_every_response_is_documented(doc: dict[str, Any]) -> None:
    create = op(doc, "post", "/items/")
    assert set(create["responses"]) == {"201", "400", "401", "409", "413", "415", "422"}
    assert create["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/StoredItem"
    }
    assert create["responses"]["400"]["content"] == PROBLEM
    assert create["responses"]["409"]["content"] == PROBLEM
    assert create["responses"]["422"]["content"] == VALIDATION
    assert "WWW-Authenticate" in create["responses"]["401"]["headers"]
    read = op(doc, "get", "/items/{item_id}")
    assert set(read["responses"]) == {"200", "404", "422"}
    assert read["responses"]["404"]["description"] == "Not Found"
    delete = op(doc, "delete", "/items/{item_id}")
    assert delete["responses"]["204"]["description"] == "No Content"
    assert "Deprecation" in delete["responses"]["204"]["headers"]
    assert delete["deprecated"] is True
    assert set(delete["responses"]) == {"204", "401", "404", "405", "422"}
    scoped = op(doc, "get", "/scoped")["responses"]["200"]
    assert scoped["content"] == {"text/plain": {"schema": {"type": "string"}}}


def test_request_bodies_json_form_and_multipart(doc: dict[str, Any]) -> None:
    create = op(doc, "post", "/items/")["requestBody"]
    assert create["required"] is True
    assert create["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/Item"}}
    }
    token = op(doc, "post", "/token")["requestBody"]["content"]
    assert set(token) == {"application/x-www-form-urlencoded", "multipart/form-data"}
    assert token["application/x-www-form-urlencoded"]["schema"]["required"] == [
        "username",
        "password",
    ]
    upload = op(doc, "post", "/upload")["requestBody"]["content"]
    assert set(upload) == {"multipart/form-data"}
    schema = upload["multipart/form-data"]["schema"]
    assert schema["properties"]["file"] == {"type": "string", "format": "binary"}
    assert schema["required"] == ["file"]


def test_models_of_every_kind_are_components(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert {
        "Item",
        "StoredItem",
        "Point",
        "Movie",
        "Cat",
        "Dog",
        "User",
        "PublicUser",
        "Color",
    } <= set(schemas)
    assert "Page_StoredItem_" in schemas
    assert schemas["Item"]["properties"]["price"] == {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": 1000000,
    }
    assert schemas["User"]["properties"]["age"]["maximum"] == 150
    assert set(schemas["PublicUser"]["properties"]) == {"name"}
    body = op(doc, "post", "/shapes")["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "type"
    assert list(schemas) == [
        "Problem",
        "ValidationProblem",
        *sorted(set(schemas) - {"Problem", "ValidationProblem"}),
    ]


def test_security_schemes_and_requirements(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["HTTPBearer"] == {"type": "http", "scheme": "bearer", "description": "Any token"}
    assert schemes["HTTPBasic"] == {"type": "http", "scheme": "basic"}
    assert schemes["APIKeyHeader"] == {"type": "apiKey", "name": "X-API-Key", "in": "header"}
    assert schemes["APIKeyQuery"] == {"type": "apiKey", "name": "api_key", "in": "query"}
    assert schemes["APIKeyCookie"] == {"type": "apiKey", "name": "session", "in": "cookie"}
    assert schemes["OAuth2PasswordBearer"] == {
        "type": "oauth2",
        "flows": {"password": {"scopes": {"read": "Read things"}, "tokenUrl": "/token"}},
    }
    assert schemes["JWT"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert op(doc, "get", "/keys")["security"] == [{"APIKeyQuery": [], "APIKeyCookie": []}]
    assert op(doc, "get", "/me")["security"] == [{"JWT": []}]
    assert "security" not in op(doc, "post", "/points")


def test_generation_is_deterministic() -> None:
    assert document_of(sample) == document_of(sample)


def test_duplicate_explicit_operation_ids_are_refused() -> None:
    app = App()

    @app.get("/a", operation_id="same")
    async def a() -> str:
        return "a"

    @app.get("/b", operation_id="same")
    async def b() -> str:
        return "b"

    with pytest.raises(OpenAPIError, match=r"E003.*same"):
        document_of(app)


def test_default_ids_never_collide_and_multi_method_routes_get_suffixes() -> None:
    app = App()

    async def handler() -> dict[str, int]:
        return {}

    app.add_route("/one", handler)
    app.add_route("/two", handler)
    app.add_route("/both", handler, ["GET", "POST"])
    doc = document_of(app)
    validate(doc)
    name = (
        handler.__module__.rsplit(".", 1)[-1] + "." + handler.__qualname__.replace(".<locals>", "")
    )
    assert doc["paths"]["/one"]["get"]["operationId"] == name
    assert doc["paths"]["/two"]["get"]["operationId"] == f"{name}_2"
    assert doc["paths"]["/both"]["get"]["operationId"] == f"{name}_get"
    assert doc["paths"]["/both"]["post"]["operationId"] == f"{name}_post"


def test_two_schemes_with_one_name_are_refused() -> None:
    app = App()

    @app.get("/a")
    async def a(key: Annotated[str, Depends(APIKeyHeader("A"))]) -> str:
        return key

    @app.get("/b")
    async def b(key: Annotated[str, Depends(APIKeyHeader("B"))]) -> str:
        return key

    with pytest.raises(OpenAPIError, match="E004"):
        document_of(app)


def test_undescribable_types_fail_with_a_stable_id() -> None:
    class Opaque:
        pass

    app = App()

    @app.get("/x", response_model=Opaque)
    async def x() -> dict[str, str]:
        return {}

    with pytest.raises(OpenAPIError, match="E001"):
        generate(app.routes)


def test_router_and_app_dependencies_bring_security_to_every_route() -> None:
    key = APIKeyHeader("X-Key")
    app = App(dependencies=[Depends(key)])
    router = Router(prefix="/r")

    @router.get("/{n}")
    async def get_n(n: Annotated[int, msgspec.Meta(ge=1)]) -> int:
        return n

    app.include_router(router)
    doc = document_of(app)
    validate(doc)
    operation = doc["paths"]["/r/{n}"]["get"]
    assert operation["security"] == [{"APIKeyHeader": []}]
    assert operation["parameters"][0]["schema"] == {"type": "integer", "minimum": 1}
    assert set(operation["responses"]) == {"200", "401", "404", "422"}


def test_optional_security_is_an_alternative_and_brings_no_401() -> None:
    app = App()
    optional_key = APIKeyHeader("Authorization", auto_error=False)
    required_key = APIKeyHeader("X-Tenant", scheme_name="Tenant")
    bearer = HTTPBearer(auto_error=False)

    @app.get("/feed")
    async def feed(key: Annotated[str | None, Depends(optional_key)]) -> dict[str, bool]:
        return {"anonymous": key is None}

    @app.get("/mixed")
    async def mixed(
        tenant: Annotated[str, Depends(required_key)],
        key: Annotated[str | None, Depends(optional_key)],
        token: Annotated[str | None, Depends(bearer)],
    ) -> dict[str, bool]:
        return {}

    doc = document_of(app)
    validate(doc)
    feed_op = doc["paths"]["/feed"]["get"]
    assert feed_op["security"] == [{}, {"APIKeyHeader": []}]
    assert "401" not in feed_op["responses"]
    mixed_op = doc["paths"]["/mixed"]["get"]
    assert mixed_op["security"] == [
        {"Tenant": []},
        {"Tenant": [], "APIKeyHeader": []},
        {"Tenant": [], "HTTPBearer": []},
    ]
    assert "401" in mixed_op["responses"]
    with TestClient(app) as client:
        assert client.get("/feed").json() == {"anonymous": True}


def test_not_an_app() -> None:
    with pytest.raises(TypeError, match="not a celeris App"):
        document_of(object())


class Login(msgspec.Struct):
    username: str
    password: str


class Note(msgspec.Struct):
    text: str


edge = App()


@edge.post("/raw")
async def raw(data: Annotated[bytes, Body(examples=["abc"])]) -> bytes:
    return data


@edge.post("/embed")
async def embed(
    note: Annotated[Note, Body(embed=True)], count: Annotated[int, Body(embed=True)] = 1
) -> HTMLResponse:
    return HTMLResponse("<p>ok</p>")


@edge.post("/files")
async def files(uploads: list[UploadFile]) -> dict[str, int]:
    return {"n": len(uploads)}


@edge.post("/login")
async def login(form: Annotated[Login, Form()]) -> Response:
    return Response(b"")


@edge.get("/documented", responses={404: "Nothing here", 418: {"description": "Teapot"}, 409: Note})
async def documented(
    old: Annotated[str | None, Query(deprecated=True, examples=["x"])] = None,
    secret: Annotated[str | None, Query(include_in_schema=False)] = None,
    tags: Annotated[list[str] | None, Query()] = None,
) -> None:
    return None


def test_edge_cases_of_bodies_and_responses() -> None:
    doc = document_of(edge)
    validate(doc)
    paths = doc["paths"]
    raw_op = paths["/raw"]["post"]
    assert raw_op["requestBody"]["content"] == {
        "application/octet-stream": {"schema": {}, "example": "abc"}
    }
    assert raw_op["responses"]["200"]["content"] == {"application/octet-stream": {"schema": {}}}
    embed_op = paths["/embed"]["post"]
    body = embed_op["requestBody"]["content"]["application/json"]["schema"]
    assert body == {
        "type": "object",
        "properties": {"note": {"$ref": "#/components/schemas/Note"}, "count": {"type": "integer"}},
        "required": ["note"],
    }
    assert embed_op["responses"]["200"]["content"] == {"text/html": {"schema": {}}}
    files_body = paths["/files"]["post"]["requestBody"]["content"]
    assert files_body["multipart/form-data"]["schema"]["properties"]["uploads"] == {
        "type": "array",
        "items": {"type": "string", "format": "binary"},
    }
    assert set(paths["/files"]["post"]["responses"]) == {"200", "400", "413", "415", "422"}
    login_op = paths["/login"]["post"]
    assert login_op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"] == {
        "$ref": "#/components/schemas/Login"
    }
    assert login_op["responses"]["200"] == {"description": "OK"}
    documented_op = paths["/documented"]["get"]
    query = {p["name"]: p for p in documented_op["parameters"]}
    assert set(query) == {"old", "tags"}
    assert query["old"]["deprecated"] is True
    assert query["old"]["example"] == "x"
    assert query["tags"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert query["tags"]["style"] == "form"
    assert query["tags"]["explode"] is True
    responses = documented_op["responses"]
    assert responses["204"] == {"description": "No Content"}
    assert responses["404"] == {"description": "Nothing here"}
    assert responses["418"] == {"description": "Teapot"}
    assert responses["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Note"
    }


class VersionedRoute(Route):
    """A route as the core's ``Router(version=...)`` will make it (it carries ``version``)."""

    def __init__(self, path: str, endpoint: Any, version: str | None, **options: Any) -> None:
        super().__init__(path, endpoint, **options)
        self.version = version


async def read_item(item_id: int) -> Note:
    return Note(text=str(item_id))


def test_versions_prefix_operation_ids_and_filter_the_document() -> None:
    routes = [
        VersionedRoute("/v1/items/{item_id}", read_item, "v1", tags=["items"]),
        VersionedRoute("/v2/items/{item_id}", read_item, "v2", tags=["items"]),
        VersionedRoute("/health", read_item, None),
    ]
    assert api_version_of(routes[0]) == "v1"
    assert api_version_of(routes[2]) is None
    everything = generate(routes)
    validate(everything)
    ids = {p: item["get"]["operationId"] for p, item in everything["paths"].items()}
    assert ids == {
        "/v1/items/{item_id}": "v1.items.read_item",
        "/v2/items/{item_id}": "v2.items.read_item",
        "/health": "test_generator.read_item",
    }
    only_v2 = generate(routes, api_version="v2")
    validate(only_v2)
    assert list(only_v2["paths"]) == ["/v2/items/{item_id}"]
    fake_app = SimpleNamespace(routes=routes, title="Versioned", version="9", root_path="")
    assert versions_of(fake_app) == ["v1", "v2"]
    assert document_of(fake_app, api_version="v1")["info"]["title"] == "Versioned (v1)"


def test_explicit_summary_and_description_win() -> None:
    app = App()

    @app.get("/a", summary="Short", description="Long text.")
    async def a() -> str:
        """Docstring line.

        Docstring body.
        """
        return "a"

    @app.get("/b", description="Only a description.")
    async def b() -> str:
        """Docstring line."""
        return "b"

    doc = document_of(app)
    assert doc["paths"]["/a"]["get"]["summary"] == "Short"
    assert doc["paths"]["/a"]["get"]["description"] == "Long text."
    assert doc["paths"]["/b"]["get"]["summary"] == "Docstring line."
    assert doc["paths"]["/b"]["get"]["description"] == "Only a description."


T = TypeVar("T")


class Color(enum.Enum):
    RED = "red"


class Item(msgspec.Struct):
    name: str


@dataclasses.dataclass
class Point:
    x: int


class Movie(TypedDict):
    title: str


class Cat(msgspec.Struct, tag=True):
    lives: int


class Dog(msgspec.Struct, tag=True):
    good: bool


class User(pydantic.BaseModel):
    name: str


class Page(msgspec.Struct, Generic[T]):
    items: list[T]


PARAM_TYPES = [
    int,
    str,
    float,
    bool,
    list[int],
    Color,
    Literal["a", "b"],
    Annotated[int, msgspec.Meta(ge=0, le=10)],
    Annotated[str, msgspec.Meta(max_length=3, pattern="^[a-z]+$")],
    int | None,
]
MARKERS = [Query, Header, Cookie]
BODIES = [None, Item, list[Item], Point, Movie, Cat | Dog, User, bytes]
RETURNS = [dict[str, int], str, None, Item, list[Point], User, Page[Item], HTMLResponse]


@st.composite
def handlers(draw: st.DrawFn) -> tuple[Any, int | None]:
    name_strategy = st.from_regex(r"[a-z]{1,8}", fullmatch=True).filter(
        lambda n: not keyword.iskeyword(n) and n not in ("key", "payload")
    )
    names = draw(st.lists(name_strategy, unique=True, max_size=4))
    parameters = []
    annotations: dict[str, Any] = {}
    for name in names:
        tp = draw(st.sampled_from(PARAM_TYPES))
        marker = draw(st.sampled_from(MARKERS))
        required = draw(st.booleans())
        annotations[name] = Annotated[tp, marker()]
        default = inspect.Parameter.empty if required else None
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default))
    body = draw(st.sampled_from(BODIES))
    if body is not None:
        annotations["payload"] = Annotated[body, Body()]
        parameters.append(inspect.Parameter("payload", inspect.Parameter.KEYWORD_ONLY))
    annotations["return"] = draw(st.sampled_from(RETURNS))

    async def handler(**kwargs: Any) -> Any:
        return None

    handler.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    handler.__annotations__ = annotations
    return handler, draw(st.sampled_from([None, 200, 201, 202, 204]))


@settings(max_examples=15, deadline=None)
@given(st.lists(handlers(), min_size=1, max_size=4), st.sampled_from(["GET", "POST", "PUT"]))
def test_any_routes_give_a_valid_document(
    routes: list[tuple[Any, int | None]], method: str
) -> None:
    app = App()
    for index, (handler, status) in enumerate(routes):
        app.add_route(f"/r{index}/{{key}}", handler, [method], status_code=status)
    doc = document_of(app)
    validate(doc)
    operations = [item[method.lower()] for item in doc["paths"].values()]
    assert len({op["operationId"] for op in operations}) == len(routes)
    for operation in operations:
        validated = len(operation["parameters"]) > 1 or "requestBody" in operation
        assert ("422" in operation["responses"]) is validated
        assert ("400" in operation["responses"]) is ("requestBody" in operation)
        assert "404" in operation["responses"]
        assert {
            "name": "key",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1},
        } in operation["parameters"]
