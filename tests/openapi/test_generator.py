"""The generated OpenAPI 3.1 document: complete, correct, valid."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import pytest
from openapi_spec_validator import validate

from celeris import App, Depends, Router
from celeris.openapi.endpoints import document_of
from celeris.openapi.generator import OpenAPIError, generate
from celeris.openapi.security import APIKeyHeader

from .sample_app import app as sample

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
VALIDATION = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/ValidationProblem"}}}


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
    assert listing["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}
    assert listing["limit"].get("required", False) is False
    assert listing["color"]["schema"] == {"$ref": "#/components/schemas/Color"}
    read = params(op(doc, "get", "/items/{item_id}"))
    assert read["item_id"] == {"name": "item_id", "in": "path", "schema": {"type": "integer"}, "required": True}
    delete = params(op(doc, "delete", "/items/{item_id}"))
    assert delete["item_id"]["schema"] == {"type": "integer", "minimum": 0}
    agent = params(op(doc, "get", "/agent"))
    assert agent["user-agent"]["in"] == "header"
    assert agent["mode"]["schema"] == {"enum": ["long", "short"], "default": "short"}


def test_every_response_is_documented(doc: dict[str, Any]) -> None:
    create = op(doc, "post", "/items/")
    assert set(create["responses"]) == {"201", "400", "401", "409", "422"}
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
    assert delete["responses"]["204"] == {"description": "No Content"}
    assert delete["deprecated"] is True
    scoped = op(doc, "get", "/scoped")["responses"]["200"]
    assert scoped["content"] == {"text/plain": {"schema": {"type": "string"}}}


def test_request_bodies_json_form_and_multipart(doc: dict[str, Any]) -> None:
    create = op(doc, "post", "/items/")["requestBody"]
    assert create["required"] is True
    assert create["content"] == {"application/json": {"schema": {"$ref": "#/components/schemas/Item"}}}
    token = op(doc, "post", "/token")["requestBody"]["content"]
    assert set(token) == {"application/x-www-form-urlencoded", "multipart/form-data"}
    assert token["application/x-www-form-urlencoded"]["schema"]["required"] == ["username", "password"]
    upload = op(doc, "post", "/upload")["requestBody"]["content"]
    assert set(upload) == {"multipart/form-data"}
    schema = upload["multipart/form-data"]["schema"]
    assert schema["properties"]["file"] == {"type": "string", "format": "binary"}
    assert schema["required"] == ["file"]


def test_models_of_every_kind_are_components(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    assert {"Item", "StoredItem", "Point", "Movie", "Cat", "Dog", "User", "PublicUser", "Color"} <= set(schemas)
    assert "Page_StoredItem_" in schemas
    assert schemas["Item"]["properties"]["price"] == {"type": "number", "exclusiveMinimum": 0, "maximum": 1000000}
    assert schemas["User"]["properties"]["age"]["maximum"] == 150
    assert set(schemas["PublicUser"]["properties"]) == {"name"}
    body = op(doc, "post", "/shapes")["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "type"
    assert list(schemas) == ["Problem", "ValidationProblem", *sorted(set(schemas) - {"Problem", "ValidationProblem"})]


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
    name = handler.__module__.rsplit('.', 1)[-1] + '.' + handler.__qualname__.replace('.<locals>', '')
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
    assert set(operation["responses"]) == {"200", "401", "422"}


def test_not_an_app() -> None:
    with pytest.raises(TypeError, match="not a celeris App"):
        document_of(object())
