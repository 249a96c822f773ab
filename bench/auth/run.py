"""What a login and a token-authenticated request cost: celeris.auth against FastAPI's recipe.

  .venv/bin/python bench/auth/run.py                 # counts on SQLite and PostgreSQL, then timings
  .venv/bin/python bench/auth/run.py --counts-only   # the deterministic part only (seconds)
  .venv/bin/python bench/auth/run.py --requests 2000 --database postgresql://postgres@127.0.0.1:5432/test

Counts (``bench/auth/count.py``): argon2 computations, SQL statements and PostgreSQL round
trips of each sign-in and of ``GET /me`` with a bearer token. Timings: sequential requests
through httpx's ``ASGITransport`` for both apps (the same method for both, httpx's own cost
included: the floor row is a bare ASGI callable under the same client), median of 3. On a
shared machine timings are noisy; the counts are not.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.auth.apps import (  # noqa: E402
    EMAIL,
    PASSWORD,
    celeris_app,
    fastapi_app,
    fastapi_setup,
)
from bench.auth.count import (  # noqa: E402
    POSTGRES,
    Cost,
    login_costs,
    postgres_database,
    request_costs,
    running,
)

HEAD = "| what | status | argon2 | statements | round trips |\n| --- | --- | --- | --- | --- |"


def table(costs: dict[str, Cost]) -> str:
    return "\n".join([HEAD, *(cost.line(name) for name, cost in costs.items())])


async def floor(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A bare ASGI app answering the same JSON: what the client and transport cost alone."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b'{"id":1,"email":"ada@example.org"}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def time_requests(app: Any, headers: dict[str, str], requests: int, prepare: Any) -> float:
    """Return the median µs per ``GET /me`` over 3 runs of ``requests`` (after a warm-up)."""
    async with running(app) as client:
        if prepare is not None:
            headers = await prepare(client)
        for _ in range(50):
            assert (await client.get("/me", headers=headers)).status_code == 200
        runs = []
        for _ in range(3):
            began = time.perf_counter()
            for _ in range(requests):
                await client.get("/me", headers=headers)
            runs.append((time.perf_counter() - began) / requests * 1e6)
        return statistics.median(runs)


async def timings(url: str, requests: int) -> dict[str, float]:
    results: dict[str, float] = {}
    results["floor: bare ASGI callable"] = await time_requests(floor, {}, requests, None)

    app, auth = celeris_app(url)

    async def celeris_token(_client: Any) -> dict[str, str]:
        user = await auth.create_user(EMAIL, PASSWORD)
        token, _ = await auth.create_token(user, "bench")
        return {"authorization": f"Bearer {token}"}

    results["celeris: personal token, cached"] = await time_requests(
        app, {}, requests, celeris_token
    )
    fast, engine, password_hash = fastapi_app(url)
    await fastapi_setup(engine, password_hash)

    async def fastapi_token(client: Any) -> dict[str, str]:
        form = {"username": EMAIL, "password": PASSWORD}
        token = (await client.post("/token", data=form)).json()["access_token"]
        return {"authorization": f"Bearer {token}"}

    results["FastAPI: OAuth2PasswordBearer + PyJWT + user query"] = await time_requests(
        fast, {}, requests, fastapi_token
    )
    await engine.dispose()
    return results


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as folder:
        print("## Counts\n")
        print("### SQLite\n")
        print(table(await login_costs(f"sqlite:///{folder}/login.db")) + "\n")
        print(table(await request_costs(f"sqlite:///{folder}/request.db")) + "\n")
        print("### PostgreSQL\n")
        async with postgres_database(args.database) as url:
            print(table(await login_costs(url)) + "\n")
        async with postgres_database(args.database) as url:
            print(table(await request_costs(url)) + "\n")
        if args.counts_only:
            return
        print(f"## Timings (noisy: µs per request, median of 3 x {args.requests})\n")
        for name in ("SQLite", "PostgreSQL"):
            if name == "PostgreSQL":
                async with postgres_database(args.database) as pg:
                    results = await timings(pg, args.requests)
            else:
                results = await timings(f"sqlite:///{folder}/timing.db", args.requests)
            print(
                f"### {name}\n\n| app | µs per request | requests per second |\n| --- | --- | --- |"
            )
            for what, micro in results.items():
                print(f"| {what} | {micro:.0f} | {1e6 / micro:,.0f} |")
            print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default=POSTGRES, help="an admin URL of the local PostgreSQL")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--counts-only", action="store_true")
    uvloop.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
