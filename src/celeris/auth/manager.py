"""``Auth``: users, passwords, sign-in through the session, tokens and permissions for an app."""

from __future__ import annotations

import hashlib
import inspect
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from celeris.auth.apitokens import TOKEN_PREFIX, PersonalTokens
from celeris.auth.dependencies import AuthStep, UserDependency, uses_auth
from celeris.auth.emails import EmailInvalid, normalize_email
from celeris.auth.errors import SignupError
from celeris.auth.models import (
    ApiToken,
    Device,
    Group,
    TOTPDevice,
    User,
    group_permission,
    side_tables,
    user_group,
)
from celeris.auth.models import user_permission as user_permission_table
from celeris.auth.passwords import PasswordHasher, check_length
from celeris.auth.tokens import TokenSigner
from celeris.auth.totp import TwoFactor
from celeris.auth.validators import DEFAULT_VALIDATORS, Validator, validate_password
from celeris.core.errors import Forbidden, HTTPError, ServiceUnavailable
from celeris.core.pipeline import Step
from celeris.core.requests import Request
from celeris.db import Database, Fault, classify, create_tables
from celeris.mail import Mailer
from celeris.openapi.jwt import JWT, InvalidToken
from celeris.openapi.security import authorization
from celeris.security import RateLimiter
from celeris.settings import secret_key_of

if TYPE_CHECKING:
    from celeris.auth.passkeys import Passkeys
    from celeris.auth.social import Social
    from celeris.core.routing import Route, Router

__all__ = ["Auth", "SignIn", "SignupError"]

logger = logging.getLogger("celeris.auth")

SESSION_KEY = "_auth"  # [user id, device id, session epoch]
ObjectPermission = Callable[[Any, str, Any], "bool | Awaitable[bool]"]


class SignIn(NamedTuple):
    """A successful password check: the user, an upgraded hash, whether a second factor is due."""

    user: Any
    rehashed: str | None
    second_factor: bool


def _now() -> datetime:
    return datetime.now(UTC)


