"""Idempotency keys scoped by the signed-in user (``Idempotency(auth=auth)``, cookie sessions)."""

from __future__ import annotations

from typing import Any

from celeris import Depends
from celeris.auth import User
from celeris.cache import REPLAYED_HEADER, Cache, Idempotency
from celeris.testing import AsyncTestClient

from .conftest import MakeApp, asignup


async def test_keys_belong_to_the_signed_in_user(make_app: MakeApp) -> None:
    app, auth, _ = make_app()
    cache = Cache(url="memory://")
    idempotency = Idempotency(cache=cache, auth=auth, required=True)
    runs: list[int] = []

    @app.post("/transfers", steps=[idempotency], status_code=201)
    async def transfer(user: User = Depends(auth.current_user)) -> dict[str, Any]:
        runs.append(user.id)
        return {"user": user.id, "n": len(runs)}

    key = {"idempotency-key": '"same-key-for-both"'}
    async with AsyncTestClient(app) as ada, AsyncTestClient(app) as bob:
        await asignup(ada, "ada@example.org")
        await asignup(bob, "bob@example.org")
        first = await ada.post("/transfers", headers=key)
        again = await ada.post("/transfers", headers=key)
        other = await bob.post("/transfers", headers=key)  # same key, another user: acts
        anonymous = await AsyncTestClient(app).post("/transfers", headers=key)

    assert first.status_code == 201
    assert again.json() == first.json()
    assert again.headers[REPLAYED_HEADER] == "true"
    assert other.json()["user"] != first.json()["user"]
    assert REPLAYED_HEADER not in other.headers
    assert anonymous.status_code == 401  # the handler's dependency still decides
    assert len(runs) == 2
