"""Memoisation with one computation per key at a time, in one process and across two."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from celeris.cache import Cache


class Report(msgspec.Struct):
    n: int
    label: str


async def test_cached_computes_once_per_key(cache: Cache) -> None:
    calls: list[int] = []

    @cache.cached(ttl=60)
    async def square(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0.05)
        return x * x

    results = await asyncio.gather(*(square(3) for _ in range(10)), square(4))
    assert results == [9] * 10 + [16]
    assert sorted(calls) == [3, 4]
    assert await square(3) == 9
    assert calls.count(3) == 1


async def test_cached_decodes_the_return_annotation(cache: Cache) -> None:
    @cache.cached(ttl=60, key="report:{n}")
    async def report(n: int, label: str = "x") -> Report:
        return Report(n, label)

    assert await report(1) == Report(1, "x")
    assert await report(1) == Report(1, "x")  # from the cache, decoded into the Struct
    assert await cache.get("report:1") == {"n": 1, "label": "x"}


async def test_cached_error_is_not_cached(cache: Cache) -> None:
    calls = 0

    @cache.cached(ttl=60)
    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("boom")
        return "ok"

    with pytest.raises(RuntimeError, match="boom"):
        await flaky()
    assert await flaky() == "ok"


async def test_cached_tags(cache: Cache) -> None:
    calls = 0

    @cache.cached(ttl=60, key=lambda uid: f"profile:{uid}", tags=lambda uid: [f"user:{uid}"])
    async def profile(uid: int) -> dict[str, int]:
        nonlocal calls
        calls += 1
        return {"uid": uid}

    await profile(7)
    await profile(7)
    assert calls == 1
    assert await cache.invalidate("user:7") == 1
    await profile(7)
    assert calls == 2


async def test_cached_methods_key_by_instance(cache: Cache) -> None:
    class Repo:
        def __init__(self, name: str) -> None:
            self.name = name

        def __repr__(self) -> str:
            return f"Repo({self.name})"

        @cache.cached(ttl=60)
        async def title(self, n: int) -> str:
            return f"{self.name}-{n}"

    assert await Repo("a").title(1) == "a-1"
    assert await Repo("b").title(1) == "b-1"


async def test_one_computation_across_two_processes(redis_url: str, namespace: str) -> None:
    # Two Cache instances on one Redis behave like two workers: each has its own in-process
    # flights, so only the Redis lock can keep the second from computing too.
    calls: list[str] = []
    async with (
        Cache(url=redis_url, namespace=namespace) as worker_a,
        Cache(url=redis_url, namespace=namespace) as worker_b,
    ):

        async def slow(who: str) -> str:
            calls.append(who)
            await asyncio.sleep(0.2)
            return "value"

        results = await asyncio.gather(
            *(worker_a.get_or_set("hot", lambda: slow("a"), 60) for _ in range(5)),
            *(worker_b.get_or_set("hot", lambda: slow("b"), 60) for _ in range(5)),
        )
        assert results == ["value"] * 10
        assert len(calls) == 1, calls
        await worker_a.clear()


async def test_lock_excludes_across_instances(redis_url: str, namespace: str) -> None:
    async with (
        Cache(url=redis_url, namespace=namespace) as a,
        Cache(url=redis_url, namespace=namespace) as b,
    ):
        async with a.lock("job", ttl=5):
            assert await b.lock("job", wait=0.05).acquire() is False
        lock = b.lock("job", wait=0.05)
        assert await lock.acquire() is True
        await lock.release()


async def test_lock_expires_when_its_holder_dies(cache: Cache) -> None:
    dead = cache.lock("job", ttl=0.1)
    assert await dead.acquire()  # never released
    waiter = cache.lock("job", wait=2)
    assert await waiter.acquire() is True
    assert waiter.waited
    await waiter.release()
