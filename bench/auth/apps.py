"""The two apps compared: celeris.auth with a personal token, and FastAPI's OAuth2/JWT recipe.

Both answer ``GET /me`` for ``Authorization: Bearer <token>`` with the user's id and email, on
the same database (a SQLite file or a PostgreSQL database of the bench's own).

- celeris: ``Auth(cache=Cache(app=app))`` (memory://), a personal token from
  ``auth.create_token``; ``POST /auth/login`` is the battery's JSON sign-in.
- FastAPI: the security tutorial's "OAuth2 with Password (and hashing), Bearer with JWT
  tokens" as written (``OAuth2PasswordBearer``, PyJWT ``jwt.decode``, ``get_current_user`` then
  ``get_current_active_user``, pwdlib's recommended argon2 hasher, ``POST /token`` with
  ``OAuth2PasswordRequestForm``), with the tutorial's ``fake_users_db`` replaced by a
  SQLAlchemy 2 ``AsyncSession`` look-up, as FastAPI's SQL docs write a data layer.
"""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import Depends, FastAPI, HTTPException, status
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from jwt.exceptions import InvalidTokenError
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import BaseModel
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from celeris import App
from celeris import Depends as CDepends
from celeris.auth import Auth, PasswordHasher, User
from celeris.cache import Cache
from celeris.db import Database
from celeris.mail import Mailer
from celeris.sessions import Sessions

SECRET = "bench-auth-secret-" + "x" * 40
EMAIL = "ada@example.org"
PASSWORD = "correct horse battery staple"
#: Cheap argon2 parameters for the counting runs: how many hashes, not how long each takes.
FAST: dict[str, int] = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


# --- celeris -------------------------------------------------------------------------------


def celeris_app(url: str, *, cache: bool = True, fast: bool = True) -> tuple[App, Auth]:
    """Return the celeris app and its ``Auth`` (token cache in memory unless ``cache=False``)."""
    app = App()
    db = Database(url, app=app)
    Sessions(app=app, secret_key=SECRET)
    mailer = Mailer(app=app, url="memory://")
    hasher = PasswordHasher(**FAST) if fast else PasswordHasher()
    auth = Auth(
        app=app,
        db=db,
        mailer=mailer,
        secret_key=SECRET,
        hasher=hasher,
        cache=Cache(app=app) if cache else None,
        # NOTE: the counting runs sign in many times as one account within a minute.
        login_rate="1000/minute",
        address_rate="1000/minute",
    )
    app.include_router(auth.router)

    @app.get("/me")
    async def me(user: User = CDepends(auth.current_user)) -> dict[str, Any]:
        return {"id": user.id, "email": user.email}

    return app, auth


# --- FastAPI: the security tutorial's recipe on SQLAlchemy ---------------------------------

ALGORITHM = "HS256"
ACCESS_TOKEN_EXPIRE_MINUTES = 30


class Base(DeclarativeBase):
    pass


class UserRow(Base):
    __tablename__ = "bench_fastapi_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(320), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    full_name: Mapped[str | None] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(default=False)
    hashed_password: Mapped[str] = mapped_column(String(200))


class Token(BaseModel):
    access_token: str
    token_type: str


class UserOut(BaseModel):
    id: int
    email: str


def fastapi_app(url: str, *, fast: bool = True) -> tuple[FastAPI, AsyncEngine, PasswordHash]:
    """Return the FastAPI app, its engine (create the table with it) and its password hasher."""
    if url.startswith("postgresql://"):
        url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
    elif url.startswith("sqlite:///"):
        url = url.replace("sqlite:///", "sqlite+aiosqlite:///", 1)
    engine = create_async_engine(url)
    async_session = async_sessionmaker(engine, expire_on_commit=False)
    password_hash = (
        PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
        if fast
        else PasswordHash.recommended()
    )
    dummy_hash = password_hash.hash("dummypassword")  # the tutorial's DUMMY_HASH
    oauth2_scheme = OAuth2PasswordBearer(tokenUrl="token")
    app = FastAPI(openapi_url=None)

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with async_session() as session:
            yield session

    SessionDep = Annotated[AsyncSession, Depends(get_session)]

    async def get_user(session: AsyncSession, username: str) -> UserRow | None:
        rows = await session.execute(select(UserRow).where(UserRow.username == username))
        return rows.scalar_one_or_none()

    async def authenticate_user(
        session: AsyncSession, username: str, password: str
    ) -> UserRow | None:
        user = await get_user(session, username)
        if user is None:
            password_hash.verify(password, dummy_hash)
            return None
        if not password_hash.verify(password, user.hashed_password):
            return None
        return user

    def create_access_token(data: dict[str, Any], expires_delta: timedelta) -> str:
        to_encode = data.copy()
        to_encode.update({"exp": datetime.now(UTC) + expires_delta})
        return jwt.encode(to_encode, SECRET, algorithm=ALGORITHM)

    async def get_current_user(
        token: Annotated[str, Depends(oauth2_scheme)], session: SessionDep
    ) -> UserRow:
        credentials_exception = HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Could not validate credentials",
            headers={"WWW-Authenticate": "Bearer"},
        )
        try:
            payload = jwt.decode(token, SECRET, algorithms=[ALGORITHM])
            username = payload.get("sub")
            if username is None:
                raise credentials_exception
        except InvalidTokenError:
            raise credentials_exception from None
        user = await get_user(session, username)
        if user is None:
            raise credentials_exception
        return user

    async def get_current_active_user(
        current_user: Annotated[UserRow, Depends(get_current_user)],
    ) -> UserRow:
        if current_user.disabled:
            raise HTTPException(status_code=400, detail="Inactive user")
        return current_user

    @app.post("/token")
    async def login_for_access_token(
        form_data: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep
    ) -> Token:
        user = await authenticate_user(session, form_data.username, form_data.password)
        if not user:
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="Incorrect username or password",
                headers={"WWW-Authenticate": "Bearer"},
            )
        access_token = create_access_token(
            {"sub": user.username}, timedelta(minutes=ACCESS_TOKEN_EXPIRE_MINUTES)
        )
        return Token(access_token=access_token, token_type="bearer")

    @app.get("/me", response_model=UserOut)
    async def read_users_me(
        current_user: Annotated[UserRow, Depends(get_current_active_user)],
    ) -> UserRow:
        return current_user

    return app, engine, password_hash


async def fastapi_setup(engine: AsyncEngine, password_hash: PasswordHash) -> None:
    """Create the FastAPI side's table and its one user (the same email and password)."""
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.drop_all)
        await connection.run_sync(Base.metadata.create_all)
    async with async_sessionmaker(engine)() as session:
        session.add(
            UserRow(
                username=EMAIL,
                email=EMAIL,
                full_name="Ada",
                hashed_password=password_hash.hash(PASSWORD),
            )
        )
        await session.commit()
