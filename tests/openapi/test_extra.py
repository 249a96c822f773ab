"""``openapi_extra=`` and full response objects in ``responses=``: what a handler does that
its signature does not show (a body it reads itself, an HTML answer) is documented too."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from celeris import App, Request, Response, Router
from celeris.testing import TestClient

FIELDS = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 1}},
    "required": ["name"],
}
BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": FIELDS},
            "application/x-www-form-urlencoded": {"schema": FIELDS},
        },
    }
}


def make_app() -> App:
    app = App()
    router = Router(prefix="/api", tags=["people"])

    @router.post(
        "/people",
        status_code=201,
        openapi_extra=BODY,
        responses={
            201: {
                "description": "Created",
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            303: {
                "description": "A browser goes to the list",
                "headers": {"Location": {"schema": {"type": "string"}, "required": True}},
            },
        },
    )
    async def create(request: Request) -> Response:
        if request.headers.get("content-type", "").startswith("application/x-www-form"):
            name = (await request.form()).get("name")
            return Response(status_code=303, headers={"location": f"/people?added={name}"})
        await request.json()
        return Response(b'{"ok": true}', status_code=201, media_type="application/json")

    @router.get(
        "/people/{person_id:int}",
        responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}}},
        openapi_extra={
            "responses": {"404": {"description": "No such person"}},
            "parameters": [{"name": "tab", "in": "query", "schema": {"type": "string"}}],
            "x-audit": True,
        },
    )
    async def page(person_id: int) -> Response:
        return Response(f"<p>{person_id}</p>", media_type="text/html")

    app.include_router(router)
    return app


def test_openapi_extra_documents_a_body_the_handler_reads_itself() -> None:
    with TestClient(make_app()) as client:
        doc = client.get("/openapi.json").json()
        validate(doc)
        operation = doc["paths"]["/api/people"]["post"]
        assert operation["requestBody"] == BODY["requestBody"]
        assert client.post("/api/people", json={"name": "Ada"}).status_code == 201
        answer = client.post("/api/people", data={"name": "Ada"}, follow_redirects=False)
        assert answer.status_code == 303


def test_a_mapping_in_responses_is_a_whole_response_object() -> None:
    with TestClient(make_app()) as client:
        responses = client.get("/openapi.json").json()["paths"]["/api/people"]["post"]["responses"]
    assert responses["201"]["content"] == {"application/json": {"schema": {"type": "object"}}}
    assert responses["303"]["headers"]["Location"]["required"] is True
    assert responses["303"]["description"] == "A browser goes to the list"


def test_extra_merges_into_what_is_generated() -> None:
    with TestClient(make_app()) as client:
        operation = client.get("/openapi.json").json()["paths"]["/api/people/{person_id}"]["get"]
    # the generated answers stay (the 422 of the path parameter), with the additions merged in
    assert operation["responses"]["200"]["description"] == "OK"
    assert operation["responses"]["200"]["content"]["text/html"] == {"schema": {"type": "string"}}
    assert operation["responses"]["404"]["description"] == "No such person"
    assert "application/problem+json" in operation["responses"]["404"]["content"]
    assert "422" in operation["responses"]
    assert operation["x-audit"] is True
    # a list is added to: the path parameter stays, the query parameter read by hand follows
    assert [p["name"] for p in operation["parameters"]] == ["person_id", "tab"]
    assert operation["tags"] == ["people"]


def test_openapi_extra_takes_a_mapping() -> None:
    app = App()
    with pytest.raises(TypeError, match="openapi_extra= on '/x' takes a mapping"):
        app.get("/x", openapi_extra=["requestBody"])(lambda: None)  # type: ignore[arg-type]


def test_the_declared_data_is_copied_not_shared() -> None:
    app = make_app()
    with TestClient(app) as client:
        doc = client.get("/openapi.json").json()
    doc["paths"]["/api/people"]["post"]["requestBody"]["content"].clear()
    assert BODY["requestBody"]["content"]
