"""``RateLimiter``: per-route rate limits on the ``limits`` library's async API.

Memory storage by default (one process); on Redis (``RATELIMIT_URL`` / ``REDIS_URL``) every
worker and machine counts into the same window, so a limit never multiplies by the number of
workers. The client address is the connection's: ``X-Forwarded-For`` counts only when the
server's trusted-proxy handling rewrote the connection's client from it.
"""

from __future__ import annotations

import inspect
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from limits import RateLimitItem, parse_many
from limits.aio import strategies
from limits.aio.storage import Storage
from limits.storage import storage_from_string

from celeris.core.errors import ServiceUnavailable, TooManyRequests
from celeris.core.params import Dependency
from celeris.core.pipeline import Step
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.core.signature import Kind, Plan

if TYPE_CHECKING:
    from celeris.core.routing import Route

__all__ = ["Limit", "RateLimiter"]

logger = logging.getLogger("celeris.security")

F = TypeVar("F", bound=Callable[..., Any])
KeyFunc = Callable[[Request], "str | Awaitable[str]"]
Key = Literal["ip", "user"] | KeyFunc
Strategy = Literal["fixed-window", "moving-window", "sliding-window"]

_STRATEGIES: dict[str, type[strategies.RateLimiter]] = {
    "fixed-window": strategies.FixedWindowRateLimiter,
    "moving-window": strategies.MovingWindowRateLimiter,
    "sliding-window": strategies.SlidingWindowCounterRateLimiter,
}
_ATTRIBUTE = "__celeris_rate_limits__"


def _client_ip(request: Request) -> str:
    # SECURITY: the connection's peer only; a client-sent X-Forwarded-For is never read here.
    client = request.conn.client
    return client[0] if client is not None else "unknown"


def _user(request: Request) -> str:
    user = request.state.get("user") if request.conn.state else None
    if user is None:
        return "ip:" + _client_ip(request)
    return "user:" + str(getattr(user, "id", user))


async def _noop() -> None:
    """The dependency a ``Limit`` resolves to: the limiter's step does the counting."""


class Limit(Dependency):
    """``limiter.limit("10/minute")``: a route dependency (``dependencies=[...]``) or decorator."""

    __slots__ = ("cost", "items", "key", "limit_scope", "rate")

    def __init__(self, rate: str, key: Key, cost: int, scope: str | None) -> None:
        super().__init__(_noop)
        self.rate = rate
        self.items: list[RateLimitItem] = parse_many(rate)
        if key not in ("ip", "user") and not callable(key):
            raise ValueError(f"key= is 'ip', 'user' or a callable(request) -> str, not {key!r}")
        self.key = key
        self.cost = cost
        self.limit_scope = scope

    def __call__(self, func: F) -> F:
        """Decorate a handler: ``@limiter.limit("10/minute")`` under the route decorator."""
        limits = [*getattr(func, _ATTRIBUTE, ()), self]
        setattr(func, _ATTRIBUTE, limits)
        return func

    async def identity(self, request: Request) -> str:
        """Return who this request counts against."""
        key = self.key
        if key == "ip":
            return "ip:" + _client_ip(request)
        if key == "user":
            return _user(request)
        assert callable(key)
        value = key(request)
        if inspect.isawaitable(value):
            value = await value
        return "key:" + str(value)

    def describe(self) -> str:
        """Say the limit in words (for OpenAPI)."""
        key = self.key
        who = "client address" if key == "ip" else "user" if key == "user" else "key"
        return f"{self.rate} per {who}"

    def __repr__(self) -> str:
        return f"Limit({self.rate!r}, key={self.key!r})"


def _walk(plan: Plan | None) -> Iterator[Any]:
    if plan is None:
        return
    for info in (*plan.dependencies, *plan.params):
        if info.kind is Kind.DEPENDENCY:
            yield info.marker
            yield from _walk(info.dependency)


