"""JSON Schemas of the RFC 9457 problem documents every celeris error renders as."""

from __future__ import annotations

from typing import Any, Final

__all__ = [
    "PROBLEM",
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_SCHEMA",
    "VALIDATION_PROBLEM",
    "VALIDATION_PROBLEM_SCHEMA",
    "problem_components",
]

PROBLEM_MEDIA_TYPE: Final = "application/problem+json"
PROBLEM: Final = "Problem"
VALIDATION_PROBLEM: Final = "ValidationProblem"

PROBLEM_SCHEMA: Final[dict[str, Any]] = {
    "title": "Problem",
    "description": "An RFC 9457 problem document.",
    "type": "object",
    "properties": {
        "type": {"type": "string", "description": "A URI reference naming the problem type."},
        "title": {"type": "string", "description": "A short summary of the problem type."},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "detail": {"type": "string", "description": "What went wrong in this occurrence."},
        "instance": {"type": "string"},
    },
    "required": ["type", "title", "status"],
}

VALIDATION_ERROR_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "loc": {
            "type": "array",
            "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "description": "Where the bad value is: its source, then names and indexes.",
        },
        "msg": {"type": "string"},
        "type": {"type": "string"},
    },
    "required": ["loc", "msg", "type"],
}

VALIDATION_PROBLEM_SCHEMA: Final[dict[str, Any]] = {
    "title": "ValidationProblem",
    "description": "A 422 problem listing every value that failed validation.",
    "type": "object",
    "properties": {
        **PROBLEM_SCHEMA["properties"],
        "errors": {"type": "array", "items": VALIDATION_ERROR_SCHEMA},
    },
    "required": ["type", "title", "status", "errors"],
}


def problem_components() -> dict[str, dict[str, Any]]:
    """Return the component schemas for problems, keyed by their component names."""
    return {PROBLEM: dict(PROBLEM_SCHEMA), VALIDATION_PROBLEM: dict(VALIDATION_PROBLEM_SCHEMA)}
