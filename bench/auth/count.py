"""The deterministic part: argon2 hashes, statements and round trips per login and per request.

Statements are counted with SQLAlchemy's ``before_cursor_execute`` event; round trips on
PostgreSQL with ``bench.auth.wire.WireCounter`` (what the statement count misses: ``BEGIN``,
``COMMIT``/``ROLLBACK``, prepares); argon2 computations by wrapping argon2-cffi's
``PasswordHasher.hash`` and ``.verify``, which both celeris (through pwdlib) and the FastAPI
recipe (pwdlib too) end in. Every request goes through httpx's ``ASGITransport``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import argon2
import asyncpg  # type: ignore[import-untyped]
import httpx
from sqlalchemy import event, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.auth.apps import EMAIL, PASSWORD, celeris_app, fastapi_app, fastapi_setup
from bench.auth.wire import WireCounter
from celeris.auth import PasswordHasher, User
from celeris.auth.models import side_tables

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass
class Cost:
    """What one request cost: its status, argon2 computations, statements, round trips."""

    status: int
    hashes: int
    statements: list[str] = field(default_factory=list)
    trips: int | None = None  # PostgreSQL only

    def line(self, name: str) -> str:
        trips = "-" if self.trips is None else str(self.trips)
        words = " ".join(self.statements) or "(none)"
        return f"| {name} | {self.status} | {self.hashes} | {len(self.statements)} ({words}) | {trips} |"


class Meter:
    """Counts hashes, statements (on the engines given) and wire round trips while active."""

    def __init__(self, wire: WireCounter | None) -> None:
        self.wire = wire
        self.hashes = 0
        self.statements: list[str] = []
        self._engines: list[Any] = []
        self._listener = self._statement  # NOTE: one bound method, so that it can be removed

    def watch(self, engine: AsyncEngine) -> None:
        event.listen(engine.sync_engine, "before_cursor_execute", self._listener)
        self._engines.append(engine.sync_engine)

    def close(self) -> None:
        for engine in self._engines:
            event.remove(engine, "before_cursor_execute", self._listener)
        self._engines.clear()

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(statement.split(None, 1)[0].upper())

    def reset(self) -> None:
        self.hashes = 0
        self.statements = []
        if self.wire is not None:
            self.wire.reset()

    def cost(self, status: int) -> Cost:
        trips = None if self.wire is None else len(self.wire.trips)
        return Cost(status, self.hashes, list(self.statements), trips)


@contextlib.contextmanager
def counting_hashes(meter: Meter) -> Iterator[None]:
    """Count every argon2 hash and verification (each is one full argon2 computation)."""
    real_hash, real_verify = argon2.PasswordHasher.hash, argon2.PasswordHasher.verify

    def hash_(self: argon2.PasswordHasher, *args: Any, **kwargs: Any) -> str:
        meter.hashes += 1
        return real_hash(self, *args, **kwargs)

    def verify(self: argon2.PasswordHasher, *args: Any, **kwargs: Any) -> bool:
        meter.hashes += 1
        return real_verify(self, *args, **kwargs)

    argon2.PasswordHasher.hash = hash_  # type: ignore[method-assign]
    argon2.PasswordHasher.verify = verify  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        argon2.PasswordHasher.hash = real_hash  # type: ignore[method-assign]
        argon2.PasswordHasher.verify = real_verify  # type: ignore[method-assign]


@contextlib.asynccontextmanager
async def running(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """Run ``app``'s lifespan around an httpx client on ``ASGITransport``."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send(message: dict[str, Any]) -> None:
        await outbox.put(message)

    task = asyncio.ensure_future(
        app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send)
    )
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"start-up failed: {started}")
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task


@contextlib.asynccontextmanager
async def postgres_database(admin_url: str = POSTGRES) -> AsyncIterator[str]:
    """A database of the bench's own on the local PostgreSQL, dropped afterwards."""
    name = f"celeris_bench_auth_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f"CREATE DATABASE {name}")
    finally:
        await connection.close()
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        connection = await asyncpg.connect(admin_url)
        try:
            await connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await connection.close()


def via(url: str, wire: WireCounter | None) -> str:
    """Return ``url`` pointed at the wire counter (PostgreSQL), else unchanged."""
    if wire is None:
        return url
    return url.replace("127.0.0.1:5432", f"127.0.0.1:{wire.listen_port}", 1)


async def measured(meter: Meter, request: Any) -> Cost:
    """Send one request (a coroutine factory) with fresh counters; return its cost."""
    meter.reset()
    response = await request()
    await asyncio.sleep(0.05)  # NOTE: let background writes (last use, devices) show up
    return meter.cost(response.status_code)