class RateLimiter(Step):
    """Rate limits for routes: ``limiter = RateLimiter(app=app)``, then ``limiter.limit(...)``."""

    def __init__(
        self,
        app: Any = None,
        *,
        url: str | None = None,
        strategy: Strategy = "fixed-window",
        prefix: str = "celeris",
        headers: bool = True,
        retry_after: int = 5,
    ) -> None:
        if strategy not in _STRATEGIES:
            raise ValueError(f"strategy= is one of {sorted(_STRATEGIES)}, not {strategy!r}")
        self.app = app
        self.url = url
        self.strategy_name = strategy
        self.prefix = prefix
        self.send_headers = headers
        self.retry_after = retry_after
        self.storage: Storage | None = None
        self.strategy: strategies.RateLimiter | None = None
        if app is not None:
            self.install(app)

    def install(self, app: Any) -> None:
        """Attach to ``app``: a step on its limited routes, storage opened at start-up."""
        self.app = app
        app.state.ratelimiter = self
        app.add_step(self)
        app.on_startup(self.start)
        app.on_shutdown(self.stop)

    def limit(
        self, rate: str, *, key: Key = "ip", cost: int = 1, scope: str | None = None
    ) -> Limit:
        """Return a limit such as ``"10/minute"`` or ``"5/second;100/hour"``.

        ``scope`` names a bucket shared by every route using it; by default each route
        counts on its own.
        """
        return Limit(rate, key, cost, scope)

    # --- storage -----------------------------------------------------------------------------

    def resolved_url(self) -> str:
        """Return the storage URL: ``url``, RATELIMIT_URL / REDIS_URL, else ``memory://``."""
        if self.url:
            return self.url
        settings = getattr(self.app, "settings", None)
        for name in ("RATELIMIT_URL", "REDIS_URL"):
            value = getattr(settings, name, None) if settings is not None else None
            value = value or os.environ.get(name)
            if value:
                return str(value)
        return "memory://"

    async def start(self) -> None:
        """Make the storage and the strategy."""
        if self.storage is not None:
            return
        url = self.resolved_url()
        scheme = url.partition("://")[0].lower()
        options: dict[str, Any] = {}
        if scheme in ("redis", "rediss", "redis+unix"):
            options = {
                "implementation": "redispy",
                "socket_timeout": 2,
                "socket_connect_timeout": 2,
            }
        elif scheme != "memory":
            raise RuntimeError(
                f"unknown rate-limit storage {url!r} (security.E003): use memory:// or redis://"
            )
        storage = storage_from_string("async+" + url, key_prefix=self.prefix, **options)
        assert isinstance(storage, Storage)
        self.storage = storage
        self.strategy = _STRATEGIES[self.strategy_name](storage)

    async def stop(self) -> None:
        """Close the storage's connections."""
        storage, self.storage, self.strategy = self.storage, None, None
        # NOTE: limits has no public close; its Redis bridge keeps the redis-py client here.
        client = getattr(getattr(storage, "bridge", None), "storage", None)
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()

    async def __aenter__(self) -> RateLimiter:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.stop()

    async def check(self) -> None:
        """Raise unless the storage answers (a health check)."""
        if self.storage is None:
            return
        try:
            answered = await self.storage.check()
        except Exception as exc:
            raise ConnectionError(f"rate-limit storage does not answer: {exc}") from exc
        if not answered:
            raise ConnectionError("rate-limit storage does not answer")

    # --- the step ----------------------------------------------------------------------------

    def for_route(self, route: Route) -> Step | None:
        """Run only on routes with limits (decorated, or among their dependencies)."""
        found = list(getattr(route.endpoint, _ATTRIBUTE, ()))
        found += [m for m in _walk(route.plan) if isinstance(m, Limit)]
        found += [d for d in route.dependencies if isinstance(d, Limit) and d not in found]
        if not found:
            return None
        unique: list[Limit] = []
        for limit in found:
            if limit not in unique:
                unique.append(limit)
        route_scope = ",".join(sorted(route.methods)) + " " + route.path
        text = "; ".join(limit.describe() for limit in unique)
        # NOTE: OpenAPI documents the 429 of every limited route, with its limits.
        route.responses.setdefault(
            429, f"Too Many Requests: over {text} (see Retry-After and RateLimit-* headers)"
        )
        return _Limited(self, [(limit, limit.limit_scope or route_scope) for limit in unique])

    async def hit(self, request: Request, limit: Limit, scope: str) -> tuple[int, int, float]:
        """Count one request; return (limit, remaining, reset) of the tightest window."""
        strategy = self.strategy
        if strategy is None:
            raise RuntimeError("the RateLimiter has not started (attach it with app=)")
        who = await limit.identity(request)
        tightest: tuple[int, int, float] | None = None
        for item in limit.items:
            allowed = await strategy.hit(item, scope, who, cost=limit.cost)
            stats = await strategy.get_window_stats(item, scope, who)
            entry = (item.amount, max(stats.remaining, 0), stats.reset_time)
            if not allowed:
                raise TooManyRequests(
                    f"Rate limit of {item} exceeded; try again later.",
                    headers=self._headers(entry, exceeded=True),
                    retry_after=max(1, math.ceil(stats.reset_time - time.time())),
                )
            if tightest is None or entry[1] < tightest[1]:
                tightest = entry
        assert tightest is not None
        return tightest

    def _headers(self, entry: tuple[int, int, float], *, exceeded: bool = False) -> dict[str, str]:
        if not self.send_headers and not exceeded:
            return {}
        amount, remaining, reset = entry
        return {
            "ratelimit-limit": str(amount),
            "ratelimit-remaining": str(0 if exceeded else remaining),
            "ratelimit-reset": str(max(0, math.ceil(reset - time.time()))),
        }


class _Limited(Step):
    """A route's limits: counted before the handler, reported in headers after it."""

    def __init__(self, limiter: RateLimiter, limits: list[tuple[Limit, str]]) -> None:
        self.limiter = limiter
        self.limits = limits

    async def before(self, request: Request) -> Response | None:
        tightest: tuple[int, int, float] | None = None
        try:
            for limit, scope in self.limits:
                entry = await self.limiter.hit(request, limit, scope)
                if tightest is None or entry[1] < tightest[1]:
                    tightest = entry
        except (TooManyRequests, RuntimeError):
            raise
        except Exception as exc:  # the storage's own errors: Redis down, timeouts
            logger.warning("rate-limit storage unavailable: %s", exc)
            raise ServiceUnavailable(
                "The rate-limit store is unavailable; try again shortly.",
                retry_after=self.limiter.retry_after,
            ) from None
        request.state.ratelimit = tightest
        return None

    async def after(self, request: Request, response: Response) -> None:
        entry = request.state.get("ratelimit") if request.conn.state else None
        if entry is None or not self.limiter.send_headers:
            return
        headers = response.headers
        for name, value in self.limiter._headers(entry).items():
            if name not in headers:
                headers[name] = value
