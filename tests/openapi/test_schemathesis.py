"""Property-based: every request schemathesis builds from the spec gets a response the spec allows."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import ignored_auth, negative_data_rejection

from .sample_app import API_KEY, BEARER, app

schema = schemathesis.openapi.from_asgi("/openapi.json", app)

# NOTE: every check runs, request-side ones included: valid data is accepted (1.0 counts as an
# integer) and invalid data refused (strict pydantic bodies, no ``null`` query values, no
# repeated scalar query or form keys, 415 for non-JSON bodies). One exception: a form field
# is text, so a "boolean" or "number" sent in a form is indistinguishable from a valid string.
FORMS = ("multipart/form-data", "application/x-www-form-urlencoded")


def excluded(case: schemathesis.Case) -> list[Any]:
    """Return the checks that cannot judge this case (negative data in a text form)."""
    return [negative_data_rejection] if case.media_type in FORMS else []


@schema.parametrize()
@settings(
    max_examples=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_its_spec(case: schemathesis.Case) -> None:
    case.call_and_validate(excluded_checks=excluded(case))


@schema.parametrize()
@settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_with_valid_credentials(case: schemathesis.Case) -> None:
    headers = {"authorization": f"Bearer {BEARER}", "x-api-key": API_KEY}
    # NOTE: ignored_auth re-sends without credentials, but these headers would be re-added.
    case.call_and_validate(headers=headers, excluded_checks=[*excluded(case), ignored_auth])
