"""Cache fixtures: every backend test runs on memory and on the local Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from celeris.cache import Cache


@pytest.fixture(params=["memory", "redis"])
def cache_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return request.getfixturevalue("redis_url")


@pytest.fixture
def namespace() -> str:
    """A private key space per test: the Redis database is shared with other suites."""
    return f"test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
async def cache(cache_url: str, namespace: str) -> AsyncIterator[Cache]:
    async with Cache(url=cache_url, namespace=namespace) as c:
        yield c
        await c.clear()
