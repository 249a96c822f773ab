"""``auth.router``: the flows (signup, verification, login, second factors, passwords,
devices, tokens, JWT pairs, passkeys, social login), HTML for browsers and JSON for APIs."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from markupsafe import Markup

from celeris.auth.emails import EmailInvalid, normalize_email
from celeris.auth.errors import PasskeyError, SignupError, SocialLoginError
from celeris.auth.models import Passkey
from celeris.auth.openapi import (
    ACCOUNT,
    CODES,
    CREDENTIAL,
    DETAIL,
    ENROLLMENT,
    INPUT,
    JWT_PAIR,
    LIMITED,
    NEW_TOKEN,
    OBJECT,
    PAGE,
    PASSKEY,
    PASSKEYS,
    SENT,
    TWO_FACTOR,
    USER,
    VERIFIED,
    answers,
    body,
    query,
)
from celeris.auth.pages import Pages, problem, read_input, safe_next, wants_html
from celeris.auth.passwords import PasswordTooLong, check_length
from celeris.auth.validators import PasswordInvalid, validate_password
from celeris.core.errors import HTTPError, NotFound
from celeris.core.params import Depends
from celeris.core.requests import Request
from celeris.core.responses import JSONResponse, RedirectResponse, Response
from celeris.core.routing import Router

if TYPE_CHECKING:
    from celeris.auth.manager import Auth

__all__ = ["build_router"]

PASSKEYS_JS = Path(__file__).parent / "static" / "passkeys.js"
_NEXT = "Where to go after signing in: a path on this site (anything else: the default)."
PENDING_KEY = "_auth_pending"  # [user id, session epoch, deadline, next] after the password


class _Flows(Pages):
    """The route handlers, bound to one ``Auth``."""

    # --- signup and verification -------------------------------------------------------------

    async def signup_page(self, request: Request) -> Response:
        if not self.auth.signup_enabled:
            raise NotFound()  # the answer of the POST: no page for a form that cannot succeed
        return self.page(request, "signup")

    async def signup(self, request: Request) -> Response:
        auth = self.auth
        if not auth.signup_enabled:
            raise NotFound()
        await auth.throttle_address(request, "auth.signup")
        data = await read_input(request)
        email, password = data.get("email", ""), data.get("password", "")
        errors: dict[str, list[str]] = {}
        if not email:
            errors["email"] = ["Enter your email address."]
        if not password:
            errors["password"] = ["Choose a password."]
        if not errors:
            try:
                user = await auth.create_user(email, password)
            except SignupError as exc:
                errors[exc.field] = exc.messages
            except PasswordInvalid as exc:
                errors["password"] = exc.messages
            except PasswordTooLong as exc:
                errors["password"] = [str(exc)]
        if errors:
            return self.fail(request, "signup", 422, "The account cannot be created.", errors, data)
        await self.send(
            request, user, "verify", self.link(request, "/verify", auth.signer.make(user, "verify"))
        )
        if not auth.require_verified_email and _has_sessions(request):
            await auth.login(request, user)
        if wants_html(request):
            return RedirectResponse(auth.redirect_after_login, status_code=303)
        return JSONResponse(_public(user), status_code=201)

    async def verify(self, request: Request, token: str = "") -> Response:
        auth = self.auth
        user_id = auth.signer.user_id(token, "verify")
        user = await auth.get_user(user_id) if user_id is not None else None
        if user is None or not auth.signer.check(token, user, "verify"):
            return self.fail(
                request, "message", 400, "This confirmation link is invalid or was used already."
            )
        model = auth.user_model
        async with auth.db.scope() as db:
            await db.execute(
                sa.update(model).where(model.id == user.id).values(email_verified=True)
            )
        if wants_html(request):
            return self.page(request, "message", detail="Your email address is confirmed.")
        return JSONResponse({"email_verified": True})

    async def resend(self, request: Request, user: Any) -> Response:
        auth = self.auth
        await auth.throttle_address(request, "auth.verify.resend")
        if not user.email_verified:
            await self.send(
                request,
                user,
                "verify",
                self.link(request, "/verify", auth.signer.make(user, "verify")),
            )
        if wants_html(request):
            return self.page(
                request, "message", 202, detail="Check your inbox for a confirmation link."
            )
        return JSONResponse({"sent": True}, status_code=202)

    # --- sign in and out ---------------------------------------------------------------------

    async def login_page(self, request: Request) -> Response:
        target = safe_next(request.query_params.get("next"), "")
        return self.page(request, "login", values={"next": target})

    async def login(self, request: Request) -> Response:
        auth = self.auth
        data = await read_input(request)
        email, password = data.get("email", ""), data.get("password", "")
        await auth.throttle(request, email)
        try:
            checked = await auth.check_credentials(email, password) if email and password else None
        except PasswordTooLong as exc:
            return self.fail(request, "login", 422, str(exc), {"password": [str(exc)]}, data)
        if checked is None:
            # SECURITY: one message for unknown address, wrong password and disabled account.
            return self.fail(
                request, "login", 400, "The email address or the password is wrong.", None, data
            )
        user = checked.user
        if auth.require_verified_email and not user.email_verified:
            return self.fail(
                request,
                "login",
                403,
                "Confirm your email address first: check your inbox.",
                None,
                data,
            )
        target = safe_next(data.get("next"), auth.redirect_after_login)
        if checked.second_factor:
            if checked.rehashed is not None:
                await auth.store_hash(user, checked.rehashed)
            # NOTE: the password was right; the session remembers that for five minutes,
            # and only a valid code turns it into a sign-in.
            request.session[PENDING_KEY] = [user.id, user.session_epoch, time.time() + 300, target]
            if wants_html(request):
                return RedirectResponse(f"{auth.prefix}/2fa", status_code=303)
            return JSONResponse({"two_factor_required": True}, status_code=202)
        await auth.login(request, user, rehashed=checked.rehashed)
        if wants_html(request):
            return RedirectResponse(target, status_code=303)
        return JSONResponse(_public(user))

    async def second_factor_page(self, request: Request) -> Response:
        return self.page(request, "two_factor")

    async def second_factor(self, request: Request) -> Response:
        auth = self.auth
        pending = request.session.get(PENDING_KEY)
        if not (isinstance(pending, list) and len(pending) == 4 and pending[2] > time.time()):
            request.session.pop(PENDING_KEY, None)
            return self.fail(request, "login", 400, "Sign in with your password first.")
        user_id, epoch, _, target = pending
        data = await read_input(request)
        await auth.throttle(request, f"2fa:{user_id}")
        if not await auth.two_factor.verify(user_id, data.get("code", "")):
            return self.fail(
                request,
                "two_factor",
                400,
                "That code is wrong or was used already.",
                {"code": ["That code is wrong or was used already."]},
            )
        user = await auth.get_user(user_id)
        del request.session[PENDING_KEY]
        if user is None or not user.is_active or user.session_epoch != epoch:
            return self.fail(request, "login", 400, "Sign in with your password first.")
        await auth.login(request, user)
        if wants_html(request):
            return RedirectResponse(safe_next(target, auth.redirect_after_login), status_code=303)
        return JSONResponse(_public(user))

    async def totp_page(self, request: Request, user: Any) -> Response:
        enabled = await self.auth.two_factor.enabled(user.id)
        return self.page(request, "totp", enabled=enabled, user=user)

    async def totp_setup(self, request: Request, user: Any) -> Response:
        try:
            enrollment = await self.auth.two_factor.begin(user)
        except ValueError as exc:
            raise HTTPError(409, str(exc)) from None
        if wants_html(request):
            return self.page(
                request,
                "totp_setup",
                secret=enrollment.secret,
                qr_svg=Markup(enrollment.qr_svg),
            )
        return JSONResponse(
            {"secret": enrollment.secret, "uri": enrollment.uri, "qr_svg": enrollment.qr_svg},
            headers={"cache-control": "no-store"},
        )

    async def totp_confirm(self, request: Request, user: Any) -> Response:
        data = await read_input(request)
        await self.auth.throttle(request, f"2fa:{user.id}")
        codes = await self.auth.two_factor.confirm(user, data.get("code", ""))
        if codes is None:
            return self.fail(
                request,
                "totp_setup",
                400,
                "That code is wrong; scan the QR code again and type the current code.",
                {"code": ["That code is wrong."]},
            )
        if wants_html(request):
            return self.page(request, "recovery_codes", codes=codes)
        return JSONResponse({"recovery_codes": codes}, headers={"cache-control": "no-store"})

    async def totp_disable(self, request: Request, user: Any) -> Response:
        data = await read_input(request)
        await self.auth.throttle(request, f"2fa:{user.id}")
        if not await self.auth.two_factor.verify(user.id, data.get("code", "")):
            return self.fail(
                request,
                "totp",
                400,
                "That code is wrong.",
                {"code": ["That code is wrong."]},
                enabled=True,
                user=user,
            )
        await self.auth.two_factor.disable(user)
        if wants_html(request):
            return self.page(request, "message", detail="Two-factor authentication is off.")
        return Response(status_code=204)

    async def logout(self, request: Request) -> Response:
        await self.auth.logout(request)
        if wants_html(request):
            return RedirectResponse("/", status_code=303)
        return Response(status_code=204)

    async def sign_out_everywhere(self, request: Request, user: Any) -> Response:
        await self.auth.sign_out_everywhere(user)
        await self.auth.logout(request)
        if wants_html(request):
            return RedirectResponse(self.auth.login_url, status_code=303)
        return Response(status_code=204)

    async def account(self, request: Request, user: Any) -> Response:
        devices = await self.devices(user)
        two_factor = await self.auth.two_factor.enabled(user.id)
        if wants_html(request):
            return self.page(request, "account", user=user, devices=devices, two_factor=two_factor)
        return JSONResponse({**_public(user), "two_factor": two_factor, "devices": devices})

    async def devices(self, user: Any) -> list[dict[str, Any]]:
        """Where the user is signed in: browser sessions, API tokens and passkeys."""
        auth = self.auth
        found = [
            {"kind": d.kind, "label": d.label, "created": d.created.isoformat()}
            for d in await auth.devices(user)
        ]
        found += [
            {"kind": "token", "label": t.name, "created": t.created.isoformat()}
            for t in await auth.tokens(user)
        ]
        async with auth.reader() as db:
            # NOTE: read here rather than through auth.passkeys: no webauthn import for a list
            keys = await db.execute(sa.select(Passkey).where(Passkey.user_id == user.id))
            found += [
                {"kind": "passkey", "label": k.name, "created": k.created.isoformat()}
                for k in keys.scalars()
            ]
        return found

    # --- passwords ---------------------------------------------------------------------------

    async def reset_page(self, request: Request) -> Response:
        return self.page(request, "password_reset")

    async def reset(self, request: Request) -> Response:
        auth = self.auth
        await auth.throttle_address(request, "auth.reset")
        data = await read_input(request)
        email = data.get("email", "")
        try:
            normalize_email(email)
        except EmailInvalid as exc:
            return self.fail(request, "password_reset", 422, str(exc), {"email": [str(exc)]}, data)
        user = await auth.get_user_by_email(email)
        if user is not None and user.is_active:
            link = self.link(request, "/password/reset/confirm", auth.signer.make(user, "reset"))
            await self.send(request, user, "reset", link)
        # SECURITY: the same answer whether or not the address has an account.
        detail = "If an account uses this address, a reset link is on its way."
        if wants_html(request):
            return self.page(request, "message", 202, detail=detail)
        return JSONResponse({"detail": detail}, status_code=202)

    async def reset_confirm_page(self, request: Request, token: str = "") -> Response:
        return self.page(request, "password_reset_confirm", values={"token": token})

    async def reset_confirm(self, request: Request) -> Response:
        auth = self.auth
        data = await read_input(request)
        token, password = data.get("token", ""), data.get("password", "")
        user_id = auth.signer.user_id(token, "reset")
        user = await auth.get_user(user_id) if user_id is not None else None
        if user is None or not auth.signer.check(token, user, "reset"):
            return self.fail(
                request, "message", 400, "This reset link is invalid, expired or was used already."
            )
        try:
            await auth.set_password(user, password)
        except PasswordInvalid as exc:
            return self.fail(
                request,
                "password_reset_confirm",
                422,
                "Choose another password.",
                {"password": exc.messages},
                data,
            )
        except PasswordTooLong as exc:
            return self.fail(
                request, "password_reset_confirm", 422, str(exc), {"password": [str(exc)]}, data
            )
        if wants_html(request):
            return RedirectResponse(auth.login_url, status_code=303)
        return JSONResponse({"detail": "Your password is changed; sign in with it."})

    async def change_page(self, request: Request, user: Any) -> Response:
        return self.page(request, "password_change", user=user)

    async def change(self, request: Request, user: Any) -> Response:
        auth = self.auth
        data = await read_input(request)
        old, new = data.get("old_password", ""), data.get("new_password", "")
        await auth.throttle(request, user.email)
        try:
            stored = await auth.get_user(user.id)
            valid, _ = await auth.hasher.verify(old, stored.password if stored else None)
            if not valid:
                return self.fail(
                    request,
                    "password_change",
                    400,
                    "The current password is wrong.",
                    {"old_password": ["The current password is wrong."]},
                    data,
                    user=user,
                )
            check_length(new)
            validate_password(new, user.email_key, auth.validators)
            await auth.set_password(stored, new, validate=False)
        except PasswordInvalid as exc:
            return self.fail(
                request,
                "password_change",
                422,
                "Choose another password.",
                {"new_password": exc.messages},
                data,
                user=user,
            )
        except PasswordTooLong as exc:
            return self.fail(
                request,
                "password_change",
                422,
                str(exc),
                {"new_password": [str(exc)]},
                data,
                user=user,
            )
        if _has_sessions(request) and request.state.get("auth_via") is None:
            await auth.login(request, stored)  # this browser stays signed in; the others do not
        if wants_html(request):
            return self.page(request, "message", detail="Your password is changed.")
        return JSONResponse({"detail": "Your password is changed."})

    # --- passkeys ----------------------------------------------------------------------------

    async def passkeys_script(self) -> Response:
        return Response(
            PASSKEYS_JS.read_bytes(),
            media_type="text/javascript",
            headers={"cache-control": "public, max-age=3600"},
        )

    async def passkeys_page(self, request: Request, user: Any) -> Response:
        keys = await self.auth.passkeys.list(user)
        if wants_html(request):
            return self.page(request, "passkeys", keys=keys, user=user)
        return JSONResponse(
            [{"id": k.id, "name": k.name, "created": k.created.isoformat()} for k in keys]
        )

    async def _credential(self, request: Request) -> tuple[Any, str]:
        data = await request.json()
        if not isinstance(data, dict) or not isinstance(data.get("credential"), dict):
            raise problem(422, "Send the credential as a JSON object.")
        name = data.get("name")
        return data["credential"], name if isinstance(name, str) else "passkey"

    async def passkey_register_options(self, request: Request, user: Any) -> Response:
        options = await self.auth.passkeys.registration_options(request, user)
        return Response(options, media_type="application/json")

    async def passkey_register(self, request: Request, user: Any) -> Response:
        credential, name = await self._credential(request)
        try:
            key = await self.auth.passkeys.register(request, user, credential, name)
        except PasskeyError as exc:
            raise problem(400, str(exc)) from None
        return JSONResponse({"id": key.id, "name": key.name}, status_code=201)

    async def passkey_login_options(self, request: Request) -> Response:
        await self.auth.throttle_address(request, "auth.passkey")
        options = self.auth.passkeys.authentication_options(request)
        return Response(options, media_type="application/json")

    async def passkey_login(self, request: Request) -> Response:
        auth = self.auth
        await auth.throttle_address(request, "auth.passkey")
        credential, _ = await self._credential(request)
        try:
            user = await auth.passkeys.authenticate(request, credential)
        except PasskeyError as exc:
            raise problem(400, str(exc)) from None
        await auth.login(request, user)
        return JSONResponse(_public(user))

    async def passkey_delete(self, passkey_id: int, user: Any) -> Response:
        if not await self.auth.passkeys.delete(user, passkey_id):
            raise NotFound("No such passkey.")
        return Response(status_code=204)

    # --- social login ------------------------------------------------------------------------

    async def social_login(self, request: Request, provider: str) -> Response:
        target = safe_next(request.query_params.get("next"), self.auth.redirect_after_login)
        try:
            url = await self.auth.social.authorization_url(request, provider, target)
        except SocialLoginError as exc:
            raise NotFound(str(exc)) from None
        return RedirectResponse(url, status_code=303)

    async def social_callback(self, request: Request, provider: str) -> Response:
        try:
            user, target = await self.auth.social.callback(request, provider)
        except SocialLoginError as exc:
            return self.fail(request, "message", 400, str(exc))
        await self.auth.login(request, user)
        if wants_html(request) or not request.headers.get("accept", "").startswith(
            "application/json"
        ):
            return RedirectResponse(
                safe_next(target, self.auth.redirect_after_login), status_code=303
            )
        return JSONResponse(_public(user))

    # --- tokens ------------------------------------------------------------------------------

    async def list_tokens(self, user: Any) -> list[dict[str, Any]]:
        return [_token_info(row) for row in await self.auth.tokens(user)]

    async def create_token(self, request: Request, user: Any) -> Response:
        if request.state.get("auth_via") == "token":
            raise HTTPError(403, "A personal token cannot create tokens; sign in to do that.")
        data = await read_input(request)
        name = data.get("name", "").strip() or "token"
        scopes = data.get("scopes", "").split()
        if len(" ".join(scopes)) > 1000 or len(name) > 100:
            raise problem(
                422,
                "A token's name is at most 100 characters and its scopes 1000 in all.",
                {"scopes": ["Too long."]} if len(name) <= 100 else {"name": ["Too long."]},
            )
        expires = data.get("expires_in", "")
        try:
            expires_in = float(expires) if expires else None
        except ValueError:
            raise problem(
                422, "expires_in is a number of seconds.", {"expires_in": ["Not a number."]}
            ) from None
        token, row = await self.auth.create_token(user, name, scopes=scopes, expires_in=expires_in)
        # SECURITY: the token is in this answer and nowhere else: only its digest is stored.
        return JSONResponse(
            {"token": token, **_token_info(row)},
            status_code=201,
            headers={"cache-control": "no-store"},
        )

    async def revoke_token(self, token_id: int, user: Any) -> Response:
        if not await self.auth.revoke_token(user, token_id):
            raise NotFound("No such token.")
        return Response(status_code=204)

    async def jwt_pair(self, request: Request) -> Response:
        auth = self.auth
        data = await read_input(request)
        email, password = data.get("email", ""), data.get("password", "")
        await auth.throttle(request, email)
        try:
            checked = await auth.check_credentials(email, password) if email and password else None
        except PasswordTooLong as exc:
            raise problem(422, str(exc)) from None
        if checked is None:
            raise problem(400, "The email address or the password is wrong.")
        user = checked.user
        if checked.second_factor and not await auth.two_factor.verify(
            user.id, data.get("code", "")
        ):
            raise problem(
                400,
                "This account has two-factor authentication: send the current code as 'code'.",
                {"code": ["A valid code is needed."]},
            )
        if checked.rehashed is not None:
            await auth.store_hash(user, checked.rehashed)
        label = request.headers.get("user-agent", "")
        pair = await auth.issue_jwt(user, label=label)
        return JSONResponse(pair, headers={"cache-control": "no-store"})

    async def jwt_refresh(self, request: Request) -> Response:
        data = await read_input(request)
        label = request.headers.get("user-agent", "")
        pair = await self.auth.refresh_jwt(data.get("refresh_token", ""), label=label)
        if pair is None:
            raise HTTPError(
                401,
                "The refresh token is invalid or expired.",
                headers={"WWW-Authenticate": f'{self.auth.token_keyword} error="invalid_token"'},
            )
        return JSONResponse(pair, headers={"cache-control": "no-store"})


def _has_sessions(request: Request) -> bool:
    try:
        _ = request.session
    except RuntimeError:
        return False
    return True


def _public(user: Any) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "email_verified": bool(user.email_verified)}


def _token_info(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "scopes": row.scopes.split(),
        "created": row.created.isoformat() if row.created else None,
        "expires": row.expires.isoformat() if row.expires else None,
        "last_used": row.last_used.isoformat() if row.last_used else None,
    }


def build_router(auth: Auth) -> Router:
    """Return the router of ``auth``'s flows (mounted at ``auth.prefix``)."""
    flows = _Flows(auth)
    router = Router(prefix=auth.prefix, tags=["auth"])
    user = Depends(auth.current_user)
    # NOTE: the HTML pages are documented too (text/html): they share their paths with the
    # operations, and an ``Allow`` naming a GET the document hides would make it untrue.
    router.get("/signup", name="auth.signup", summary="The sign-up page", responses=PAGE)(
        flows.signup_page
    )
    router.post(
        "/signup",
        name="auth.signup.post",
        summary="Create an account",
        status_code=201,
        openapi_extra=body("email", "password"),
        responses=answers(*INPUT, 404, *LIMITED, pages=(422,), json={201: USER}, empty=(303,)),
    )(flows.signup)
    router.get(
        "/verify",
        name="auth.verify",
        summary="Confirm an email address",
        responses=answers(400, pages=(200, 400), json={200: VERIFIED}),
    )(flows.verify)
    router.get(
        "/login",
        name="auth.login",
        summary="The sign-in page",
        responses=PAGE,
        openapi_extra=query(next=_NEXT),
    )(flows.login_page)
    router.post(
        "/login",
        name="auth.login.post",
        summary="Sign in with a password",
        openapi_extra=body("email", "password", next=_NEXT),
        responses=answers(
            *INPUT,
            400,
            403,
            *LIMITED,
            pages=(400, 403, 422),
            json={200: USER, 202: TWO_FACTOR},
            empty=(303,),
        ),
    )(flows.login)
    router.post(
        "/logout",
        name="auth.logout",
        summary="Sign out",
        status_code=204,
        responses=answers(empty=(204, 303)),
    )(flows.logout)
    router.get(
        "/password/reset", name="auth.reset", summary="The password reset page", responses=PAGE
    )(flows.reset_page)
    router.post(
        "/password/reset",
        name="auth.reset.post",
        summary="Mail a password reset link",
        status_code=202,
        openapi_extra=body("email"),
        responses=answers(*INPUT, *LIMITED, pages=(202, 422), json={202: DETAIL}),
    )(flows.reset)
    router.get(
        "/password/reset/confirm",
        name="auth.reset.confirm",
        summary="The new password page",
        responses=PAGE,
    )(flows.reset_confirm_page)
    router.post(
        "/password/reset/confirm",
        name="auth.reset.confirm.post",
        summary="Set a new password with a reset link's token",
        openapi_extra=body("token", "password"),
        responses=answers(*INPUT, 400, pages=(400, 422), json={200: DETAIL}, empty=(303,)),
    )(flows.reset_confirm)

    async def resend(request: Request, current: Any = user) -> Response:
        return await flows.resend(request, current)

    async def change_page(request: Request, current: Any = user) -> Response:
        return await flows.change_page(request, current)

    async def change(request: Request, current: Any = user) -> Response:
        return await flows.change(request, current)

    async def everywhere(request: Request, current: Any = user) -> Response:
        return await flows.sign_out_everywhere(request, current)

    async def devices(current: Any = user) -> list[dict[str, Any]]:
        return await flows.devices(current)

    async def tokens(current: Any = user) -> list[dict[str, Any]]:
        return await flows.list_tokens(current)

    async def create_token(request: Request, current: Any = user) -> Response:
        return await flows.create_token(request, current)

    async def revoke_token(token_id: int, current: Any = user) -> Response:
        return await flows.revoke_token(token_id, current)

    async def totp_setup(request: Request, current: Any = user) -> Response:
        return await flows.totp_setup(request, current)

    async def totp_confirm(request: Request, current: Any = user) -> Response:
        return await flows.totp_confirm(request, current)

    async def totp_disable(request: Request, current: Any = user) -> Response:
        return await flows.totp_disable(request, current)

    async def passkeys_page(request: Request, current: Any = user) -> Response:
        return await flows.passkeys_page(request, current)

    async def passkey_register_options(request: Request, current: Any = user) -> Response:
        return await flows.passkey_register_options(request, current)

    async def passkey_register(request: Request, current: Any = user) -> Response:
        return await flows.passkey_register(request, current)

    async def passkey_delete(passkey_id: int, current: Any = user) -> Response:
        return await flows.passkey_delete(passkey_id, current)

    router.get("/passkeys.js", name="auth.passkeys.js", include_in_schema=False)(
        flows.passkeys_script
    )
    router.get(
        "/passkeys",
        name="auth.passkeys",
        summary="The user's passkeys",
        responses=answers(pages=(200,), json={200: PASSKEYS}, empty=(303,)),
    )(passkeys_page)
    router.post(
        "/passkeys/register/options",
        name="auth.passkeys.register.options",
        summary="Start registering a passkey (WebAuthn options)",
        responses=answers(json={200: OBJECT}),
    )(passkey_register_options)
    router.post(
        "/passkeys/register",
        name="auth.passkeys.register",
        summary="Register a passkey",
        status_code=201,
        openapi_extra=CREDENTIAL,
        responses=answers(400, 422, json={201: PASSKEY}),
    )(passkey_register)
    router.post(
        "/passkeys/login/options",
        name="auth.passkeys.login.options",
        summary="Start signing in with a passkey (WebAuthn options)",
        responses=answers(*LIMITED, json={200: OBJECT}),
    )(flows.passkey_login_options)
    router.post(
        "/passkeys/login",
        name="auth.passkeys.login",
        summary="Sign in with a passkey",
        openapi_extra=CREDENTIAL,
        responses=answers(400, 422, *LIMITED, json={200: USER}),
    )(flows.passkey_login)
    router.delete(
        "/passkeys/{passkey_id:int}",
        name="auth.passkeys.delete",
        summary="Delete a passkey",
        status_code=204,
        responses=answers(404),
    )(passkey_delete)
    router.get(
        "/oauth/{provider}/login",
        name="auth.oauth.login",
        summary="Sign in with a provider: off to its authorization page",
        responses=answers(404, empty=(303,)),
        openapi_extra=query(next=_NEXT),
    )(flows.social_login)
    router.get(
        "/oauth/{provider}/callback",
        name="auth.oauth.callback",
        summary="Where the provider sends the user back",
        openapi_extra=query(
            code="The provider's authorization code.",
            state="The state this site sent to the provider.",
            error="The provider's refusal, if it refused.",
        ),
        responses=answers(400, pages=(400,), json={200: USER}, empty=(303,)),
    )(flows.social_callback)

    async def totp_page(request: Request, current: Any = user) -> Response:
        return await flows.totp_page(request, current)

    router.get(
        "/2fa/totp",
        name="auth.totp",
        summary="The two-factor settings page",
        responses=answers(pages=(200,), empty=(303,)),
    )(totp_page)
    router.get("/2fa", name="auth.2fa", summary="The second-factor page", responses=PAGE)(
        flows.second_factor_page
    )
    router.post(
        "/2fa",
        name="auth.2fa.post",
        summary="Finish signing in with a second factor",
        openapi_extra=body("code"),
        responses=answers(*INPUT, 400, *LIMITED, pages=(400,), json={200: USER}, empty=(303,)),
    )(flows.second_factor)
    router.post(
        "/2fa/totp/setup",
        name="auth.totp.setup",
        summary="Start setting up an authenticator app",
        responses=answers(409, pages=(200,), json={200: ENROLLMENT}),
    )(totp_setup)
    router.post(
        "/2fa/totp/confirm",
        name="auth.totp.confirm",
        summary="Turn two-factor authentication on with a first code",
        openapi_extra=body("code"),
        responses=answers(*INPUT, 400, *LIMITED, pages=(200, 400), json={200: CODES}),
    )(totp_confirm)
    router.post(
        "/2fa/totp/disable",
        name="auth.totp.disable",
        summary="Turn two-factor authentication off",
        status_code=204,
        openapi_extra=body("code"),
        responses=answers(*INPUT, 400, *LIMITED, pages=(200,), empty=(204,)),
    )(totp_disable)
    router.post(
        "/verify/resend",
        name="auth.verify.resend",
        summary="Mail the confirmation link again",
        status_code=202,
        responses=answers(*LIMITED, pages=(202,), json={202: SENT}),
    )(resend)
    router.get(
        "/password/change",
        name="auth.change",
        summary="The password change page",
        responses=answers(pages=(200,), empty=(303,)),
    )(change_page)
    router.post(
        "/password/change",
        name="auth.change.post",
        summary="Change the password",
        openapi_extra=body("old_password", "new_password"),
        responses=answers(*INPUT, 400, *LIMITED, pages=(200, 400, 422), json={200: DETAIL}),
    )(change)
    router.post(
        "/signout-everywhere",
        name="auth.signout_everywhere",
        summary="Sign out of every browser and device",
        status_code=204,
        responses=answers(empty=(204, 303)),
    )(everywhere)

    async def account(request: Request, current: Any = user) -> Response:
        return await flows.account(request, current)

    router.get(
        "/account",
        name="auth.account",
        summary="The account",
        responses=answers(pages=(200,), json={200: ACCOUNT}, empty=(303,)),
    )(account)
    router.get("/devices", name="auth.devices", responses=answers(empty=(303,)))(devices)
    router.get("/tokens", name="auth.tokens", responses=answers(empty=(303,)))(tokens)
    router.post(
        "/tokens",
        name="auth.tokens.create",
        summary="Create a personal API token",
        status_code=201,
        openapi_extra=body(
            name="A label (100 characters at most).",
            scopes="Scopes, separated by spaces.",
            expires_in="Seconds until it expires (a number); none: never.",
        ),
        responses=answers(*INPUT, 403, json={201: NEW_TOKEN}),
    )(create_token)
    router.delete(
        "/tokens/{token_id}",
        name="auth.tokens.revoke",
        summary="Revoke a personal API token",
        status_code=204,
        responses=answers(404),
    )(revoke_token)
    if auth.jwt_enabled:
        router.post(
            "/jwt",
            name="auth.jwt",
            summary="Get a JWT access and refresh pair with a password",
            openapi_extra=body(
                "email", "password", code="The current second-factor code, if the account has one."
            ),
            responses=answers(*INPUT, 400, *LIMITED, json={200: JWT_PAIR}),
        )(flows.jwt_pair)
        router.post(
            "/jwt/refresh",
            name="auth.jwt.refresh",
            summary="Trade a refresh token for a new pair",
            openapi_extra=body("refresh_token"),
            responses=answers(*INPUT, 401, json={200: JWT_PAIR}),
        )(flows.jwt_refresh)
    return router
