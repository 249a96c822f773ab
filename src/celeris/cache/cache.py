"""``Cache``: values by key with expiry, memoisation without stampedes, and tags.

The URL picks the backend (``memory://`` by default, ``redis://`` for many workers); values
are JSON-encoded with msgspec, so any process can read them and ``type=`` decodes them back
into Structs, dataclasses or builtins. A backend that is away costs a miss, not an error
(``on_error="degrade"``), or a 503 (``on_error="raise"``); either way the cache tries again
by itself after ``retry_after`` seconds.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import logging
import secrets
import time
import typing
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal, ParamSpec, TypeVar, overload
from urllib.parse import parse_qsl, urlsplit

import msgspec

from celeris import telemetry
from celeris.cache.base import Backend
from celeris.cache.errors import CacheConfigError, CacheUnavailable
from celeris.cache.health import check
from celeris.cache.memory import MemoryBackend
from celeris.cache.response import ResponseCache
from celeris.health import register_check
from celeris.settings import app_setting

__all__ = ["Cache", "resolve_url"]

logger = logging.getLogger("celeris.cache")

T = TypeVar("T")
P = ParamSpec("P")

_MISSING: Any = object()
_ENCODER = msgspec.json.Encoder()
# NOTE: arguments msgspec cannot encode (``self``, a connection) enter a default key by repr.
_KEY_ENCODER = msgspec.json.Encoder(enc_hook=repr)
_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}
_FRESH = ":fresh"  # the marker beside a value cached with early refresh
DEFAULT_URL = "memory://"


def resolve_url(url: str | None, app: Any) -> str:
    """Pick the URL: ``url=``, the app's CACHE_URL/REDIS_URL settings, the env, then memory."""
    return str(url or app_setting(app, "CACHE_URL", "REDIS_URL") or DEFAULT_URL)


def _backend_for(url: str, timeout: float) -> Backend:
    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query))
    if parts.scheme == "memory":
        try:
            return MemoryBackend(max_entries=int(options.get("max_entries", 10_000)))
        except ValueError as error:
            raise CacheConfigError(
                f"memory:// takes max_entries=<an integer >= 1>: {error}"
            ) from None
    if parts.scheme in ("redis", "rediss", "unix"):
        try:
            from celeris.cache.redis import RedisBackend  # NOTE: imported only when chosen
        except ImportError as error:
            raise CacheConfigError(
                f"the cache URL {parts.scheme}:// needs redis-py: pip install 'celeris[cache]'"
            ) from error
        return RedisBackend(url, timeout=timeout)
    raise CacheConfigError(
        f"unknown cache URL scheme {parts.scheme!r} (use memory:// or redis://host:port/db)"
    )


def _decoder(type: Any) -> msgspec.json.Decoder[Any]:
    decoder = _DECODERS.get(type)
    if decoder is None:
        decoder = _DECODERS[type] = msgspec.json.Decoder(type)
    return decoder


