"""Channels backends, parametrised: memory and real Redis, without and with history."""

from __future__ import annotations

import uuid

import pytest

BACKENDS = ["memory", "redis", "memory-history", "redis-streams"]


@pytest.fixture(params=BACKENDS)
def options(request: pytest.FixtureRequest) -> dict[str, object]:
    """Keyword arguments of ``Channels`` for each backend."""
    kind = request.param
    history = 100 if kind.endswith(("history", "streams")) else 0
    url = "memory://" if kind.startswith("memory") else request.getfixturevalue("redis_url")
    return {"url": url, "history": history}


@pytest.fixture(params=["memory-history", "redis-streams"])
def resumable(request: pytest.FixtureRequest) -> dict[str, object]:
    """Keyword arguments of ``Channels`` for each backend that keeps history."""
    if request.param == "memory-history":
        return {"url": "memory://", "history": 100}
    return {"url": request.getfixturevalue("redis_url"), "history": 100}


@pytest.fixture
def channel() -> str:
    """A channel name no other test (or test run sharing Redis) uses."""
    return f"test:{uuid.uuid4().hex}"
