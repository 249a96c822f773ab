"""The showcase app's API, described by this package and checked by schemathesis."""

from __future__ import annotations

import json
import os

# NOTE: the showcase resolves its stores when it is imported: keep uploads and mail in memory,
# never in examples/showcase/media or on the console; the environment is restored after the
# import so that no other test sees these values.
_STORES = {"STORAGE_URL": "memory://", "MAIL_URL": "memory://"}
_saved = {name: os.environ.get(name) for name in _STORES}
os.environ.update(_STORES)

import schemathesis  # noqa: E402
from examples.showcase.app import app  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402
from openapi_spec_validator import validate  # noqa: E402
from schemathesis.checks import positive_data_acceptance  # noqa: E402

from celeris.openapi import document_of, install  # noqa: E402
from celeris.testing import TestClient  # noqa: E402

from .test_schemathesis import excluded  # noqa: E402

for _name, _value in _saved.items():
    if _value is None:
        del os.environ[_name]
    else:
        os.environ[_name] = _value

install(app)  # NOTE: until App installs the spec routes itself (a no-op then)
# NOTE: text/event-stream operations never end; a whole-body client would wait forever.
schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(
    func=lambda ctx: "text/event-stream" in json.dumps(ctx.operation.definition.raw)
)
# NOTE: these auth operations judge a credential, a one-time token or code, or an address
# against what the server holds (a password, a mailed link, a provider's answer): the
# document describes the shape of those values, not which ones exist, so a well-formed guess
# is refused (400, 422 with the reason) and "valid data is accepted" cannot judge them. Every
# other check still runs on them.
CREDENTIAL_CHECKS = {
    "POST /auth/signup",  # the password validators and the address's own rules
    "GET /auth/verify",
    "POST /auth/login",
    "POST /auth/2fa",
    "POST /auth/password/reset",
    "POST /auth/password/reset/confirm",
    "POST /auth/passkeys/login",
    "GET /auth/oauth/{provider}/callback",
}


def test_showcase_spec_is_valid_and_documents_the_api() -> None:
    doc = document_of(app)
    validate(doc)
    assert doc["info"]["title"] == "celeris showcase"
    assert any(path.startswith("/api/notes") for path in doc["paths"])


def test_uploads_are_listed_under_one_tag() -> None:
    # Router tags and route tags add up: uploads live on their own router, tagged once.
    operation = document_of(app)["paths"]["/api/uploads"]["post"]
    assert operation["tags"] == ["files"]
    assert "201" in operation["responses"]


def test_create_note_has_no_request_id_parameter() -> None:
    # The request id is the middleware's business (request.state), not a client parameter.
    operation = document_of(app)["paths"]["/api/notes"]["post"]
    names = [parameter["name"].lower() for parameter in operation.get("parameters", [])]
    assert "x-request-id" not in names
    assert operation["tags"] == ["notes"]


def test_delete_note_documents_its_permission() -> None:
    operation = document_of(app)["paths"]["/api/notes/{note_id}"]["delete"]
    assert {"celerisAuth": ["notes.delete"]} in operation["security"]
    assert {"401", "403"} <= set(operation["responses"])


@schema.parametrize()
@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_showcase_conforms_to_its_spec(case: schemathesis.Case) -> None:
    checks = excluded(case)
    if f"{case.method.upper()} {case.path}" in CREDENTIAL_CHECKS:
        checks = [*checks, positive_data_acceptance]
    case.call_and_validate(excluded_checks=checks)


def test_auth_pages_are_documented_as_html() -> None:
    # The sign-in page shares /auth/login with the sign-in operation: both are listed, so the
    # `Allow` of a 405 there names only documented methods.
    item = document_of(app)["paths"]["/auth/login"]
    assert set(item) == {"get", "post"}
    assert item["get"]["responses"]["200"]["content"] == {
        "text/html": {"schema": {"type": "string"}}
    }
    with TestClient(app) as client:
        answer = client.delete("/auth/login")
    assert answer.status_code == 405
    documented = {m.upper() for m in item} | {"HEAD", "OPTIONS"}
    assert set(answer.headers["allow"].replace(" ", "").split(",")) == documented


def test_auth_bodies_and_answers_are_documented() -> None:
    operation = document_of(app)["paths"]["/auth/login"]["post"]
    content = operation["requestBody"]["content"]
    assert {"application/json", "application/x-www-form-urlencoded"} <= set(content)
    schema = content["application/json"]["schema"]
    assert schema["required"] == ["email", "password"]
    assert "next" in schema["properties"]
    responses = operation["responses"]
    assert {"200", "202", "303", "400", "403", "422", "429"} <= set(responses)
    problem = {"$ref": "#/components/schemas/Problem"}
    assert responses["400"]["content"]["application/problem+json"]["schema"] == problem
    assert "text/html" in responses["400"]["content"]  # the sign-in page again, with the reason
    assert responses["303"]["headers"]["Location"]["required"] is True
    logout = document_of(app)["paths"]["/auth/logout"]["post"]["responses"]
    assert "content" not in logout["204"]
