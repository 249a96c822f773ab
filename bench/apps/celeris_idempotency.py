"""What ``celeris.cache.Idempotency`` costs a POST route (bench/results/2026-12-01-idempotency-last-seen.md).

One JSON POST handler on four routes: ``/plain`` without the step, ``/memory`` and ``/redis``
with ``steps=[Idempotency(...)]`` on the memory cache and on Redis (``BENCH_REDIS_URL``, local
by default). The same key sent again is a replay; ``/memory/first`` and ``/redis/first`` name
every request's caller anew (``identity=``, a counter), so each one is a first request: the
pending record, the handler, the stored response. ``IDEMPOTENCY=off`` builds the app without
any step and without ``celeris.cache``, to show what ``/plain`` pays for the others (nothing).
Drive it with ``bench/hotpath.py ... --post JSON --header 'Idempotency-Key: "k1"'``.
"""

from __future__ import annotations

import itertools
import os
from typing import Any

from celeris import App, Request

app = App()
ORDER = {"sku": "tea", "quantity": 2}


async def place(order: dict[str, Any]) -> dict[str, Any]:
    return {"id": 1, **order}


app.post("/plain", status_code=201)(place)

if os.environ.get("IDEMPOTENCY", "on") != "off":
    from celeris.cache import Cache, Idempotency

    _callers = itertools.count()

    def fresh_caller(request: Request) -> str:
        """A new caller each time: every request takes a new key (a first request)."""
        return f"caller-{next(_callers)}"

    memory = Cache(app=app, url="memory://?max_entries=1000000")  # no evictions while timing
    redis = Cache(app=app, url=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15"))
    for path, cache in (("/memory", memory), ("/redis", redis)):
        app.post(path, steps=[Idempotency(cache=cache)], status_code=201)(place)
        first = Idempotency(cache=cache, identity=fresh_caller)
        app.post(path + "/first", steps=[first], status_code=201)(place)
