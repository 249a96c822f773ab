"""The app of the multi-node test (``tests/e2e/test_multinode.py``): one codebase, two nodes.

Everything a node shares with the other goes through a real service, chosen by configuration
only (the environment): PostgreSQL for data and job records (``DATABASE_URL``), RabbitMQ for
the jobs' work (``JOBS_URL=amqp://...``), Redis for sessions, rate limits and channels
(``REDIS_URL``; channels on Redis Streams, resumable) and the cache. ``NODE`` names the node in answers.

    NODE=a DATABASE_URL=postgresql://... JOBS_URL=amqp://... REDIS_URL=redis://... \\
        celeris serve multinode_app:app --workers 2 --forwarded-allow-ips 127.0.0.1
    NODE=a ... celeris worker multinode_app:app
"""

from __future__ import annotations

import os
import time

from sqlalchemy import String, select
from sqlalchemy.orm import Mapped, mapped_column

from celeris import App, Depends, Request, WebSocket
from celeris.cache import Cache
from celeris.channels import Channels
from celeris.db import AsyncSession, Database, Model
from celeris.health import Health
from celeris.jobs import Jobs
from celeris.metrics import Metrics
from celeris.security import RateLimiter
from celeris.sessions import Sessions

NODE = os.environ.get("NODE", "?")
# NOTE: the test's own RabbitMQ queue, so that no other suite's worker takes these jobs.
QUEUE = "e2e-multinode"
ROUTES = int(os.environ.get("MULTINODE_ROUTES", "100"))


class Visit(Model):
    """One row per job run: which node enqueued it and which node ran it."""

    __tablename__ = "multinode_visit"
    id: Mapped[int] = mapped_column(primary_key=True)
    n: Mapped[int]
    enqueued_on: Mapped[str] = mapped_column(String(8))
    ran_on: Mapped[str] = mapped_column(String(8))
    pid: Mapped[int]


app = App()
db = Database(app=app, create_all=True)
jobs = Jobs(app=app, queue=QUEUE)
cache = Cache(app=app)  # REDIS_URL: one cache for every node
Sessions(app=app)  # REDIS_URL: server side, a signed id in the cookie (SECRET_KEY)
limiter = RateLimiter(app=app)  # REDIS_URL: one window for every worker of every node
channels = Channels(app=app, history=1000)  # REDIS_URL + history: Redis Streams
metrics = Metrics(app=app)  # PROMETHEUS_MULTIPROC_DIR: the node's workers summed
Health(app=app)


def who() -> dict[str, object]:
    return {"node": NODE, "pid": os.getpid()}


@app.get("/ping")
async def ping() -> dict[str, object]:
    return who()


@app.get("/whoami")
async def whoami(request: Request) -> dict[str, object]:
    client = request.client
    return {
        **who(),
        "client": client[0] if client else None,
        "scheme": request.url.scheme,
        "host": request.headers.get("host"),
    }


@app.post("/session")
async def login(request: Request) -> dict[str, object]:
    request.session["user"] = (await request.json())["user"]
    return who()


@app.get("/session")
async def session(request: Request) -> dict[str, object]:
    return {**who(), "user": request.session.get("user")}


@app.post("/counters/{name}")
async def count(name: str) -> dict[str, object]:
    return {**who(), "value": await cache.incr(f"multinode:{name}", ttl=300)}


@app.get("/limited")
@limiter.limit("5/minute")  # keyed by the client address the proxy forwarded
async def limited() -> dict[str, object]:
    return who()


@app.post("/rooms/{room}")
async def publish(room: str, request: Request) -> dict[str, object]:
    body = await request.json()
    return {**who(), "id": await channels.publish(room, {**body, "node": NODE, "t": time.time()})}


@app.websocket("/ws/{room}")
async def listen(ws: WebSocket, room: str, last_id: str | None = None) -> None:
    await ws.accept()
    await ws.send_json(who())
    await channels.websocket(ws, room, last_id=last_id)


@jobs.job(retries=3, timeout=30)
async def visit(n: int, enqueued_on: str, session: AsyncSession = Depends(db.session)) -> str:
    session.add(Visit(n=n, enqueued_on=enqueued_on, ran_on=NODE, pid=os.getpid()))
    return NODE


@app.post("/visits/{n}")
async def enqueue(n: int) -> dict[str, object]:
    handle = await visit.enqueue(n, NODE)
    return {**who(), "job": str(handle.id)}


@app.get("/visits")
async def visits(session: AsyncSession = Depends(db.session)) -> list[dict[str, object]]:
    rows = (await session.scalars(select(Visit).order_by(Visit.n))).all()
    return [{"n": v.n, "enqueued_on": v.enqueued_on, "ran_on": v.ran_on} for v in rows]


def _route(i: int) -> None:
    async def handler() -> int:
        return i

    app.get(f"/r{i}", name=f"r{i}")(handler)


# NOTE: ROUTES more route templates, so a /metrics scrape has that many series to write.
for _i in range(ROUTES):
    _route(_i)


async def prepare() -> None:
    """Create the tables once, before the nodes start (they would race to CREATE TABLE)."""
    from celeris.jobs.database import METADATA

    async with db.engine.begin() as connection:
        await connection.run_sync(Model.metadata.create_all)
        await connection.run_sync(METADATA.create_all)
    await db.disconnect()
