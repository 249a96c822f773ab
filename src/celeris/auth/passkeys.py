"""Passkeys (WebAuthn, the ``webauthn`` package): register one while signed in, sign in with it.

The challenge of each ceremony lives in the session for two minutes and is spent on first use;
the relying party is ``Auth(passkey_rp_id=..., passkey_origins=[...])``, else the request's own
host and origin. A sign-in with a passkey needs no password and no TOTP code: the
authenticator proved possession and (with user verification) the user.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
import webauthn
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from celeris.auth.errors import PasskeyError
from celeris.auth.models import Passkey
from celeris.core.requests import Request

if TYPE_CHECKING:
    from celeris.auth.manager import Auth

__all__ = ["PasskeyError", "Passkeys"]

CHALLENGE_KEY = "_auth_webauthn"  # [ceremony, challenge (base64url), deadline]
CHALLENGE_SECONDS = 120


def _user_handle(user_id: int) -> bytes:
    return f"celeris-user-{user_id}".encode()


class Passkeys:
    """WebAuthn registration and sign-in for one ``Auth``."""

    def __init__(
        self, auth: Auth, *, rp_id: str | None, rp_name: str, origins: list[str] | None
    ) -> None:
        self.auth = auth
        self.rp_id = rp_id
        self.rp_name = rp_name
        self.origins = origins

    def _rp(self, request: Request) -> tuple[str, list[str]]:
        url = request.url
        rp_id = self.rp_id or (url.hostname or "localhost")
        origin = f"{url.scheme}://{url.netloc}"
        return rp_id, self.origins or [origin]

    def _remember(self, request: Request, ceremony: str, challenge: bytes) -> None:
        request.session[CHALLENGE_KEY] = [
            ceremony,
            bytes_to_base64url(challenge),
            time.time() + CHALLENGE_SECONDS,
        ]

    def _challenge(self, request: Request, ceremony: str) -> bytes:
        # SECURITY: a challenge is spent by its first use, whatever the outcome.
        entry = request.session.pop(CHALLENGE_KEY, None)
        if not (
            isinstance(entry, list)
            and len(entry) == 3
            and entry[0] == ceremony
            and entry[2] > time.time()
        ):
            raise PasskeyError("No passkey ceremony is under way; start again.")
        return webauthn.base64url_to_bytes(entry[1])

    async def registration_options(self, request: Request, user: Any) -> str:
        """Return the JSON options of ``navigator.credentials.create`` for ``user``."""
        rp_id, _ = self._rp(request)
        existing = await self.list(user)
        options = webauthn.generate_registration_options(
            rp_id=rp_id,
            rp_name=self.rp_name,
            user_id=_user_handle(user.id),
            user_name=user.email,
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.REQUIRED,
                user_verification=UserVerificationRequirement.PREFERRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=key.credential_id) for key in existing
            ],
        )
        self._remember(request, "register", options.challenge)
        return webauthn.options_to_json(options)

    async def register(self, request: Request, user: Any, credential: Any, name: str) -> Passkey:
        """Verify the browser's new credential and store its public key."""
        challenge = self._challenge(request, "register")
        rp_id, origins = self._rp(request)
        try:
            verified = webauthn.verify_registration_response(
                credential=credential,
                expected_challenge=challenge,
                expected_rp_id=rp_id,
                expected_origin=origins,
            )
        except (InvalidRegistrationResponse, ValueError, KeyError, TypeError) as exc:
            raise PasskeyError(f"The passkey was not accepted: {exc}") from None
        key = Passkey(
            user_id=user.id,
            credential_id=verified.credential_id,
            public_key=verified.credential_public_key,
            sign_count=verified.sign_count,
            name=(name or "passkey")[:100],
        )
        async with self.auth.db.scope() as db:
            db.add(key)
        return key

    def authentication_options(self, request: Request) -> str:
        """Return the JSON options of ``navigator.credentials.get`` (discoverable passkeys)."""
        rp_id, _ = self._rp(request)
        options = webauthn.generate_authentication_options(
            rp_id=rp_id, user_verification=UserVerificationRequirement.PREFERRED
        )
        self._remember(request, "login", options.challenge)
        return webauthn.options_to_json(options)

    async def authenticate(self, request: Request, credential: Any) -> Any:
        """Verify a passkey assertion and return its active user (the sign count moves on)."""
        challenge = self._challenge(request, "login")
        if not isinstance(credential, dict) or not isinstance(credential.get("rawId"), str):
            raise PasskeyError("The passkey answer is malformed.")
        try:
            credential_id = webauthn.base64url_to_bytes(credential["rawId"])
        except ValueError:
            raise PasskeyError("The passkey answer is malformed.") from None
        async with self.auth.db.scope() as db:
            key = (
                await db.execute(sa.select(Passkey).where(Passkey.credential_id == credential_id))
            ).scalar_one_or_none()
            if key is None:
                raise PasskeyError("This passkey is not registered here.")
            rp_id, origins = self._rp(request)
            try:
                verified = webauthn.verify_authentication_response(
                    credential=credential,
                    expected_challenge=challenge,
                    expected_rp_id=rp_id,
                    expected_origin=origins,
                    credential_public_key=key.public_key,
                    credential_current_sign_count=key.sign_count,
                )
            except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError) as exc:
                raise PasskeyError(f"The passkey was not accepted: {exc}") from None
            key.sign_count = verified.new_sign_count
            user_id = key.user_id
        user = await self.auth.get_user(user_id)
        if user is None or not user.is_active:
            raise PasskeyError("This passkey is not registered here.")
        return user

    async def list(self, user: Any) -> list[Passkey]:
        """Return ``user``'s passkeys."""
        async with self.auth.reader() as db:
            rows = await db.execute(
                sa.select(Passkey).where(Passkey.user_id == user.id).order_by(Passkey.id)
            )
            return list(rows.scalars())

    async def delete(self, user: Any, passkey_id: int) -> bool:
        """Remove one of ``user``'s passkeys; False if it is not theirs."""
        async with self.auth.db.scope() as db:
            done = await db.execute(
                sa.delete(Passkey).where(Passkey.id == passkey_id, Passkey.user_id == user.id)
            )
            return bool(done.rowcount == 1)  # type: ignore[attr-defined]
