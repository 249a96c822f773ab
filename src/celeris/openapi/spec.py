"""The OpenAPI 3.1 document model: typed objects that encode to the spec's JSON shape.

Only what celeris emits is modelled; JSON Schemas stay plain dicts. Unset fields are left
out of the output (``omit_defaults``), and Python names map to the spec's names
(``location`` -> ``in``, ``ref`` -> ``$ref``, snake_case -> camelCase).
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "Components",
    "Contact",
    "Example",
    "Header",
    "Info",
    "License",
    "MediaType",
    "OAuthFlow",
    "OAuthFlows",
    "OpenAPI",
    "Operation",
    "Parameter",
    "PathItem",
    "RequestBody",
    "Response",
    "SecurityScheme",
    "Server",
    "Tag",
]

Schema = dict[str, Any]
SecurityRequirement = dict[str, list[str]]


class _Object(msgspec.Struct, omit_defaults=True, rename="camel", kw_only=True):
    """Base of every spec object."""


class Contact(_Object):
    name: str | None = None
    url: str | None = None
    email: str | None = None


class License(_Object):
    name: str
    identifier: str | None = None
    url: str | None = None


class Info(_Object):
    title: str
    version: str
    summary: str | None = None
    description: str | None = None
    terms_of_service: str | None = None
    contact: Contact | None = None
    license: License | None = None


class Server(_Object):
    url: str
    description: str | None = None


class Example(_Object):
    summary: str | None = None
    description: str | None = None
    value: Any = None


class MediaType(_Object):
    schema: Schema | None = None
    example: Any = msgspec.UNSET
    examples: dict[str, Example] | None = None


class Header(_Object):
    schema: Schema
    description: str | None = None
    required: bool = False


class Parameter(_Object):
    name: str
    location: str = msgspec.field(name="in")
    schema: Schema
    required: bool = False
    description: str | None = None
    deprecated: bool = False
    example: Any = msgspec.UNSET
    style: str | None = None
    explode: bool | None = None


class RequestBody(_Object):
    content: dict[str, MediaType]
    required: bool = False
    description: str | None = None


class Response(_Object):
    description: str
    headers: dict[str, Header] | None = None
    content: dict[str, MediaType] | None = None


class Operation(_Object):
    responses: dict[str, Response]
    operation_id: str | None = None
    tags: list[str] | None = None
    summary: str | None = None
    description: str | None = None
    parameters: list[Parameter] | None = None
    request_body: RequestBody | None = None
    deprecated: bool = False
    security: list[SecurityRequirement] | None = None


class PathItem(_Object):
    summary: str | None = None
    description: str | None = None
    get: Operation | None = None
    put: Operation | None = None
    post: Operation | None = None
    delete: Operation | None = None
    options: Operation | None = None
    head: Operation | None = None
    patch: Operation | None = None
    trace: Operation | None = None


class OAuthFlow(_Object):
    scopes: dict[str, str]  # NOTE: required by the spec even when empty, so no default
    authorization_url: str | None = None
    token_url: str | None = None
    refresh_url: str | None = None


class OAuthFlows(_Object):
    implicit: OAuthFlow | None = None
    password: OAuthFlow | None = None
    client_credentials: OAuthFlow | None = None
    authorization_code: OAuthFlow | None = None


class SecurityScheme(_Object):
    type: str
    description: str | None = None
    name: str | None = None
    location: str | None = msgspec.field(default=None, name="in")
    scheme: str | None = None
    bearer_format: str | None = None
    flows: OAuthFlows | None = None
    open_id_connect_url: str | None = msgspec.field(default=None, name="openIdConnectUrl")


class Components(_Object):
    schemas: dict[str, Schema] | None = None
    security_schemes: dict[str, SecurityScheme] | None = None


class Tag(_Object):
    name: str
    description: str | None = None


class OpenAPI(_Object):
    info: Info
    paths: dict[str, PathItem]
    openapi: str = "3.1.0"
    servers: list[Server] | None = None
    components: Components | None = None
    tags: list[Tag] | None = None
    security: list[SecurityRequirement] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the document as plain JSON-compatible data."""
        # NOTE: ``openapi`` equals its default, which omit_defaults would drop; it is required.
        data: dict[str, Any] = msgspec.to_builtins(self)
        return {"openapi": self.openapi, **data}

    def to_json(self) -> bytes:
        """Return the document encoded as JSON."""
        return msgspec.json.encode(self.to_dict())
