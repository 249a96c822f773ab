"""The spec document model encodes to OpenAPI's names and shapes."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st
from openapi_spec_validator import validate

from celeris.openapi import spec


def test_names_follow_the_spec() -> None:
    document = spec.OpenAPI(
        info=spec.Info(title="t", version="1", terms_of_service="https://example.com/tos"),
        paths={
            "/a/{id}": spec.PathItem(
                get=spec.Operation(
                    operation_id="a.get",
                    parameters=[
                        spec.Parameter(
                            name="id", location="path", schema={"type": "integer"}, required=True
                        )
                    ],
                    request_body=spec.RequestBody(
                        content={"application/json": spec.MediaType(schema={})}
                    ),
                    responses={"200": spec.Response(description="OK")},
                )
            )
        },
        components=spec.Components(
            security_schemes={
                "key": spec.SecurityScheme(type="apiKey", name="k", location="header"),
                "oidc": spec.SecurityScheme(
                    type="openIdConnect", open_id_connect_url="https://x/.well-known"
                ),
            }
        ),
    )
    data = document.to_dict()
    validate(data)
    assert data["openapi"] == "3.1.0"
    assert data["info"]["termsOfService"] == "https://example.com/tos"
    operation = data["paths"]["/a/{id}"]["get"]
    assert operation["operationId"] == "a.get"
    assert operation["parameters"][0]["in"] == "path"
    assert "requestBody" in operation
    assert "deprecated" not in operation
    assert data["components"]["securitySchemes"]["key"] == {
        "type": "apiKey",
        "name": "k",
        "in": "header",
    }
    assert (
        data["components"]["securitySchemes"]["oidc"]["openIdConnectUrl"] == "https://x/.well-known"
    )
    assert msgspec.json.decode(document.to_json()) == data


def test_oauth_flows() -> None:
    flows = spec.OAuthFlows(
        password=spec.OAuthFlow(token_url="/token", scopes={"r": "read"}),
        authorization_code=spec.OAuthFlow(authorization_url="/auth", token_url="/token", scopes={}),
    )
    assert msgspec.to_builtins(flows) == {
        "password": {"scopes": {"r": "read"}, "tokenUrl": "/token"},
        "authorizationCode": {"scopes": {}, "authorizationUrl": "/auth", "tokenUrl": "/token"},
    }


@given(st.one_of(st.none(), st.integers(), st.text(), st.lists(st.integers())))
def test_examples_are_kept_whatever_their_value(value: object) -> None:
    parameter = spec.Parameter(name="q", location="query", schema={}, example=value)
    assert msgspec.to_builtins(parameter)["example"] == value
    assert "example" not in msgspec.to_builtins(
        spec.Parameter(name="q", location="query", schema={})
    )
