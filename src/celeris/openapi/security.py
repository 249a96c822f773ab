"""Security schemes: dependencies that read credentials and describe themselves in OpenAPI.

Use an instance with ``Depends``: ``token: Annotated[str, Depends(HTTPBearer())]``. A missing
or malformed credential raises a 401 problem with ``WWW-Authenticate`` (or, with
``auto_error=False``, gives ``None``). ``JWTBearer`` lives in ``celeris.openapi.jwt``. The generator finds schemes among a route's
dependencies and adds them to ``components.securitySchemes`` and the operation's
``security``. Checking *who* the credentials belong to is the application's job.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import NamedTuple

from celeris.core.errors import HTTPError
from celeris.core.requests import Request
from celeris.openapi import spec

__all__ = [
    "APIKeyCookie",
    "APIKeyHeader",
    "APIKeyQuery",
    "BasicCredentials",
    "HTTPBasic",
    "HTTPBearer",
    "OAuth2PasswordBearer",
    "SecurityScheme",
    "authorization",
    "quote",
]


class BasicCredentials(NamedTuple):
    """A username and password from HTTP Basic authentication."""

    username: str
    password: str


def quote(value: str) -> str:
    """Return ``value`` as an HTTP quoted-string."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class SecurityScheme:
    """Base of every scheme: its OpenAPI name, description and 401 behaviour."""

    __slots__ = ("auto_error", "description", "scheme_name", "scopes")

    challenge = "Bearer"

    def __init__(
        self,
        *,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.scheme_name = scheme_name or type(self).__name__
        self.description = description
        self.auto_error = auto_error
        self.scopes: tuple[str, ...] = ()

    def openapi(self) -> spec.SecurityScheme:
        """Return this scheme's OpenAPI Security Scheme object."""
        raise NotImplementedError

    def unauthorized(self, detail: str, challenge: str | None = None) -> HTTPError:
        """Return the 401 error to raise, with its ``WWW-Authenticate`` challenge."""
        return HTTPError(401, detail, headers={"WWW-Authenticate": challenge or self.challenge})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scheme_name={self.scheme_name!r})"


def authorization(request: Request, scheme: str) -> str | None:
    """Return the credentials of an ``Authorization: <scheme> <credentials>`` header."""
    header: str | None = request.headers.get("authorization")
    if not header:
        return None
    kind, _, credentials = header.strip().partition(" ")
    if kind.lower() != scheme.lower() or not credentials.strip():
        return None
    return credentials.strip()


class HTTPBearer(SecurityScheme):
    """``Authorization: Bearer <token>``; gives the token.

    ``keyword="Token"`` reads ``Authorization: Token <token>`` instead (Django REST
    framework's style); OpenAPI then describes it as an API key in the Authorization header,
    since ``http`` schemes other than the registered ``bearer`` mean nothing to clients.
    """

    __slots__ = ("bearer_format", "keyword")

    def __init__(
        self,
        *,
        bearer_format: str | None = None,
        keyword: str = "Bearer",
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        if not keyword or any(c.isspace() for c in keyword):
            raise ValueError(
                f"celeris.openapi.E031: the Authorization keyword {keyword!r} must be one word"
            )
        super().__init__(scheme_name=scheme_name, description=description, auto_error=auto_error)
        self.bearer_format = bearer_format
        self.keyword = keyword

    @property
    def challenge(self) -> str:  # type: ignore[override]
        """Return the ``WWW-Authenticate`` value: the keyword."""
        return self.keyword

    def openapi(self) -> spec.SecurityScheme:
        """Return an ``http`` ``bearer`` scheme (an ``apiKey`` one for another keyword)."""
        if self.keyword.lower() != "bearer":
            return spec.SecurityScheme(
                type="apiKey",
                name="Authorization",
                location="header",
                description=self.description or f"`Authorization: {self.keyword} <token>`",
            )
        return spec.SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format=self.bearer_format,
            description=self.description,
        )

    async def __call__(self, request: Request) -> str | None:
        """Return the bearer token of the request."""
        token = authorization(request, self.keyword)
        if token is None and self.auto_error:
            raise self.unauthorized(self.missing_detail())
        return token

    def missing_detail(self) -> str:
        """Return the 401 detail for a request without a token of this keyword."""
        if self.keyword.lower() == "bearer":
            return "Missing or malformed bearer token"
        return f"Missing or malformed token (expected 'Authorization: {self.keyword} <token>')"