class Auth(Step):
    """Accounts for an app: ``auth = Auth(app=app, db=db)``, then ``app.include_router(auth.router)``.

    Build ``Sessions`` (and ``Cache``) before ``Auth``: the auth step reads the session, and a
    ``RateLimiter`` built after it can count by user.
    """

    #: Seconds between two updates of a signed-in device's ``last_seen`` (one write per interval).
    device_touch_interval: float = 300.0

    def __init__(
        self,
        app: Any = None,
        *,
        db: Database,
        user_model: type[Any] = User,
        secret_key: str | bytes | None = None,
        hasher: PasswordHasher | None = None,
        validators: Sequence[Validator] = DEFAULT_VALIDATORS,
        limiter: RateLimiter | None = None,
        mailer: Any = None,
        cache: Any = None,
        templates: Any = None,
        prefix: str = "/auth",
        token_keyword: str = "Bearer",
        jwt: JWT | bool | None = None,
        login_rate: str = "5/minute",
        address_rate: str = "30/minute",
        token_cache_ttl: float = 60.0,
        object_permission: ObjectPermission | None = None,
        signup: bool = True,
        require_verified_email: bool = False,
        redirect_after_login: str = "/",
        realm: str = "celeris",
        issuer: str | None = None,
        passkey_rp_id: str | None = None,
        passkey_origins: list[str] | None = None,
        create_tables: bool = True,
    ) -> None:
        self.app = app
        self.db = db
        self.user_model = user_model
        self.hasher = hasher if hasher is not None else PasswordHasher()
        self.validators = tuple(validators)
        self.limiter = limiter
        self.mailer = mailer
        self.cache = cache
        self.prefix = prefix.rstrip("/")
        self.login_url = f"{self.prefix}/login"
        self.token_keyword = token_keyword
        self.realm = realm
        self.login_rate = login_rate
        self.address_rate = address_rate
        self.token_cache_ttl = token_cache_ttl
        self.object_permission = object_permission
        self.signup_enabled = signup
        self.require_verified_email = require_verified_email
        self.redirect_after_login = redirect_after_login
        self.create_tables = create_tables
        self.scheme_description = (
            f"A personal API token or JWT as `Authorization: {token_keyword} <token>`; "
            "browsers sign in through the session cookie."
        )
        self._secret_key = secret_key
        self._jwt_option = jwt
        self._jwt: JWT | None = jwt if isinstance(jwt, JWT) else None
        self._signer: TokenSigner | None = None
        self._reader: async_sessionmaker[AsyncSession] | None = None
        self._templates = templates
        self._router: Router | None = None
        self._step = AuthStep(self)
        self._limits: tuple[Any, Any] | None = None
        self.current_user = UserDependency(self, required=True)
        self.optional_user = UserDependency(self, required=False)
        self._requirements: dict[tuple[str, ...], UserDependency] = {}
        #: TOTP and recovery codes (``issuer`` is the name authenticator apps show).
        name = issuer or getattr(app, "title", None) or realm
        self.two_factor = TwoFactor(self, issuer=name)
        self._passkey_options = (passkey_rp_id, name, passkey_origins)
        self._passkeys: Passkeys | None = None
        self._social: Social | None = None
        self.api_tokens = PersonalTokens(self)
        self._sessions_at_install = False
        if app is not None:
            self.install(app)

    # --- wiring ------------------------------------------------------------------------------

    def install(self, app: Any) -> None:
        """Attach to ``app``: the auth step, a rate limiter, tables created at start-up."""
        self.app = app
        app.state.auth = self
        app.add_step(self)
        self._sessions_at_install = app.state.get("sessions") is not None
        if self.limiter is None:
            existing = app.state.get("ratelimiter")
            self.limiter = existing if existing is not None else RateLimiter(app=app)
        if self.cache is None:
            self.cache = app.state.get("cache")
        if self.mailer is None:
            # NOTE: console:// in development, MAIL_URL (settings or environment) otherwise.
            self.mailer = Mailer(app=app)
        app.on_startup(self.start)

    @property
    def user_table(self) -> sa.Table:
        """The user model's table."""
        table: sa.Table = self.user_model.__table__
        return table

    @property
    def signer(self) -> TokenSigner:
        """The signer of verification and reset tokens (made from the secret key)."""
        if self._signer is None:
            self._signer = TokenSigner(secret_key_of(self.app, self._secret_key, "Auth"))
        return self._signer

    @property
    def jwt(self) -> JWT | None:
        """The JWT issuer for access/refresh pairs (``Auth(jwt=True)`` or a ``JWT``)."""
        if self._jwt is None and self._jwt_option is True:
            key = secret_key_of(self.app, self._secret_key, "Auth")
            raw = key.encode() if isinstance(key, str) else key
            # NOTE: a key of its own, derived, so a JWT never verifies as another battery's data.
            derived = hashlib.sha256(b"celeris.auth.jwt|" + raw).hexdigest()
            self._jwt = JWT(derived, expires_in=900)
        return self._jwt

    @property
    def passkeys(self) -> Passkeys:
        """WebAuthn registration and sign-in (the ``webauthn`` package loads on first use)."""
        if self._passkeys is None:
            from celeris.auth.passkeys import Passkeys  # NOTE: loads webauthn when used

            rp_id, rp_name, origins = self._passkey_options
            self._passkeys = Passkeys(self, rp_id=rp_id, rp_name=rp_name, origins=origins)
        return self._passkeys

    @property
    def social(self) -> Social:
        """OAuth2 / OpenID Connect providers: ``auth.social.register(...)`` (loads authlib)."""
        if self._social is None:
            from celeris.auth.social import Social  # NOTE: loads authlib, joserfc, httpx

            self._social = Social(self)
        return self._social

    @property
    def jwt_enabled(self) -> bool:
        """Tell whether JWT pairs are on (``Auth(jwt=True)`` or ``jwt=JWT(...)``)."""
        return bool(self._jwt_option)

    @property
    def router(self) -> Router:
        """The routes of the flows: signup, login, logout, verify, password, tokens."""
        if self._router is None:
            from celeris.auth.routes import build_router  # NOTE: jinja2 loads when routes do

            self._router = build_router(self)
        return self._router

    @property
    def templates(self) -> Any:
        """The auth pages' templates: yours first (``templates=``), then the battery's."""
        if not hasattr(self._templates, "render_string"):
            from celeris.auth.pages import make_templates  # NOTE: jinja2 loads when needed

            self._templates = make_templates(self._templates)
        return self._templates

    async def start(self) -> None:
        """Create missing tables and the autocommit session factory for lookups."""
        warm = getattr(self.hasher, "warm", None)
        if warm is not None:
            await warm()
        if (
            not self._sessions_at_install
            and self.app is not None
            and self.app.state.get("sessions")
        ):
            raise RuntimeError(
                "auth.E003: Sessions(app=app) was built after Auth(app=app); build it first, "
                "so the session is there when the auth step looks for the user"
            )
        if self.app is not None and self.app.state.get("sessions") is None:
            logger.warning(
                "auth.W001: no Sessions(app=app): browsers cannot sign in (tokens and JWTs "
                "still work); build Sessions(app=app) before Auth(app=app)"
            )
        engine = self.db.engine
        if self.create_tables:
            tables = [self.user_table, *side_tables()]
            async with engine.begin() as connection:
                await create_tables(connection, self.db.metadata, tables)
        # PERF: look-ups run in autocommit: one round trip each, no BEGIN/COMMIT.
        self._reader = async_sessionmaker(
            engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False
        )
        _ = self.signer
        if self.limiter is not None:
            self._limits = (
                self.limiter.limit(self.address_rate, key="ip"),
                self.limiter.limit(self.login_rate, key=_login_key),
            )

    def reader(self) -> AsyncSession:
        """Return an autocommit session for one look-up."""
        if self._reader is None:
            raise RuntimeError("Auth has not started (attach it with Auth(app=app, db=db))")
        return self._reader()

    # --- the step ----------------------------------------------------------------------------

    def for_route(self, route: Route) -> Step | None:
        """Run where a route depends on this auth's user; document its 403."""
        found = uses_auth(route.plan, self)
        if not found:
            return None
        needed = sorted({p for d in found for p in d.permissions})
        if needed:
            route.responses.setdefault(403, f"Forbidden: needs {', '.join(needed)}")
        return self._step

    def requires(self, *permissions: str) -> UserDependency:
        """Return a dependency giving the user, 403 unless they hold every ``permission``."""
        for permission in permissions:
            if not isinstance(permission, str) or "." not in permission:
                raise ValueError(
                    f"auth.E001: a permission is an 'app.action' string, not {permission!r}"
                )
        key = tuple(permissions)
        dependency = self._requirements.get(key)
        if dependency is None:
            dependency = self._requirements[key] = UserDependency(
                self, required=True, permissions=key
            )
        return dependency

    # --- who is asking -----------------------------------------------------------------------

    async def authenticate(self, request: Request) -> Any:
        """Find the user of ``request`` (token, JWT or session) and set ``request.state.user``."""
        state = request.state
        state.user = None
        state.auth_scopes = None
        header = request.headers.get("authorization")
        user: Any = None
        if header:
            token = authorization(request, self.token_keyword)
            if token is not None:
                user = await self._from_token(request, token)
            elif header.partition(" ")[0].lower() != "basic":
                state.auth_error = f"use Authorization: {self.token_keyword} <token>"
        else:
            user = await self._from_session(request)
        state.user = user
        return user

    async def _from_session(self, request: Request) -> Any:
        try:
            session = request.session
        except RuntimeError:
            return None  # no Sessions on this app: token authentication only
        entry = session.get(SESSION_KEY)
        if not (isinstance(entry, list) and len(entry) == 3):
            return None
        user_id, device_id, epoch = entry
        model = self.user_model
        # PERF: one query: the user joined with this session's device row (a device signed out
        # elsewhere is gone, and so is the session).
        statement = (
            sa.select(model, Device.last_seen)
            .join(Device, sa.and_(Device.user_id == model.id, Device.id == device_id))
            .where(model.id == user_id, model.session_epoch == epoch, model.is_active.is_(True))
        )
        try:
            async with self.reader() as db:
                row = (await db.execute(statement)).one_or_none()
                if row is None:
                    session.pop(SESSION_KEY, None)
                    return None
                user, last_seen = row
                now = _now()
                if last_seen.tzinfo is None:  # SQLite keeps no offset; the value was written in UTC
                    last_seen = last_seen.replace(tzinfo=UTC)
                if (now - last_seen).total_seconds() >= self.device_touch_interval:
                    # PERF: a device's last_seen moves at most once per interval, not per request.
                    await db.execute(
                        sa.update(Device).where(Device.id == device_id).values(last_seen=now)
                    )
        except Exception as exc:
            self.unavailable(exc)
            raise
        return user

    async def _from_token(self, request: Request, token: str) -> Any:
        state = request.state
        if len(token) > 2048:
            state.auth_error = "token too long"
            return None
        if token.startswith(TOKEN_PREFIX):
            found = await self.token_user(token)
            if found is None:
                state.auth_error = "unknown, expired or revoked token"
                return None
            user, scopes = found
            state.auth_scopes = scopes
            state.auth_via = "token"
            return user
        jwt = self.jwt
        if jwt is None:
            state.auth_error = "unknown token"
            return None
        try:
            claims = jwt.decode(token)
        except InvalidToken as exc:
            state.auth_error = str(exc)
            return None
        if claims.get("typ") != "access":
            state.auth_error = "not an access token"
            return None
        user = await self._user_for_claims(claims)
        if user is None:
            state.auth_error = "token no longer valid"
            return None
        state.auth_via = "jwt"
        return user

    async def _user_for_claims(self, claims: dict[str, Any]) -> Any:
        try:
            user_id = int(claims.get("sub", ""))
        except ValueError:
            return None
        model = self.user_model
        statement = sa.select(model).where(
            model.id == user_id,
            model.session_epoch == claims.get("ep"),
            model.is_active.is_(True),
        )
        try:
            async with self.reader() as db:
                return (await db.execute(statement)).scalar_one_or_none()
        except Exception as exc:
            self.unavailable(exc)
            raise

    def unavailable(self, exc: Exception) -> None:
        """Raise 503 when a look-up failed because the database is away; else return."""
        if classify(exc) in (Fault.UNAVAILABLE, Fault.TIMEOUT):
            logger.warning("auth: user store unavailable: %s", exc)
            raise ServiceUnavailable(
                "Sign-in is unavailable; try again shortly.", retry_after=5
            ) from exc

    # --- permissions -------------------------------------------------------------------------

    async def permissions_of(self, user: Any) -> set[str]:
        """Return every permission ``user`` holds, granted directly or through a group."""
        direct = sa.select(user_permission_table.c.permission).where(
            user_permission_table.c.user_id == user.id
        )
        grouped = (
            sa.select(group_permission.c.permission)
            .join(user_group, user_group.c.group_id == group_permission.c.group_id)
            .where(user_group.c.user_id == user.id)
        )
        async with self.reader() as db:
            rows = await db.execute(sa.union(direct, grouped))
        return {row[0] for row in rows}

    async def has_perms(self, user: Any, *permissions: str, obj: Any = None) -> bool:
        """Tell whether ``user`` holds every permission (on ``obj``, through the object hook)."""
        if user is None or not getattr(user, "is_active", False):
            return False
        if not getattr(user, "is_superuser", False):
            held = await self.permissions_of(user)
            if not all(p in held for p in permissions):
                return False
        if obj is not None and self.object_permission is not None:
            for permission in permissions:
                allowed = self.object_permission(user, permission, obj)
                if inspect.isawaitable(allowed):
                    allowed = await allowed
                if not allowed:
                    return False
        return True

    async def check(
        self, request: Request | None, user: Any, *permissions: str, obj: Any = None
    ) -> None:
        """Raise 403 unless ``user`` holds ``permissions`` (and a token carries their scopes)."""
        scopes = request.state.get("auth_scopes") if request is not None else None
        if scopes:
            missing = [p for p in permissions if p not in scopes]
            if missing:
                raise Forbidden(f"This token's scopes do not include {', '.join(missing)}.")
        if not await self.has_perms(user, *permissions, obj=obj):
            raise Forbidden(f"You need the permission {', '.join(permissions)}.")

    async def grant(self, user: Any, *permissions: str) -> None:
        """Give ``user`` permissions directly."""
        async with self.db.scope() as db:
            for permission in permissions:
                await db.execute(
                    user_permission_table.delete().where(
                        user_permission_table.c.user_id == user.id,
                        user_permission_table.c.permission == permission,
                    )
                )
                await db.execute(
                    user_permission_table.insert().values(user_id=user.id, permission=permission)
                )

    async def add_to_group(self, user: Any, name: str, *permissions: str) -> None:
        """Put ``user`` in group ``name`` (created when missing) and give the group ``permissions``."""
        async with self.db.scope() as db:
            group = (await db.execute(sa.select(Group).where(Group.name == name))).scalar()
            if group is None:
                group = Group(name=name)
                db.add(group)
                await db.flush()
            held = set(
                (
                    await db.execute(
                        sa.select(group_permission.c.permission).where(
                            group_permission.c.group_id == group.id
                        )
                    )
                ).scalars()
            )
            for permission in set(permissions) - held:
                await db.execute(
                    group_permission.insert().values(group_id=group.id, permission=permission)
                )
            member = await db.execute(
                sa.select(user_group.c.user_id).where(
                    user_group.c.user_id == user.id, user_group.c.group_id == group.id
                )
            )
            if member.first() is None:
                await db.execute(user_group.insert().values(user_id=user.id, group_id=group.id))

    # --- accounts ----------------------------------------------------------------------------

    async def create_user(
        self,
        email: str,
        password: str | None,
        *,
        validate: bool = True,
        **fields: Any,
    ) -> Any:
        """Create a user (hashing the password in a thread); raise ``SignupError`` on bad input."""
        try:
            key = normalize_email(email)
        except EmailInvalid as exc:
            raise SignupError("email", str(exc)) from None
        if password is not None:
            check_length(password)  # SECURITY: before the validators compare it with anything
            if validate:
                validate_password(password, key, self.validators)
            hashed: str | None = await self.hasher.hash(password)
        else:
            hashed = None
        user = self.user_model(email=email.strip(), email_key=key, password=hashed, **fields)
        try:
            async with self.db.scope() as db:
                db.add(user)
        except sa.exc.IntegrityError:
            raise SignupError("email", "An account with this email address exists.") from None
        return user

    async def get_user(self, user_id: int) -> Any:
        """Return the user with this id, or None."""
        async with self.reader() as db:
            return await db.get(self.user_model, user_id)

    async def get_user_by_email(self, email: str) -> Any:
        """Return the user with this address (in any case or look-alike form), or None."""
        try:
            key = normalize_email(email)
        except EmailInvalid:
            return None
        model = self.user_model
        async with self.reader() as db:
            return (
                await db.execute(sa.select(model).where(model.email_key == key))
            ).scalar_one_or_none()

    async def set_password(self, user: Any, password: str, *, validate: bool = True) -> None:
        """Change ``user``'s password: every other session, token pair and reset link lapses."""
        check_length(password)
        if validate:
            validate_password(password, user.email_key, self.validators)
        hashed = await self.hasher.hash(password)
        model = self.user_model
        async with self.db.scope() as db:
            await db.execute(
                sa.update(model)
                .where(model.id == user.id)
                .values(password=hashed, session_epoch=model.session_epoch + 1)
            )
            await db.execute(
                sa.delete(Device).where(Device.user_id == user.id, Device.kind == "session")
            )
        user.password = hashed
        user.session_epoch += 1

    async def check_credentials(self, email: str, password: str) -> SignIn | None:
        """Check an email and password: one query and one hash, whether or not the user exists.

        Returns None unless they match an active user; ``SignIn.rehashed`` is the upgraded hash
        when the hasher's parameters changed, ``SignIn.second_factor`` whether TOTP is on.
        """
        try:
            key: str | None = normalize_email(email)
        except EmailInvalid:
            key = None
        found = None
        if key is not None:
            model = self.user_model
            # PERF: the user and whether a second factor is on, in one round trip.
            statement = (
                sa.select(model, TOTPDevice.confirmed)
                .outerjoin(
                    TOTPDevice,
                    sa.and_(TOTPDevice.user_id == model.id, TOTPDevice.confirmed.is_(True)),
                )
                .where(model.email_key == key)
            )
            try:
                async with self.reader() as db:
                    found = (await db.execute(statement)).first()
            except Exception as exc:
                self.unavailable(exc)
                raise
        user = found[0] if found is not None else None
        stored = user.password if user is not None else None
        valid, upgraded = await self.hasher.verify(password, stored)
        if not valid or user is None or not user.is_active:
            return None
        return SignIn(user, upgraded, bool(found[1]) if found is not None else False)

    async def store_hash(self, user: Any, hashed: str) -> None:
        """Write an upgraded hash of the same password (nobody is signed out)."""
        model = self.user_model
        async with self.reader() as db:
            await db.execute(sa.update(model).where(model.id == user.id).values(password=hashed))
        user.password = hashed

    async def verify_credentials(self, email: str, password: str) -> Any:
        """Return the active user with this email and password, else None (one hash either way)."""
        checked = await self.check_credentials(email, password)
        return checked.user if checked is not None else None

    async def throttle_address(self, request: Request, scope: str) -> None:
        """Count a request of a flow (signup, reset...) against the client address."""
        if self.limiter is None or self._limits is None:
            return
        try:
            await self.limiter.hit(request, self._limits[0], scope)
        except HTTPError:
            raise
        except Exception as exc:
            logger.warning("auth: rate-limit storage unavailable: %s", exc)
            raise ServiceUnavailable("Try again shortly.", retry_after=5) from None

    async def throttle(self, request: Request, email: str) -> None:
        """Count a sign-in attempt against the client address and the account (429 when over)."""
        if self.limiter is None or self._limits is None:
            return
        try:
            key = normalize_email(email)
        except EmailInvalid:
            key = email.strip().lower()[:254]
        request.state.auth_login_key = key
        by_address, by_account = self._limits
        try:
            await self.limiter.hit(request, by_address, "auth.login.address")
            await self.limiter.hit(request, by_account, "auth.login.account")
        except HTTPError:
            raise
        except Exception as exc:
            logger.warning("auth: rate-limit storage unavailable: %s", exc)
            raise ServiceUnavailable(
                "Sign-in is unavailable; try again shortly.", retry_after=5
            ) from None

    # --- sessions ----------------------------------------------------------------------------

    async def login(self, request: Request, user: Any, *, rehashed: str | None = None) -> None:
        """Sign ``user`` in on this request's session (a new session id, a device row).

        ``rehashed`` (from ``check_credentials``) is written in the same statement.
        """
        try:
            session = request.session
        except RuntimeError:
            raise RuntimeError(
                "auth.E005: auth.login() needs a session: build Sessions(app=app) before Auth"
            ) from None
        previous = session.get(SESSION_KEY)
        session.rotate()  # SECURITY: a session id known before sign-in is worthless after it
        device_id = secrets.token_urlsafe(32)
        label = request.headers.get("user-agent", "")[:200]
        now = _now()
        model = self.user_model
        values: dict[str, Any] = {"last_login": now}
        if rehashed is not None:
            values["password"] = user.password = rehashed
        device = sa.insert(Device).values(
            id=device_id, user_id=user.id, kind="session", label=label, created=now, last_seen=now
        )
        update = sa.update(model).where(model.id == user.id).values(**values)
        async with self.reader() as db:
            if isinstance(previous, list) and len(previous) == 3:
                await db.execute(sa.delete(Device).where(Device.id == previous[1]))
            if self.db.dialect == "postgresql":
                # PERF: one round trip on PostgreSQL: the device insert rides along as a CTE.
                await db.execute(update.add_cte(device.cte("new_device")))
            else:
                await db.execute(device)
                await db.execute(update)
        user.last_login = now
        session[SESSION_KEY] = [user.id, device_id, user.session_epoch]
        request.state.user = user

    async def logout(self, request: Request) -> None:
        """Sign the request's user out: their device row goes, the session is emptied."""
        try:
            session = request.session
        except RuntimeError:
            return
        entry = session.get(SESSION_KEY)
        if isinstance(entry, list) and len(entry) == 3:
            async with self.reader() as db:
                await db.execute(sa.delete(Device).where(Device.id == entry[1]))
        session.clear()
        request.state.user = None

    async def sign_out_everywhere(self, user: Any) -> None:
        """End every session, JWT and personal token of ``user``."""
        model = self.user_model
        async with self.db.scope() as db:
            digests = list(
                (
                    await db.execute(
                        sa.select(ApiToken.digest).where(
                            ApiToken.user_id == user.id, ApiToken.revoked.is_(False)
                        )
                    )
                ).scalars()
            )
            await db.execute(
                sa.update(model)
                .where(model.id == user.id)
                .values(session_epoch=model.session_epoch + 1)
            )
            await db.execute(
                sa.update(ApiToken).where(ApiToken.user_id == user.id).values(revoked=True)
            )
            await db.execute(sa.delete(Device).where(Device.user_id == user.id))
        await self.api_tokens.forget(digests)
        user.session_epoch += 1

    async def devices(self, user: Any) -> list[Device]:
        """Return where ``user`` is signed in (sessions and tokens), newest first."""
        async with self.reader() as db:
            rows = await db.execute(
                sa.select(Device).where(Device.user_id == user.id).order_by(Device.created.desc())
            )
            return list(rows.scalars())

    # --- personal API tokens (celeris.auth.apitokens) ----------------------------------------

    async def create_token(
        self,
        user: Any,
        name: str,
        *,
        scopes: Sequence[str] = (),
        expires_in: float | None = None,
    ) -> tuple[str, ApiToken]:
        """Return (the token, shown this once; its row). Only the token's SHA-256 is stored."""
        return await self.api_tokens.create(user, name, scopes=scopes, expires_in=expires_in)

    async def tokens(self, user: Any) -> list[ApiToken]:
        """Return ``user``'s live tokens (never the tokens themselves)."""
        return await self.api_tokens.of_user(user)

    async def revoke_token(self, user: Any, token_id: int) -> bool:
        """Revoke one of ``user``'s tokens; False if it is not theirs or not there."""
        return await self.api_tokens.revoke(user, token_id)

    async def token_user(self, token: str) -> tuple[Any, tuple[str, ...]] | None:
        """Return (user, scopes) of a live personal token, else None: one cache look-up when warm."""
        return await self.api_tokens.user_for(token)

    # --- JWT pairs ---------------------------------------------------------------------------

    async def issue_jwt(self, user: Any, *, label: str = "") -> dict[str, Any]:
        """Return an access/refresh pair for ``user`` (``Auth(jwt=True)``).

        The refresh token is a device row (kind ``"jwt"``): refreshing spends it and makes a new
        one, so a refresh token works once, and signing out everywhere ends it.
        """
        jwt = self.jwt
        if jwt is None:
            raise RuntimeError("auth.E002: JWT pairs need Auth(jwt=True) or Auth(jwt=JWT(...))")
        device_id = secrets.token_urlsafe(32)
        now = _now()
        async with self.reader() as db:
            await db.execute(
                sa.insert(Device).values(
                    id=device_id,
                    user_id=user.id,
                    kind="jwt",
                    label=label[:200],
                    created=now,
                    last_seen=now,
                )
            )
        base = {"sub": str(user.id), "ep": user.session_epoch}
        access = jwt.encode({**base, "typ": "access"})
        refresh = jwt.encode({**base, "typ": "refresh", "jti": device_id}, expires_in=30 * 86_400)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": self.token_keyword,
            "expires_in": int(jwt.expires_in or 0),
        }

    async def refresh_jwt(self, refresh_token: str, *, label: str = "") -> dict[str, Any] | None:
        """Return a new pair for a live refresh token (spending it), else None."""
        jwt = self.jwt
        if jwt is None:
            return None
        try:
            claims = jwt.decode(refresh_token)
        except InvalidToken:
            return None
        device_id = claims.get("jti")
        if claims.get("typ") != "refresh" or not isinstance(device_id, str):
            return None
        async with self.reader() as db:
            # SECURITY: the conditional delete spends the token: of two uses (a thief and the
            # owner, or a replay), exactly one finds the row.
            spent = await db.execute(
                sa.delete(Device).where(Device.id == device_id, Device.kind == "jwt")
            )
        if spent.rowcount != 1:  # type: ignore[attr-defined]
            # SECURITY: a genuine refresh token used twice means one copy was stolen; end
            # every refresh token of the user, so neither the thief nor the owner keeps one.
            logger.warning(
                "auth: a spent refresh token was offered again (user %s)", claims.get("sub")
            )
            async with self.reader() as db:
                await db.execute(
                    sa.delete(Device).where(
                        Device.user_id == _int(claims.get("sub")), Device.kind == "jwt"
                    )
                )
            return None
        user = await self._user_for_claims(claims)
        return None if user is None else await self.issue_jwt(user, label=label)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _login_key(request: Request) -> str:
    """The account a sign-in attempt names (set by ``Auth.throttle``)."""
    return str(request.state.get("auth_login_key", ""))
