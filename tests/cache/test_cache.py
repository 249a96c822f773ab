"""Cache values, expiry, serialisation, counters, prefixes and tags on every backend."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt

import msgspec
import pytest

from celeris.cache import Cache, CacheConfigError
from celeris.cache.memory import MemoryBackend


class Point(msgspec.Struct):
    x: int
    y: int


@dataclasses.dataclass
class User:
    name: str
    joined: dt.date


async def test_set_get_delete(cache: Cache) -> None:
    assert await cache.get("k") is None
    assert await cache.get("k", "fallback") == "fallback"
    await cache.set("k", {"a": [1, 2], "b": None})
    assert await cache.get("k") == {"a": [1, 2], "b": None}
    assert await cache.delete("k", "absent") == 1
    assert await cache.get("k") is None


async def test_ttl_expires(cache: Cache) -> None:
    await cache.set("short", "v", ttl=0.05)
    await cache.set("long", "v", ttl=60)
    await cache.set("forever", "v", ttl=None)
    assert await cache.get("short") == "v"
    await asyncio.sleep(0.12)
    assert await cache.get("short") is None
    assert await cache.get("long") == "v"
    assert await cache.get("forever") == "v"


async def test_bad_ttl_and_key(cache: Cache) -> None:
    with pytest.raises(ValueError, match="ttl"):
        await cache.set("k", 1, ttl=0)
    with pytest.raises(TypeError, match="non-empty"):
        await cache.get("")


async def test_type_decodes_structs_and_dataclasses(cache: Cache) -> None:
    await cache.set("p", Point(1, 2))
    await cache.set("u", User("ada", dt.date(2020, 1, 2)))
    assert await cache.get("p") == {"x": 1, "y": 2}  # builtins without a type
    assert await cache.get("p", type=Point) == Point(1, 2)
    assert await cache.get("u", type=User) == User("ada", dt.date(2020, 1, 2))
    many = await cache.get_many(["p", "absent"], type=Point)
    assert many == {"p": Point(1, 2)}


async def test_values_are_copies(cache: Cache) -> None:
    value = {"n": [1]}
    await cache.set("k", value)
    value["n"].append(2)
    assert await cache.get("k") == {"n": [1]}


async def test_get_many_set_many(cache: Cache) -> None:
    await cache.set_many({"a": 1, "b": "two", "c": [3]}, ttl=60)
    assert await cache.get_many(["a", "b", "c", "d"]) == {"a": 1, "b": "two", "c": [3]}
    assert await cache.get_many([]) == {}


async def test_add_only_when_absent(cache: Cache) -> None:
    assert await cache.add("k", 1) is True
    assert await cache.add("k", 2) is False
    assert await cache.get("k") == 1


async def test_incr(cache: Cache) -> None:
    assert await cache.incr("hits") == 1
    assert await cache.incr("hits", 5) == 6
    assert await cache.incr("hits", -2) == 4
    assert await cache.get("hits") == 4
    await cache.set("word", "x")
    with pytest.raises(TypeError, match="not an integer"):
        await cache.incr("word")


async def test_incr_ttl_set_on_creation(cache: Cache) -> None:
    await cache.incr("window", ttl=0.05)
    await cache.incr("window", ttl=60)  # does not extend the window
    await asyncio.sleep(0.12)
    assert await cache.get("window") is None


async def test_clear_prefix_stays_in_namespace(cache: Cache, cache_url: str) -> None:
    async with Cache(url=cache_url, namespace=cache.namespace + "other:") as other:
        await other.set("user:1", "kept")
        await cache.set_many({"user:1": 1, "user:2": 2, "post:1": 3})
        assert await cache.clear(prefix="user:") == 2
        assert await cache.get_many(["user:1", "user:2", "post:1"]) == {"post:1": 3}
        await cache.set("a*b", 1)
        await cache.set("aXb", 2)
        assert await cache.clear(prefix="a*") == 1  # glob characters are literal
        assert await cache.get("aXb") == 2
        assert await other.get("user:1") == "kept"
        await other.clear()


async def test_tags_invalidate(cache: Cache) -> None:
    await cache.set("user:1:profile", "p", ttl=60, tags=["user:1"])
    await cache.set("user:1:posts", "q", tags=["user:1", "posts"])
    await cache.set("user:2:profile", "r", tags=["user:2"])
    await cache.set_many({"x": 1, "y": 2}, tags=["posts"])
    assert await cache.invalidate("user:1") == 2
    assert await cache.get("user:1:profile") is None
    assert await cache.get("user:1:posts") is None
    assert await cache.get("user:2:profile") == "r"
    assert await cache.invalidate("posts", "nothing") == 2
    assert await cache.get_many(["x", "y"]) == {}
    assert await cache.invalidate("posts") == 0


async def test_memory_is_a_bounded_lru() -> None:
    async with Cache(url="memory://?max_entries=3") as cache:
        assert isinstance(cache.backend, MemoryBackend)
        for key in "abc":
            await cache.set(key, key)
        assert await cache.get("a") == "a"  # a is now the most recently used
        await cache.set("d", "d")
        assert await cache.get_many(list("abcd")) == {"a": "a", "c": "c", "d": "d"}


def test_unknown_scheme_names_the_fix() -> None:
    with pytest.raises(CacheConfigError, match=r"memory:// or redis://"):
        Cache(url="memcached://localhost")


def test_url_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    class Settings:
        CACHE_URL = None
        REDIS_URL = "redis://127.0.0.1:6379/3"

    class App:
        settings = Settings()

        def on_startup(self, f: object) -> object:
            return f

        on_shutdown = on_startup

    monkeypatch.delenv("CACHE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert Cache().url == "memory://"
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/4")
    assert Cache().url == "redis://127.0.0.1:6379/4"
    monkeypatch.setenv("CACHE_URL", "memory://?max_entries=5")
    assert Cache().url == "memory://?max_entries=5"
    assert Cache(app=App()).url == "redis://127.0.0.1:6379/3"  # settings before env
    assert Cache(app=App(), url="memory://").url == "memory://"  # url= first
