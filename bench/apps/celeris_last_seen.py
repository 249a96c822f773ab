"""What the auth battery's device ``last_seen`` update costs (bench/results/2026-12-01-idempotency-last-seen.md).

A signed-in ``GET /me`` (``Depends(auth.current_user)``, session cookie): the auth step reads
the user joined with the session's device row on every request, and writes ``last_seen`` when
``Auth.device_touch_interval`` has passed. ``LAST_SEEN=due`` sets the interval to 0, so every
request writes (the UPDATE); ``LAST_SEEN=idle`` (the default) keeps 300 s, so none does.
``BENCH_DB_URL`` picks the database (a SQLite file in a temporary directory by default).

Drive it in process, start-up and sign-up included, then ``--requests N`` timed requests::

  PYTHONPATH=src python -m bench.apps.celeris_last_seen --requests 2000
  LAST_SEEN=due BENCH_DB_URL=postgresql://postgres@127.0.0.1:5432/bench python -m bench.apps.celeris_last_seen
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time

from celeris import App, Depends
from celeris.auth import Auth, PasswordHasher, User
from celeris.db import Database
from celeris.mail import Mailer
from celeris.sessions import Sessions
from celeris.testing import AsyncTestClient

SECRET = "bench-last-seen-not-a-secret-0123456789abcdef"
PASSWORD = "correct horse battery staple"
EMAIL = f"bench-{os.getpid()}-{time.time_ns()}@example.org"  # a new account each run

app = App()
db = Database(os.environ.get("BENCH_DB_URL") or f"sqlite:///{tempfile.mkdtemp()}/auth.db", app=app)
Sessions(app=app, url="cookie://", secret_key=SECRET)
auth = Auth(
    app=app,
    db=db,
    mailer=Mailer(app=app, url="memory://"),
    secret_key=SECRET,
    # NOTE: cheap argon2: one sign-up per run, not what is measured.
    hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
)
if os.environ.get("LAST_SEEN") == "due":
    auth.device_touch_interval = 0.0  # every request is due: one UPDATE each
app.include_router(auth.router)


@app.get("/me")
async def me(user: User = Depends(auth.current_user)) -> dict[str, str]:
    return {"email": user.email}


async def run(requests: int) -> float:
    """Sign up, warm up, then return microseconds per signed-in ``GET /me``."""
    async with AsyncTestClient(app, headers={"sec-fetch-site": "same-origin"}) as client:
        signed = await client.post("/auth/signup", json={"email": EMAIL, "password": PASSWORD})
        assert signed.status_code == 201, signed.text
        for _ in range(200):
            assert (await client.get("/me")).status_code == 200
        began = time.perf_counter()
        for _ in range(requests):
            await client.get("/me")
        return (time.perf_counter() - began) / requests * 1e6


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000)
    per_request = asyncio.run(run(parser.parse_args().requests))
    print(f"{os.environ.get('LAST_SEEN', 'idle')}: {per_request:.1f} us per GET /me")
