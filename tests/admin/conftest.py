"""The library example's admin on SQLite or a throwaway PostgreSQL database, with staff users."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from examples.admin import build

from celeris.auth import PasswordHasher
from celeris.db import Model
from celeris.testing import TestClient

SECRET = "admin-test-secret-" + "x" * 40
PASSWORD = "correct horse battery staple"
FAST = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


async def _run(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_database(postgres_url: str) -> Iterator[str]:
    """A database of its own on the local PostgreSQL."""
    name = f"celeris_admin_{secrets.token_hex(4)}"
    asyncio.run(_run(postgres_url, f"CREATE DATABASE {name}"))
    base = postgres_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    asyncio.run(_run(postgres_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def fresh_postgres(postgres_database: str) -> Iterator[str]:
    yield postgres_database
    tables = ", ".join(
        [*(t.name for t in Model.metadata.sorted_tables), "celeris_admin_log", "celeris_admin_task"]
    )
    asyncio.run(_run(postgres_database, f"DROP TABLE IF EXISTS {tables} CASCADE"))


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/admin.db"
    return str(request.getfixturevalue("fresh_postgres"))


class Site:
    """A running admin: the app, its parts, and helpers to sign users in."""

    def __init__(
        self,
        url: str,
        monkeypatch: pytest.MonkeyPatch,
        before_start: Callable[[Site], None] | None = None,
        **options: Any,
    ) -> None:
        monkeypatch.setenv("SECRET_KEY", SECRET)
        auth_options = {"hasher": PasswordHasher(**FAST), **options.pop("auth_options", {})}
        self.app, self.db, self.auth, self.admin = build(url, auth_options=auth_options, **options)
        if before_start is not None:
            before_start(self)
        self.client = TestClient(self.app)
        self.client.__enter__()

    def close(self) -> None:
        self.client.__exit__(None, None, None)

    def run(self, coroutine: Any) -> Any:
        """Run a coroutine on the client's event loop (where the app's engine lives)."""
        return self.client._portal.call(coroutine)

    def user(
        self,
        email: str,
        *,
        staff: bool = True,
        superuser: bool = False,
        perms: tuple[str, ...] = (),
    ) -> Any:
        async def make() -> Any:
            user = await self.auth.create_user(
                email, PASSWORD, is_staff=staff, is_superuser=superuser
            )
            if perms:
                await self.auth.grant(user, *perms)
            return user

        return self.run(make())

    def rows(self, statement: Any) -> list[Any]:
        """Return the rows of a statement, run on the site's database."""

        async def run() -> list[Any]:
            async with self.db.scope() as session:
                return list((await session.execute(statement)).all())

        return self.run(run())

    def login(self, email: str) -> TestClient:
        """Sign ``email`` in on the (one) client, replacing whoever was signed in."""
        client = self.client
        client.cookies.clear()
        response = client.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert response.status_code in (200, 204), response.text
        return client

    def page(self, path: str) -> str:
        response = self.client.get(path, headers={"accept": "text/html"})
        assert response.status_code == 200, (response.status_code, response.text[:500])
        return response.text

    def post(self, path: str, data: Any, **options: Any) -> Any:
        """Post a form the way a browser does (same origin), with the page's CSRF token."""
        token = csrf_of(self.page(options.pop("token_from", "/admin/")))
        payload: dict[str, list[str]] = {"csrf_token": [token]}
        for key, value in data.items() if isinstance(data, dict) else data:
            payload.setdefault(key, []).append(value)
        return self.client.post(
            path,
            data=payload,
            headers={
                "accept": "text/html",
                "origin": "http://testserver",
                "sec-fetch-site": "same-origin",
            },
            **options,
        )


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


MakeSite = Callable[..., Site]


@pytest.fixture
def make_site(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[MakeSite]:
    made: list[Site] = []

    def make(**options: Any) -> Site:
        site = Site(database_url, monkeypatch, **options)
        made.append(site)
        return site

    yield make
    for site in made:
        site.close()


def superuser_site(make_site: MakeSite, **options: Any) -> Site:
    """A running admin with a superuser signed in (root@example.org)."""
    site = make_site(**options)
    site.user("root@example.org", superuser=True)
    site.login("root@example.org")
    return site
