"""Channels backends, parametrised: memory and real Redis, without and with history."""

from __future__ import annotations

import os
import uuid

import pytest

from ..conftest import require_service

BACKENDS = ["memory", "redis", "memory-history", "redis-streams", "nats"]
NATS_URL = os.environ.get("CELERIS_TEST_NATS_URL", "nats://127.0.0.1:4222")


@pytest.fixture(scope="session")
def nats_url() -> str:
    return require_service("NATS", NATS_URL, 4222)


@pytest.fixture(params=BACKENDS)
def options(request: pytest.FixtureRequest) -> dict[str, object]:
    """Keyword arguments of ``Channels`` for each backend."""
    kind = request.param
    if kind == "nats":
        return {"url": request.getfixturevalue("nats_url"), "history": 100}
    history = 100 if kind.endswith(("history", "streams")) else 0
    url = "memory://" if kind.startswith("memory") else request.getfixturevalue("redis_url")
    return {"url": url, "history": history}


@pytest.fixture(params=["memory-history", "redis-streams", "nats"])
def resumable(request: pytest.FixtureRequest) -> dict[str, object]:
    """Keyword arguments of ``Channels`` for each backend that keeps history."""
    if request.param == "memory-history":
        return {"url": "memory://", "history": 100}
    if request.param == "nats":
        return {"url": request.getfixturevalue("nats_url"), "history": 100}
    return {"url": request.getfixturevalue("redis_url"), "history": 100}


@pytest.fixture
def channel() -> str:
    """A channel name no other test (or test run sharing Redis) uses."""
    return f"test:{uuid.uuid4().hex}"
