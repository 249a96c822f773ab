"""``auth.current_user``, ``auth.optional_user``, ``auth.requires(...)``: route dependencies.

Each is a security scheme, so the route's OpenAPI operation names it (with the permissions
required as its scopes) and documents 401 and 403. The user is found once per request by the
auth step, which runs before the handler and its dependencies and sets ``request.state.user``
(the rate limiter's ``key="user"`` reads it).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote as url_quote

from celeris.core.errors import HTTPError
from celeris.core.pipeline import Step
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.core.signature import Kind, Plan
from celeris.openapi import spec
from celeris.openapi.security import SecurityScheme, quote

if TYPE_CHECKING:
    from celeris.auth.manager import Auth

__all__ = ["AuthStep", "UserDependency", "prefers_html", "uses_auth"]


def prefers_html(request: Request) -> bool:
    """Tell whether the client is a browser asking for a page (not an API client)."""
    accept = request.headers.get("accept", "")
    html = accept.find("text/html")
    if html < 0:
        return False
    json = accept.find("json")
    return json < 0 or html < json


class UserDependency(SecurityScheme):
    """The signed-in user (``required``), or None (optional); with ``permissions``, 403 without."""

    __slots__ = ("auth", "permissions", "required")

    def __init__(self, auth: Auth, *, required: bool, permissions: tuple[str, ...] = ()) -> None:
        super().__init__(scheme_name="celerisAuth", description=auth.scheme_description)
        self.auth = auth
        self.required = required
        self.permissions = permissions
        self.scopes = permissions

    @property
    def challenge(self) -> str:  # type: ignore[override]
        """Return the ``WWW-Authenticate`` value."""
        return f"{self.auth.token_keyword} realm={quote(self.auth.realm)}"

    def openapi(self) -> spec.SecurityScheme:
        """Describe the token scheme (the session cookie is the browser's equivalent)."""
        if self.auth.token_keyword.lower() == "bearer":
            return spec.SecurityScheme(
                type="http", scheme="bearer", description=self.auth.scheme_description
            )
        return spec.SecurityScheme(
            type="apiKey",
            name="Authorization",
            location="header",
            description=self.auth.scheme_description,
        )

    async def __call__(self, request: Request) -> Any:
        """Return the user, or answer 401 / a login redirect / 403."""
        state = request.state
        if "user" not in state:
            await self.auth.authenticate(request)
        user = state.user
        if user is None:
            if not self.required:
                return None
            raise self.denied(request)
        if self.permissions:
            await self.auth.check(request, user, *self.permissions)
        return user

    def denied(self, request: Request) -> HTTPError:
        """Return the answer to an anonymous request: a login redirect for browsers, else 401."""
        error = request.state.get("auth_error")
        if error is None and request.method in ("GET", "HEAD") and prefers_html(request):
            target = request.path + (f"?{request.url.query}" if request.url.query else "")
            location = f"{self.auth.login_url}?next={url_quote(target, safe='')}"
            return HTTPError(303, "Sign in to see this page.", headers={"Location": location})
        if error is not None:
            challenge = f'{self.challenge}, error="invalid_token", error_description={quote(error)}'
            return self.unauthorized(f"Invalid credentials: {error}", challenge)
        return self.unauthorized("Authentication required.")


def _walk(plan: Plan | None) -> Iterator[Any]:
    if plan is None:
        return
    for info in (*plan.dependencies, *plan.params):
        if info.kind is Kind.DEPENDENCY:
            yield getattr(info.marker, "dependency", None)
            yield from _walk(info.dependency)


def uses_auth(plan: Plan | None, auth: Auth) -> list[UserDependency]:
    """Return this auth's user dependencies among a route plan's (nested) dependencies."""
    return [d for d in _walk(plan) if isinstance(d, UserDependency) and d.auth is auth]


class AuthStep(Step):
    """Find the request's user before the handler (and before a rate limit keyed by user)."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth

    async def before(self, request: Request) -> Response | None:
        await self.auth.authenticate(request)
        return None