class Cache:
    """A cache attached to ``app`` (connects at start-up, closes at shutdown) or used alone."""

    def __init__(
        self,
        app: Any = None,
        url: str | None = None,
        *,
        namespace: str = "celeris:",
        default_ttl: float | None = None,
        on_error: Literal["degrade", "raise"] = "degrade",
        retry_after: float = 1.0,
        timeout: float = 1.0,
        lock_ttl: float = 30.0,
    ) -> None:
        if on_error not in ("degrade", "raise"):
            raise ValueError(f"on_error must be 'degrade' or 'raise', not {on_error!r}")
        self.url = resolve_url(url, app)
        self.backend: Backend = _backend_for(self.url, timeout)
        self.namespace = namespace
        self.default_ttl = default_ttl
        self.on_error = on_error
        self.retry_after = retry_after
        self.lock_ttl = lock_ttl
        self._down_until = 0.0  # monotonic time before which the backend is not tried again
        self.hits = 0  # lookups that found a value (get, get_many, get_or_set, responses)
        self.misses = 0  # and those that did not; exported by celeris.metrics
        self._flights: dict[str, asyncio.Future[bytes]] = {}
        self._refreshes: set[asyncio.Task[None]] = set()
        if app is not None:
            app.on_startup(self.connect)
            app.on_shutdown(self.close)
            register_check(app, "cache", functools.partial(check, self))
            state = getattr(app, "state", None)
            if state is not None:  # NOTE: celeris.metrics counts their hits and misses
                caches = state.get("caches")
                if caches is None:
                    caches = state.caches = []
                caches.append(self)

    def __repr__(self) -> str:
        return f"Cache(backend={self.backend.name!r}, namespace={self.namespace!r})"

    # --- lifecycle ---------------------------------------------------------------------------

    async def connect(self) -> None:
        """Check the backend answers; an outage is logged, not raised (the cache recovers)."""
        try:
            await self.backend.ping()
        except self.backend.errors as error:
            self._mark_down(error)

    async def close(self) -> None:
        """Finish background refreshes, then close the backend's connections."""
        if self._refreshes:
            await asyncio.gather(*self._refreshes, return_exceptions=True)
        await self.backend.close()

    async def __aenter__(self) -> Cache:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # --- failure handling --------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """False while the backend is considered away (until ``retry_after`` has passed)."""
        return time.monotonic() >= self._down_until

    def _mark_down(self, error: BaseException) -> None:
        if self.available:
            logger.warning(
                "cache backend %s unavailable (%s: %s); retrying in %ss",
                self.backend.name,
                type(error).__name__,
                error,
                self.retry_after,
            )
        self._down_until = time.monotonic() + self.retry_after

    def _unavailable(self, error: BaseException | None = None) -> CacheUnavailable:
        reason = f" ({type(error).__name__})" if error is not None else ""
        return CacheUnavailable(
            f"The cache is unavailable{reason}.", retry_after=max(1, round(self.retry_after))
        )

    async def _call(self, operation: Awaitable[T], fallback: T, traced: bool = False) -> T:
        """Run one backend operation; on an outage degrade to ``fallback`` or raise a 503."""
        if telemetry.tracer is not None and not traced:
            name = getattr(operation, "__name__", "call")
            with telemetry.cache_span(name, self.backend.name) as span:
                result = await self._call(operation, fallback, True)
                if name == "get":
                    span.set_attribute("cache.hit", result is not None)
                return result
        if not self.available:
            close = getattr(operation, "close", None)
            if close is not None:
                close()  # never awaited: a skipped call must not warn
            if self.on_error == "raise":
                raise self._unavailable()
            return fallback
        try:
            return await operation
        except self.backend.errors as error:
            self._mark_down(error)
            if self.on_error == "raise":
                raise self._unavailable(error) from error
            return fallback

    # --- keys and values ---------------------------------------------------------------------

    def _key(self, key: str) -> str:
        if not isinstance(key, str) or not key:
            raise TypeError(f"cache keys are non-empty strings, not {key!r}")
        return self.namespace + key

    def _ttl(self, ttl: Any) -> float | None:
        if ttl is _MISSING:
            return self.default_ttl
        if ttl is not None and ttl <= 0:
            raise ValueError(f"ttl must be > 0 seconds or None, got {ttl}")
        return float(ttl) if ttl is not None else None

    @staticmethod
    def encode(value: Any) -> bytes:
        """Serialise ``value`` (JSON by msgspec: builtins, Structs, dataclasses, datetimes...)."""
        return _ENCODER.encode(value)

    @staticmethod
    def decode(data: bytes, type: Any = Any) -> Any:
        """Deserialise ``data``, into ``type`` when given."""
        return _decoder(type).decode(data)

    def _load(self, key: str, data: bytes, type: Any) -> Any:
        """Decode a stored value; one that no longer fits ``type`` is a miss, not an error."""
        try:
            return self.decode(data, type)
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            # NOTE: a deploy that changed a Struct must not turn its old cached copies into 500s.
            logger.warning("cache value %r does not decode (%s); treated as a miss", key, error)
            return _MISSING

    @overload
    async def get(self, key: str) -> Any: ...
    @overload
    async def get(self, key: str, default: Any = None, *, type: type[T]) -> T | Any: ...

    async def get(self, key: str, default: Any = None, *, type: Any = Any) -> Any:
        """Return the value at ``key`` (decoded into ``type``), or ``default`` on a miss."""
        data = await self._call(self.backend.get(self._key(key)), None)
        if data is None:
            self.misses += 1
            return default
        value = self._load(key, data, type)
        if value is _MISSING:
            self.misses += 1
            return default
        self.hits += 1
        return value

    async def get_many(self, keys: Sequence[str], *, type: Any = Any) -> dict[str, Any]:
        """Return ``{key: value}`` for the keys that are present."""
        keys = list(keys)
        missing: list[bytes | None] = [None] * len(keys)
        values = await self._call(self.backend.get_many([self._key(k) for k in keys]), missing)
        found = {
            k: self._load(k, v, type) for k, v in zip(keys, values, strict=True) if v is not None
        }
        present = {k: v for k, v in found.items() if v is not _MISSING}
        self.hits += len(present)
        self.misses += len(keys) - len(present)
        return present

    async def set(
        self,
        key: str,
        value: Any,
        ttl: float | None = _MISSING,
        *,
        tags: Sequence[str] = (),
    ) -> None:
        """Store ``value`` at ``key`` for ``ttl`` seconds (None: no expiry)."""
        full, seconds, data = self._key(key), self._ttl(ttl), self.encode(value)
        await self._call(self.backend.set(full, data, seconds), None)
        if tags:
            await self._call(self.backend.tag([self._tag(t) for t in tags], full, seconds), None)

    async def set_many(
        self, items: Mapping[str, Any], ttl: float | None = _MISSING, *, tags: Sequence[str] = ()
    ) -> None:
        """Store several values with one expiry."""
        seconds = self._ttl(ttl)
        encoded = {self._key(k): self.encode(v) for k, v in items.items()}
        await self._call(self.backend.set_many(encoded, seconds), None)
        if tags:
            tag_keys = [self._tag(t) for t in tags]
            for full in encoded:
                await self._call(self.backend.tag(tag_keys, full, seconds), None)

    async def add(self, key: str, value: Any, ttl: float | None = _MISSING) -> bool:
        """Store ``value`` only if ``key`` is absent; True if it was stored."""
        data = self.encode(value)
        return await self._call(self.backend.add(self._key(key), data, self._ttl(ttl)), False)

    async def delete(self, *keys: str) -> int:
        """Delete keys; return how many existed."""
        return await self._call(self.backend.delete([self._key(k) for k in keys]), 0)

    async def incr(self, key: str, amount: int = 1, *, ttl: float | None = _MISSING) -> int:
        """Add ``amount`` to the integer at ``key`` (created at 0); return the new value.

        A counter has no meaningful fallback, so an outage raises ``CacheUnavailable`` (503)
        whatever ``on_error`` says.
        """
        operation = self.backend.incr(self._key(key), amount, self._ttl(ttl))
        if telemetry.tracer is not None:
            with telemetry.cache_span("incr", self.backend.name):
                return await self._incr(operation)
        return await self._incr(operation)

    async def _incr(self, operation: Coroutine[Any, Any, int]) -> int:
        if not self.available:
            operation.close()
            raise self._unavailable()
        try:
            return await operation
        except self.backend.errors as error:
            self._mark_down(error)
            raise self._unavailable(error) from error

    async def clear(self, prefix: str = "") -> int:
        """Delete every key of this cache starting with ``prefix``; return how many."""
        return await self._call(self.backend.clear(self.namespace + prefix), 0)

    # --- tags --------------------------------------------------------------------------------

    def _tag(self, tag: str) -> str:
        if not isinstance(tag, str) or not tag:
            raise TypeError(f"tags are non-empty strings, not {tag!r}")
        return f"{self.namespace}tag:{tag}"

    async def invalidate(self, *tags: str) -> int:
        """Delete every value stored with any of ``tags``; return how many."""
        return await self._call(self.backend.drop_tags([self._tag(t) for t in tags]), 0)

    # --- locks and memoisation ---------------------------------------------------------------

    def lock(self, key: str, *, ttl: float | None = None, wait: float | None = None) -> Lock:
        """A lock held across every process that shares the backend (``async with``)."""
        return Lock(self, key, ttl=ttl or self.lock_ttl, wait=wait)

    async def get_or_set(
        self,
        key: str,
        compute: Callable[[], Awaitable[Any]],
        ttl: float | None = _MISSING,
        *,
        type: Any = Any,
        tags: Sequence[str] = (),
        early: float | None = None,
    ) -> Any:
        """Return the cached value, or compute it once (one caller per key across processes).

        ``early`` (seconds, less than ``ttl``): in a value's last ``early`` seconds, the first
        caller refreshes it in the background while every caller still gets the current value,
        so a hot key never expires under load.
        """
        full = self._key(key)
        seconds = self._ttl(ttl)
        if early is not None and (seconds is None or not 0 < early < seconds):
            raise ValueError(f"early must be between 0 and ttl seconds, got {early} for {seconds}")
        if early is None:
            data = await self._call(self.backend.get(full), None)
            stale = False
        else:
            missing: list[bytes | None] = [None, None]
            data, fresh = await self._call(self.backend.get_many([full, full + _FRESH]), missing)
            stale = fresh is None
        if data is not None:
            value = self._load(key, data, type)
            if value is not _MISSING:
                self.hits += 1
                if stale:
                    await self._refresh_early(key, full, compute, seconds, tags, early)
                return value
        self.misses += 1
        # PERF: concurrent callers in this process share one flight instead of each polling.
        flight = self._flights.get(full)
        if flight is not None:
            try:
                return self.decode(await asyncio.shield(flight), type)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if not flight.cancelled() or (task is not None and task.cancelling()):
                    raise
                # the caller computing it was cancelled, not this one: compute it here instead
                return await self.get_or_set(key, compute, ttl, type=type, tags=tags, early=early)
        flight = asyncio.get_running_loop().create_future()
        self._flights[full] = flight
        try:
            data = await self._compute_locked(key, full, compute, seconds, tags, early)
        except asyncio.CancelledError:
            flight.cancel()
            raise
        except BaseException as error:
            flight.set_exception(error)
            flight.exception()  # retrieved: a flight nobody else awaits must not warn
            raise
        else:
            flight.set_result(data)
        finally:
            del self._flights[full]
        return self.decode(data, type)

    async def _compute_locked(
        self,
        key: str,
        full: str,
        compute: Callable[[], Awaitable[Any]],
        seconds: float | None,
        tags: Sequence[str],
        early: float | None,
    ) -> bytes:
        lock = self.lock(f"compute:{key}", wait=self.lock_ttl)
        try:
            # NOTE: a holder that died leaves the lock to expire after lock_ttl; a waiter that
            # gives up by then computes anyway rather than fail the caller.
            held = self.available and await lock.acquire()
        except CacheUnavailable:
            if self.on_error == "raise":
                raise
            held = False
        try:
            if lock.waited:  # another process computed it while we waited
                data = await self._call(self.backend.get(full), None)
                if data is not None:
                    return data
            data = self.encode(await compute())
            await self._store(full, data, seconds, tags, early)
            return data
        finally:
            if held:
                await lock.release()

    async def _store(
        self,
        full: str,
        data: bytes,
        seconds: float | None,
        tags: Sequence[str],
        early: float | None,
    ) -> None:
        await self._call(self.backend.set(full, data, seconds), None)
        if early is not None and seconds is not None:
            # NOTE: the marker expires ``early`` seconds before the value: its absence means
            # "refresh now", while the value itself is still there to serve.
            await self._call(self.backend.set(full + _FRESH, b"1", seconds - early), None)
        if tags:
            tag_keys = [self._tag(t) for t in tags]
            await self._call(self.backend.tag(tag_keys, full, seconds), None)

    async def _refresh_early(
        self,
        key: str,
        full: str,
        compute: Callable[[], Awaitable[Any]],
        seconds: float | None,
        tags: Sequence[str],
        early: float | None,
    ) -> None:
        """Start one background refresh of a value in its last ``early`` seconds."""
        token = secrets.token_bytes(8)
        refresh_key = f"{self.namespace}refresh:{key}"
        # one refresher across every process: whoever adds the marker first
        if not await self._call(self.backend.add(refresh_key, token, self.lock_ttl), False):
            return

        async def refresh() -> None:
            try:
                await self._store(full, self.encode(await compute()), seconds, tags, early)
            except Exception:
                logger.exception("early refresh of cache key %r failed", key)
            finally:
                await self._call(self.backend.delete_if(refresh_key, token), False)

        task = asyncio.get_running_loop().create_task(refresh())
        self._refreshes.add(task)
        task.add_done_callback(self._refreshes.discard)

    def cached(
        self,
        ttl: float | None = _MISSING,
        *,
        key: str | Callable[..., str] | None = None,
        tags: Sequence[str] | Callable[..., Sequence[str]] = (),
        early: float | None = None,
    ) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
        """Memoise an async function by its arguments; one computation per key at a time.

        ``key`` is a format string over the arguments (``"user:{user_id}"``) or a callable
        taking them; by default the function's name and a hash of the arguments. The result
        is decoded into the function's return annotation.
        """

        def decorate(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
            if not inspect.iscoroutinefunction(func):
                raise TypeError(f"cache.cached() memoises async functions, not {func!r}")
            name = f"{func.__module__}.{func.__qualname__}"
            returns = _return_type(func)
            signature = inspect.signature(func)

            @functools.wraps(func)
            async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
                full_key = _make_key(name, key, signature, args, kwargs)
                tag_list = tags(*args, **kwargs) if callable(tags) else tags
                result: T = await self.get_or_set(
                    full_key,
                    lambda: func(*args, **kwargs),
                    ttl,
                    type=returns,
                    tags=tag_list,
                    early=early,
                )
                return result

            return wrapper

        return decorate

    def response(
        self,
        ttl: float = 60,
        *,
        vary: Sequence[str] = (),
        per_user: bool = False,
        no_cache: bool = True,
        status_code: int | None = None,
    ) -> ResponseCache:
        """Cache a route's whole response (a decorator placed under ``@app.get``).

        ``vary`` names request headers that select a different copy; ``no_cache=False``
        ignores a client's ``Cache-Control: no-cache``; ``per_user=True`` also caches requests
        that carry cookies or credentials (key them with ``vary=["Cookie"]`` instead).
        """
        return ResponseCache(
            self, ttl, vary=vary, per_user=per_user, no_cache=no_cache, status_code=status_code
        )

    async def health(self, timeout: float = 2.0) -> tuple[bool, float | None, str | None]:
        """Ping the backend: ``(ok, latency in seconds, error name)``; never raises."""
        started = time.perf_counter()
        try:
            await asyncio.wait_for(self.backend.ping(), timeout)
        except Exception as error:
            reason = "timed out" if isinstance(error, TimeoutError) else type(error).__name__
            return False, None, reason
        self._down_until = 0.0  # it answers: stop skipping it
        return True, time.perf_counter() - started, None


def _return_type(func: Callable[..., Any]) -> Any:
    """The return annotation to decode cached results into (Any when unresolvable)."""
    try:
        return typing.get_type_hints(func).get("return", Any)
    except Exception:
        return Any


def _make_key(
    name: str,
    key: str | Callable[..., str] | None,
    signature: inspect.Signature,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> str:
    if callable(key):
        return key(*args, **kwargs)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    if isinstance(key, str):
        return key.format(**bound.arguments)
    digest = hashlib.blake2b(
        _KEY_ENCODER.encode([list(bound.args), bound.kwargs]), digest_size=16
    ).hexdigest()
    return f"{name}:{digest}"


class Lock:
    """A lock in the cache's backend: ``SET NX`` with expiry, released only by its holder."""

    __slots__ = ("_cache", "_key", "_token", "ttl", "wait", "waited")

    def __init__(self, cache: Cache, key: str, *, ttl: float, wait: float | None) -> None:
        self._cache = cache
        self._key = f"{cache.namespace}lock:{key}"
        self._token = secrets.token_bytes(16)
        self.ttl = ttl
        self.wait = wait  # seconds to wait for it; None waits up to ttl
        self.waited = False  # True when another holder had it first

    async def acquire(self) -> bool:
        """Take the lock, waiting for it; False if ``wait`` passed first."""
        backend = self._cache.backend
        deadline = time.monotonic() + (self.wait if self.wait is not None else self.ttl)
        delay = 0.005
        while True:
            try:
                if await backend.add(self._key, self._token, self.ttl):
                    return True
            except backend.errors as error:
                self._cache._mark_down(error)
                raise self._cache._unavailable(error) from error
            self.waited = True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)

    async def release(self) -> None:
        """Release the lock if this holder still has it."""
        backend = self._cache.backend
        try:
            await backend.delete_if(self._key, self._token)
        except backend.errors as error:
            self._cache._mark_down(error)  # it expires by itself after ttl

    async def __aenter__(self) -> Lock:
        if not await self.acquire():
            raise TimeoutError(f"could not take the cache lock {self._key!r} in time")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()
