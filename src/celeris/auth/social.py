"""Social login: OAuth2 / OpenID Connect providers (authlib for the protocol, joserfc for ID tokens).

``auth.social.register("google", client_id=..., client_secret=...,
server_metadata_url="https://accounts.google.com/.well-known/openid-configuration")`` adds
``GET /auth/oauth/google/login`` and ``/auth/oauth/google/callback``. The flow is the
authorization code with PKCE, a state and a nonce kept in the session; the ID token is verified
against the provider's keys, issuer, audience, expiry and nonce. An account is linked by the
provider's subject; a new subject joins an existing account only through an email address the
provider says it verified.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy as sa
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from celeris.auth.emails import EmailInvalid, normalize_email
from celeris.auth.errors import SignupError, SocialLoginError
from celeris.auth.models import SocialAccount
from celeris.core.requests import Request

if TYPE_CHECKING:
    from celeris.auth.manager import Auth

__all__ = ["Provider", "Social", "SocialLoginError"]

STATE_KEY = "_auth_oauth"  # [provider, state, nonce, code verifier, next, deadline]
FLOW_SECONDS = 600


@dataclass
class Provider:
    """One OpenID Connect provider and this app's client registration with it."""

    name: str
    client_id: str
    client_secret: str
    server_metadata_url: str
    scope: str = "openid email profile"
    client_kwargs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] | None = None
    keys: KeySet | None = None

    def client(self) -> httpx.AsyncClient:
        """Return an HTTP client for the provider (``client_kwargs``: timeouts, a transport)."""
        options = {"timeout": 10.0, **self.client_kwargs}
        return httpx.AsyncClient(**options)

    async def load(self) -> dict[str, Any]:
        """Fetch (once) the provider's discovery document and signing keys."""
        if self.metadata is None:
            async with self.client() as http:
                metadata = (await http.get(self.server_metadata_url)).raise_for_status().json()
                jwks = (await http.get(metadata["jwks_uri"])).raise_for_status().json()
            self.keys = KeySet.import_key_set(jwks)
            self.metadata = metadata
        return self.metadata


class Social:
    """The registered providers of one ``Auth`` and the two steps of their flow."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth
        self.providers: dict[str, Provider] = {}

    def register(
        self,
        name: str,
        *,
        client_id: str,
        client_secret: str,
        server_metadata_url: str,
        scope: str = "openid email profile",
        client_kwargs: dict[str, Any] | None = None,
    ) -> Provider:
        """Add an OpenID Connect provider under ``name`` (its routes use that name)."""
        if not name.isidentifier():
            raise ValueError(f"auth.E004: a provider name is a plain word, not {name!r}")
        provider = Provider(
            name, client_id, client_secret, server_metadata_url, scope, dict(client_kwargs or {})
        )
        self.providers[name] = provider
        return provider

    def _provider(self, name: str) -> Provider:
        provider = self.providers.get(name)
        if provider is None:
            raise SocialLoginError(f"No sign-in provider is called {name!r}.")
        return provider

    def _redirect_uri(self, request: Request, name: str) -> str:
        base = str(request.base_url).rstrip("/")
        return f"{base}{self.auth.prefix}/oauth/{name}/callback"

    async def authorization_url(self, request: Request, name: str, next_path: str) -> str:
        """Return the provider's sign-in URL; the state, nonce and PKCE verifier go to the session."""
        provider = self._provider(name)
        metadata = await provider.load()
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        request.session[STATE_KEY] = [
            name,
            state,
            nonce,
            verifier,
            next_path,
            time.time() + FLOW_SECONDS,
        ]
        return str(
            prepare_grant_uri(
                metadata["authorization_endpoint"],
                provider.client_id,
                "code",
                redirect_uri=self._redirect_uri(request, name),
                scope=provider.scope,
                state=state,
                nonce=nonce,
                code_challenge=create_s256_code_challenge(verifier),
                code_challenge_method="S256",
            )
        )

    async def callback(self, request: Request, name: str) -> tuple[Any, str]:
        """Finish the flow: return (the user to sign in, where to go next)."""
        provider = self._provider(name)
        # SECURITY: the state is spent now, whatever happens next.
        entry = request.session.pop(STATE_KEY, None)
        query = request.query_params
        if not (isinstance(entry, list) and len(entry) == 6 and entry[0] == name):
            raise SocialLoginError("This sign-in was not started here; start again.")
        _, state, nonce, verifier, next_path, deadline = entry
        if deadline < time.time() or not hmac.compare_digest(query.get("state") or "", state):
            raise SocialLoginError("This sign-in expired or was tampered with; start again.")
        if query.get("error"):
            raise SocialLoginError(f"The provider refused: {query.get('error')}.")
        code = query.get("code")
        if not code:
            raise SocialLoginError("The provider sent no code.")
        claims = await self._exchange(request, provider, code, verifier, nonce)
        return await self._user_for(provider, claims), next_path

    async def _exchange(
        self, request: Request, provider: Provider, code: str, verifier: str, nonce: str
    ) -> dict[str, Any]:
        metadata = await provider.load()
        try:
            async with provider.client() as http:
                answer = await http.post(
                    metadata["token_endpoint"],
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": self._redirect_uri(request, provider.name),
                        "code_verifier": verifier,
                    },
                    auth=(provider.client_id, provider.client_secret),
                    headers={"accept": "application/json"},
                )
            answer.raise_for_status()
            id_token = answer.json()["id_token"]
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            raise SocialLoginError(f"The provider's token endpoint failed: {exc}") from None
        assert provider.keys is not None
        try:
            token = jwt.decode(id_token, provider.keys, algorithms=["RS256", "ES256", "PS256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": metadata["issuer"]},
                aud={"essential": True, "value": provider.client_id},
                sub={"essential": True},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise SocialLoginError(f"The provider's ID token is not valid: {exc}") from None
        return dict(token.claims)

    async def _user_for(self, provider: Provider, claims: dict[str, Any]) -> Any:
        auth = self.auth
        subject = str(claims["sub"])
        async with auth.reader() as db:
            link = (
                await db.execute(
                    sa.select(SocialAccount).where(
                        SocialAccount.provider == provider.name, SocialAccount.subject == subject
                    )
                )
            ).scalar_one_or_none()
        if link is not None:
            user = await auth.get_user(link.user_id)
            if user is None or not user.is_active:
                raise SocialLoginError("This account is disabled.")
            return user
        email = claims.get("email")
        # SECURITY: an address the provider has not verified could be anyone's: it neither
        # joins an existing account nor creates one.
        if not isinstance(email, str) or claims.get("email_verified") is not True:
            raise SocialLoginError("The provider did not confirm your email address.")
        try:
            normalize_email(email)
        except EmailInvalid as exc:
            raise SocialLoginError(str(exc)) from None
        user = await auth.get_user_by_email(email)
        if user is None:
            try:
                user = await auth.create_user(email, None, email_verified=True)
            except SignupError:  # created meanwhile by another request
                user = await auth.get_user_by_email(email)
        if user is None or not user.is_active:
            raise SocialLoginError("This account is disabled.")
        async with auth.db.scope() as db:
            db.add(SocialAccount(user_id=user.id, provider=provider.name, subject=subject))
        return user
