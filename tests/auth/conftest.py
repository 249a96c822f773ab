"""An app with accounts, on SQLite or a throwaway PostgreSQL database, sessions in memory or Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from celeris import App, Depends, Request
from celeris.auth import Auth, PasswordHasher, User
from celeris.auth.models import side_tables
from celeris.db import Database
from celeris.mail import Mailer
from celeris.sessions import Sessions

SECRET = "test-secret-" + "x" * 40
PASSWORD = "correct horse battery staple"
#: Cheap argon2 parameters: the suite hashes hundreds of times (the timing test uses real ones).
FAST = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A database of its own on the local PostgreSQL (other suites share ``test``)."""
    name = f"celeris_auth_{secrets.token_hex(4)}"
    asyncio.run(_admin(postgres_url, f"CREATE DATABASE {name}"))
    base = postgres_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    asyncio.run(_admin(postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def fresh_postgres(postgres_database: str) -> Iterator[str]:
    """The throwaway PostgreSQL database, emptied of the battery's tables afterwards."""
    yield postgres_database
    tables = ", ".join(t.name for t in [User.__table__, *side_tables()])
    asyncio.run(_admin(postgres_database, f"DROP TABLE IF EXISTS {tables} CASCADE"))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database: a SQLite file, or the throwaway PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/auth.db"
    return str(request.getfixturevalue("fresh_postgres"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/auth.db"


MakeApp = Callable[..., tuple[App, Auth, Mailer]]


@pytest.fixture
def make_app(tmp_path: Path, sqlite_url: str) -> MakeApp:
    """Return a factory of apps with accounts: ``make_app(url=..., session_url=..., **auth_options)``."""

    def make(
        url: str | None = None, session_url: str = "memory://", **options: Any
    ) -> tuple[App, Auth, Mailer]:
        app = App()
        db = Database(url or sqlite_url, app=app, root_path=tmp_path)
        Sessions(app=app, url=session_url, secret_key=SECRET)
        mailer = Mailer(app=app, url="memory://")
        options.setdefault("hasher", PasswordHasher(**FAST))
        auth = Auth(app=app, db=db, mailer=mailer, secret_key=SECRET, **options)
        app.include_router(auth.router)

        @app.get("/me")
        async def me(request: Request, user: User = Depends(auth.current_user)) -> dict[str, Any]:
            return {"id": user.id, "email": user.email, "state": request.state.user is user}

        @app.get("/maybe")
        async def maybe(user: User | None = Depends(auth.optional_user)) -> dict[str, Any]:
            return {"email": user.email if user is not None else None}

        @app.delete("/notes/{note_id}", dependencies=[Depends(auth.requires("notes.delete"))])
        async def delete_note(note_id: int) -> None:
            return None

        return app, auth, mailer

    return make


def signup(client: Any, email: str = "ada@example.org", password: str = PASSWORD) -> Any:
    """Create an account through the JSON API (which also signs the client in)."""
    response = client.post("/auth/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    return response


def login(client: Any, email: str = "ada@example.org", password: str = PASSWORD) -> Any:
    return client.post("/auth/login", json={"email": email, "password": password})


def link_of(mail: Any) -> str:
    """Return the path and query of the first link in a captured mail."""
    url = next(line for line in mail.text.splitlines() if line.startswith("http"))
    return url.split("testserver", 1)[1]


async def asignup(client: Any, email: str = "ada@example.org", password: str = PASSWORD) -> Any:
    """``signup`` for an ``AsyncTestClient``."""
    response = await client.post("/auth/signup", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    return response


async def alogin(client: Any, email: str = "ada@example.org", password: str = PASSWORD) -> Any:
    return await client.post("/auth/login", json={"email": email, "password": password})
