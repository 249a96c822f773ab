"""A small JSON Web Token helper on PyJWT: issue and verify signed tokens.

``JWT(secret).encode({"sub": "alice"})`` adds ``iat``/``exp`` (and ``iss``/``aud`` when
configured); ``decode(token)`` verifies signature, expiry, issuer and audience and raises
``InvalidToken`` with a reason safe to show a client. Pair it with ``HTTPBearer``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import jwt as pyjwt

from celeris.core.requests import Request
from celeris.openapi.security import HTTPBearer, authorization, quote

__all__ = ["JWT", "InvalidToken", "JWTBearer"]

# SECURITY: "none" is never accepted; asymmetric and HMAC families are never mixed.
_HMAC = ("HS256", "HS384", "HS512")
_ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512")


class InvalidToken(ValueError):
    """A token that is malformed, badly signed, expired or meant for someone else."""


class JWT:
    """Issue and verify JWTs with one key, one algorithm and fixed claims policy."""

    __slots__ = (
        "_decode_key",
        "_encode_key",
        "algorithm",
        "audience",
        "expires_in",
        "issuer",
        "leeway",
    )

    def __init__(
        self,
        secret: str | bytes,
        *,
        algorithm: str = "HS256",
        public_key: str | bytes | None = None,
        expires_in: float | None = 3600.0,
        issuer: str | None = None,
        audience: str | Sequence[str] | None = None,
        leeway: float = 0.0,
    ) -> None:
        if algorithm not in _HMAC + _ASYMMETRIC:
            raise ValueError(f"celeris.openapi.E020: unsupported JWT algorithm {algorithm!r}")
        if algorithm in _HMAC and len(secret) < 32:
            # SECURITY: RFC 7518 3.2 wants an HMAC key at least as long as the hash.
            raise ValueError("celeris.openapi.E021: a JWT HMAC secret must be 32 bytes or more")
        if algorithm in _ASYMMETRIC and public_key is None:
            raise ValueError("celeris.openapi.E022: pass public_key= to verify asymmetric JWTs")
        self.algorithm = algorithm
        self._encode_key = secret
        self._decode_key = public_key if public_key is not None else secret
        self.expires_in = expires_in
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway

    def encode(self, claims: Mapping[str, Any], *, expires_in: float | None = None) -> str:
        """Return a signed token carrying ``claims`` plus ``iat``, ``exp``, ``iss``, ``aud``."""
        now = int(time.time())
        payload: dict[str, Any] = {"iat": now}
        lifetime = expires_in if expires_in is not None else self.expires_in
        if lifetime is not None:
            payload["exp"] = now + int(lifetime)
        if self.issuer is not None:
            payload["iss"] = self.issuer
        if self.audience is not None:
            payload["aud"] = self.audience
        payload.update(claims)
        return pyjwt.encode(payload, self._encode_key, algorithm=self.algorithm)

    def decode(self, token: str) -> dict[str, Any]:
        """Return the verified claims of ``token`` or raise ``InvalidToken``."""
        required = ["exp"] if self.expires_in is not None else []
        try:
            claims: dict[str, Any] = pyjwt.decode(
                token,
                self._decode_key,
                algorithms=[self.algorithm],
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={"require": required},
            )
        except pyjwt.ExpiredSignatureError:
            raise InvalidToken("token expired") from None
        except pyjwt.InvalidAudienceError:
            raise InvalidToken("token audience is not accepted") from None
        except pyjwt.InvalidIssuerError:
            raise InvalidToken("token issuer is not accepted") from None
        except pyjwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"token lacks the {exc.claim!r} claim") from None
        except pyjwt.InvalidSignatureError:
            raise InvalidToken("token signature is invalid") from None
        except pyjwt.InvalidTokenError:
            raise InvalidToken("token is malformed") from None
        return claims


class JWTBearer(HTTPBearer):
    """A bearer token that must be a valid JWT; gives its verified claims.

    ``keyword="JWT"`` (or ``"Token"``) reads ``Authorization: JWT <token>`` instead.
    """

    __slots__ = ("jwt",)

    def __init__(
        self,
        jwt: JWT,
        *,
        keyword: str = "Bearer",
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(
            bearer_format="JWT",
            keyword=keyword,
            scheme_name=scheme_name,
            description=description,
            auto_error=auto_error,
        )
        self.jwt = jwt

    async def __call__(self, request: Request) -> dict[str, Any] | None:  # type: ignore[override]
        """Return the verified claims of the request's bearer JWT."""
        token = authorization(request, self.keyword)
        if token is None:
            if self.auto_error:
                raise self.unauthorized(self.missing_detail())
            return None
        try:
            return self.jwt.decode(token)
        except InvalidToken as exc:
            if not self.auto_error:
                return None
            challenge = f'{self.keyword} error="invalid_token", error_description={quote(str(exc))}'
            what = "bearer token" if self.keyword.lower() == "bearer" else "token"
            raise self.unauthorized(f"Invalid {what}: {exc}", challenge) from None
