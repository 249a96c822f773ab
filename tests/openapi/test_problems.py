"""Problem document schemas."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from celeris.openapi.problems import PROBLEM, VALIDATION_PROBLEM, problem_components


def test_schemas_accept_what_celeris_renders() -> None:
    components = problem_components()
    Draft202012Validator.check_schema(components[PROBLEM])
    problem = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "No such item"}
    assert Draft202012Validator(components[PROBLEM]).is_valid(problem)
    invalid = {
        **problem,
        "status": 422,
        "title": "Unprocessable Content",
        "errors": [{"loc": ["query", "limit", 0], "msg": "Expected `int`", "type": "type_error"}],
    }
    assert Draft202012Validator(components[VALIDATION_PROBLEM]).is_valid(invalid)
    assert not Draft202012Validator(components[VALIDATION_PROBLEM]).is_valid(problem)
    assert not Draft202012Validator(components[PROBLEM]).is_valid({"title": "x"})