class HTTPBasic(SecurityScheme):
    """``Authorization: Basic <base64(user:password)>``; gives ``BasicCredentials``."""

    __slots__ = ("realm",)

    def __init__(
        self,
        *,
        realm: str | None = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(scheme_name=scheme_name, description=description, auto_error=auto_error)
        self.realm = realm

    @property
    def challenge(self) -> str:  # type: ignore[override]
        """Return the ``WWW-Authenticate`` value."""
        realm = f" realm={quote(self.realm)}" if self.realm else ""
        return f'Basic{realm}, charset="UTF-8"'

    def openapi(self) -> spec.SecurityScheme:
        """Return an ``http`` ``basic`` scheme."""
        return spec.SecurityScheme(type="http", scheme="basic", description=self.description)

    async def __call__(self, request: Request) -> BasicCredentials | None:
        """Return the username and password of the request."""
        encoded = authorization(request, "Basic")
        if encoded is None:
            if self.auto_error:
                raise self.unauthorized("Missing basic credentials")
            return None
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        username, sep, password = decoded.partition(":")
        if not sep:
            if self.auto_error:
                raise self.unauthorized("Malformed basic credentials")
            return None
        return BasicCredentials(username, password)


class _APIKey(SecurityScheme):
    """An API key read from one header, query parameter or cookie."""

    __slots__ = ("name",)

    location = "header"

    def __init__(
        self,
        name: str,
        *,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        if not name:
            raise ValueError("celeris.openapi.E030: an API key scheme needs the key's name")
        super().__init__(scheme_name=scheme_name, description=description, auto_error=auto_error)
        self.name = name

    @property
    def challenge(self) -> str:  # type: ignore[override]
        """Return the ``WWW-Authenticate`` value naming where the key goes."""
        return f"APIKey {self.location}={quote(self.name)}"

    def openapi(self) -> spec.SecurityScheme:
        """Return an ``apiKey`` scheme."""
        return spec.SecurityScheme(
            type="apiKey", name=self.name, location=self.location, description=self.description
        )

    def _read(self, request: Request) -> str | None:
        raise NotImplementedError

    async def __call__(self, request: Request) -> str | None:
        """Return the API key of the request."""
        key = self._read(request)
        if not key and self.auto_error:
            raise self.unauthorized(f"Missing API key {self.name!r} in the {self.location}")
        return key or None


class APIKeyHeader(_APIKey):
    """An API key in a request header (``APIKeyHeader("X-API-Key")``)."""

    __slots__ = ()
    location = "header"

    def _read(self, request: Request) -> str | None:
        value: str | None = request.headers.get(self.name.lower())
        return value


class APIKeyQuery(_APIKey):
    """An API key in a query parameter (``APIKeyQuery("api_key")``)."""

    __slots__ = ()
    location = "query"

    def _read(self, request: Request) -> str | None:
        value: str | None = request.query_params.get(self.name)
        return value


class APIKeyCookie(_APIKey):
    """An API key in a cookie (``APIKeyCookie("session")``)."""

    __slots__ = ()
    location = "cookie"

    def _read(self, request: Request) -> str | None:
        value: str | None = request.cookies.get(self.name)
        return value


class OAuth2PasswordBearer(HTTPBearer):
    """A bearer token obtained from ``token_url`` with the OAuth2 password flow."""

    __slots__ = ("available_scopes", "refresh_url", "token_url")

    def __init__(
        self,
        token_url: str,
        *,
        scopes: Mapping[str, str] | None = None,
        refresh_url: str | None = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(scheme_name=scheme_name, description=description, auto_error=auto_error)
        self.token_url = token_url
        self.refresh_url = refresh_url
        self.available_scopes = dict(scopes or {})

    def openapi(self) -> spec.SecurityScheme:
        """Return an ``oauth2`` scheme with a password flow."""
        flow = spec.OAuthFlow(
            token_url=self.token_url,
            refresh_url=self.refresh_url,
            scopes=dict(self.available_scopes),
        )
        return spec.SecurityScheme(
            type="oauth2", flows=spec.OAuthFlows(password=flow), description=self.description
        )