async def login_costs(url: str, *, rounds: int = 2) -> dict[str, Cost]:
    """Return the cost of each kind of sign-in, on celeris and on the FastAPI recipe.

    Each kind runs ``rounds`` times on fresh clients; the last one is kept (warm: statements
    prepared, the dummy hash made). ``first unknown email`` is the first unknown-address login
    after start-up, which also makes the dummy hash.
    """
    wire = WireCounter() if url.startswith("postgresql") else None
    if wire is not None:
        await wire.start()
    meter = Meter(wire)
    costs: dict[str, Cost] = {}
    try:
        with counting_hashes(meter):
            app, auth = celeris_app(via(url, wire))
            async with running(app) as client:
                meter.watch(auth.db.engine)
                await auth.create_user(EMAIL, PASSWORD)
                old = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
                await auth.create_user("old@example.org", PASSWORD)
                async with auth.db.scope() as session:
                    await session.execute(
                        update(User)
                        .where(User.email_key == "old@example.org")
                        .values(password=old.hash_sync(PASSWORD))
                    )

                def login(email: str, password: str = PASSWORD, *, fresh: bool = True) -> Any:
                    async def send() -> httpx.Response:
                        if fresh:  # a new visitor: no session yet
                            client.cookies.clear()
                        body = {"email": email, "password": password}
                        return await client.post("/auth/login", json=body)

                    return send

                costs["celeris: first unknown email"] = await measured(
                    meter, login("nobody@example.org")
                )
                for name, email, password in (
                    ("right password", EMAIL, PASSWORD),
                    ("wrong password", EMAIL, "not the password at all"),
                    ("unknown email", "nobody@example.org", PASSWORD),
                ):
                    for _ in range(rounds):
                        costs[f"celeris: {name}"] = await measured(meter, login(email, password))
                costs["celeris: right password, hash upgraded"] = await measured(
                    meter, login("old@example.org")
                )
                costs["celeris: right password, after the upgrade"] = await measured(
                    meter, login("old@example.org")
                )
                costs["celeris: right password, already signed in"] = await measured(
                    meter, login("old@example.org", fresh=False)
                )
            meter.close()

            fast, engine, password_hash = fastapi_app(via(url, wire))
            await fastapi_setup(engine, password_hash)
            meter.watch(engine)
            async with running(fast) as client:
                form = {"username": EMAIL, "password": PASSWORD}
                for _ in range(rounds):
                    costs["FastAPI recipe: right password"] = await measured(
                        meter, lambda: client.post("/token", data=form)
                    )
            meter.close()
            await engine.dispose()
    finally:
        if wire is not None:
            await wire.close()
    return costs


async def request_costs(url: str, *, warm: int = 5) -> dict[str, Cost]:
    """Return the cost of one authenticated ``GET /me``: cold and warm (the last of ``warm``)."""
    wire = WireCounter() if url.startswith("postgresql") else None
    if wire is not None:
        await wire.start()
    meter = Meter(wire)
    costs: dict[str, Cost] = {}
    try:
        with counting_hashes(meter):
            for cache in (True, False):
                label = "celeris token, cached" if cache else "celeris token, no cache"
                app, auth = celeris_app(via(url, wire), cache=cache)
                async with running(app) as client:
                    meter.watch(auth.db.engine)
                    user = await auth.create_user(EMAIL, PASSWORD)
                    token, _ = await auth.create_token(user, "bench")
                    me = _me(client, {"authorization": f"Bearer {token}"})
                    costs[f"{label}: first request"] = await measured(meter, me)
                    for _ in range(warm):
                        costs[f"{label}: next requests"] = await measured(meter, me)
                    meter.close()
                async with auth.db.engine.begin() as connection:
                    await connection.run_sync(_drop_celeris_tables)
                await auth.db.engine.dispose()

            fast, engine, password_hash = fastapi_app(via(url, wire))
            await fastapi_setup(engine, password_hash)
            async with running(fast) as client:
                form = {"username": EMAIL, "password": PASSWORD}
                token = (await client.post("/token", data=form)).json()["access_token"]
                headers = {"authorization": f"Bearer {token}"}
                meter.watch(engine)
                costs["FastAPI JWT: first request"] = await measured(
                    meter, lambda: client.get("/me", headers=headers)
                )
                for _ in range(warm):
                    costs["FastAPI JWT: next requests"] = await measured(
                        meter, lambda: client.get("/me", headers=headers)
                    )
                meter.close()
            await engine.dispose()
    finally:
        if wire is not None:
            await wire.close()
    return costs


def _me(client: httpx.AsyncClient, headers: dict[str, str]) -> Any:
    """Return a factory of ``GET /me`` requests with ``headers``."""
    return lambda: client.get("/me", headers=headers)


def _drop_celeris_tables(connection: Any) -> None:
    """Drop the battery's tables (the next app on the same database recreates them)."""
    tables = [User.__table__, *side_tables()]
    User.metadata.drop_all(connection, tables=tables)  # type: ignore[arg-type]
