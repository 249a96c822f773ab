"""What the auth routes answer, as OpenAPI data for their ``responses=`` and ``openapi_extra=``.

The handlers read their bodies themselves (a form from a browser, JSON from an API client,
the same fields), and answer a page or a redirect to a browser and JSON to an API client:
their signatures show none of it, so each route declares it here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from celeris.openapi.problems import PROBLEM, PROBLEM_MEDIA_TYPE
from celeris.openapi.schema import REF_PREFIX

__all__ = ["answers", "body", "query"]

_HTML: Final[dict[str, Any]] = {"text/html": {"schema": {"type": "string"}}}
_PROBLEM: Final[dict[str, Any]] = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": REF_PREFIX + PROBLEM}}}
_STRING: Final[dict[str, Any]] = {"type": "string"}
_BOOL: Final[dict[str, Any]] = {"type": "boolean"}
_LOCATION: Final[dict[str, Any]] = {"Location": {"schema": _STRING, "required": True}}
_RETRY: Final[dict[str, Any]] = {"Retry-After": {"schema": _STRING}}
_INPUTS: Final = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")

USER: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "email": _STRING,
        "email_verified": {"type": "boolean"},
    },
    "required": ["id", "email", "email_verified"],
}
TOKEN: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": _STRING,
        "prefix": _STRING,
        "scopes": {"type": "array", "items": _STRING},
        "created": {"type": ["string", "null"]},
        "expires": {"type": ["string", "null"]},
        "last_used": {"type": ["string", "null"]},
    },
}
JWT_PAIR: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"access_token": _STRING, "refresh_token": _STRING, "token_type": _STRING},
}
DEVICES: Final[dict[str, Any]] = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"kind": _STRING, "label": _STRING, "created": _STRING},
    },
}
DETAIL: Final[dict[str, Any]] = {"type": "object", "properties": {"detail": _STRING}}
OBJECT: Final[dict[str, Any]] = {"type": "object"}
VERIFIED: Final[dict[str, Any]] = {"type": "object", "properties": {"email_verified": _BOOL}}
TWO_FACTOR: Final[dict[str, Any]] = {
    "type": "object",
    "description": "The password is right; finish with POST /2fa and a code.",
    "properties": {"two_factor_required": _BOOL},
}
SENT: Final[dict[str, Any]] = {"type": "object", "properties": {"sent": _BOOL}}
ACCOUNT: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {**USER["properties"], "two_factor": _BOOL, "devices": DEVICES},
    "required": USER["required"],
}
PASSKEY: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"id": {"type": "integer"}, "name": _STRING},
}
PASSKEYS: Final[dict[str, Any]] = {
    "type": "array",
    "items": {"type": "object", "properties": {**PASSKEY["properties"], "created": _STRING}},
}
ENROLLMENT: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"secret": _STRING, "uri": _STRING, "qr_svg": _STRING},
}
CODES: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"recovery_codes": {"type": "array", "items": _STRING}},
}
NEW_TOKEN: Final[dict[str, Any]] = {
    "type": "object",
    "properties": {"token": _STRING, **TOKEN["properties"]},
}
CREDENTIAL: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "credential": {
                            "type": "object",
                            "description": "The browser's WebAuthn answer (PublicKeyCredential).",
                        },
                        "name": {"type": "string", "description": "A label for a new passkey."},
                    },
                    "required": ["credential"],
                }
            }
        },
    }
}

# what each status means when the battery answers it, whatever the route
_MEANINGS: Final[dict[int, str]] = {
    204: "Done (API clients).",
    303: "Done, or sign in first: the browser is sent on (`Location`).",
    400: "Malformed body, or the request cannot be honoured (wrong password, bad code or link).",
    401: "Not authenticated, or the credential is wrong.",
    403: "Not allowed (an unconfirmed address, or a personal token where a sign-in is needed).",
    404: "Not found, or that flow is turned off.",
    409: "Conflict with the account's state.",
    413: "The body is too large.",
    422: "A field is missing or invalid.",
    429: "Too many attempts: wait `Retry-After` seconds.",
    503: "The attempt counter is unreachable: try again shortly.",
}


def body(*required: str, **optional: str) -> dict[str, Any]:
    """Return ``openapi_extra=`` declaring a body of string fields, as JSON or as a form.

    ``required`` fields must be there and not empty; ``optional`` ones map to a description.
    """
    properties: dict[str, Any] = {name: {"type": "string", "minLength": 1} for name in required}
    properties.update({name: {"type": "string", "description": d} for name, d in optional.items()})
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return {
        "requestBody": {
            "required": bool(required),
            "content": {media: {"schema": schema} for media in _INPUTS},
        }
    }


def query(**described: str) -> dict[str, Any]:
    """Return ``openapi_extra=`` declaring optional query parameters the handler reads itself."""
    return {
        "parameters": [
            {"name": name, "in": "query", "description": d, "schema": {"type": "string"}}
            for name, d in described.items()
        ]
    }


INPUT: Final = (400, 413, 422)  # what reading a body can answer: malformed, too large, no object
LIMITED: Final = (429, 503)  # what the attempt counter can answer


def answers(
    *problems: int,
    pages: tuple[int, ...] = (),
    json: Mapping[int, Mapping[str, Any] | None] | None = None,
    empty: tuple[int, ...] = (),
) -> dict[int, dict[str, Any]]:
    """Return ``responses=`` for a route of the battery.

    ``problems`` are problem+json answers; ``pages`` are answered with an HTML page too (to a
    browser's form post), ``json`` with a JSON body of that schema (``None``: any), ``empty``
    with no body at all; 303 is a redirect whatever the list.
    """
    out: dict[int, dict[str, Any]] = {}
    for status in sorted({*problems, *pages, *(json or {}), *empty}):
        content: dict[str, Any] = {}
        if status in problems:
            content.update(_PROBLEM)
        if status in pages:
            content.update(_HTML)
        if json and status in json:
            content["application/json"] = {"schema": dict(json[status] or {})}
        response: dict[str, Any] = {"description": _MEANINGS.get(status, "Done.")}
        if status == 303:
            response["headers"] = _LOCATION
        elif status == 429:
            response["headers"] = _RETRY
        if content and status != 303 and status not in empty:
            response["content"] = content
        out[status] = response
    return out


PAGE: Final = answers(pages=(200,))
