"""The showcase app's API, described by this package and checked by schemathesis."""

from __future__ import annotations

import json

import schemathesis
from examples.showcase.app import app
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate

from celeris.openapi import document_of, install

from .test_schemathesis import excluded

install(app)  # NOTE: until App installs the spec routes itself (a no-op then)
# NOTE: text/event-stream operations never end; a whole-body client would wait forever.
schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(
    func=lambda ctx: "text/event-stream" in json.dumps(ctx.operation.definition.raw)
)


def test_showcase_spec_is_valid_and_documents_the_api() -> None:
    doc = document_of(app)
    validate(doc)
    assert doc["info"]["title"] == "celeris showcase"
    assert any(path.startswith("/api/notes") for path in doc["paths"])


@schema.parametrize()
@settings(max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_showcase_conforms_to_its_spec(case: schemathesis.Case) -> None:
    case.call_and_validate(excluded_checks=excluded(case))
