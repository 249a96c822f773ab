"""Liveness and readiness: ``/healthz`` answers while the process runs, ``/readyz`` asks every
installed backend.

Batteries attached to an app register a check in ``app.state.health_checks`` (a dict of
name to a coroutine function returning a Struct whose ``status`` is ``"ok"`` or
``"unavailable"``). ``Health(app=app)`` serves both routes; ``/readyz`` runs the checks
concurrently, each bounded by ``timeout``, and answers 503 with ``Retry-After`` when one is
unavailable, slow or raises: what Kubernetes probes and load balancers poll.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

import msgspec

from celeris.core.errors import ServiceUnavailable
from celeris.core.responses import Response

__all__ = ["Check", "CheckResult", "Health", "Readiness", "add_health_route", "register_check"]

logger = logging.getLogger("celeris.health")

Check = Callable[[], Awaitable[Any]]


class CheckResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One check as ``/readyz`` reports it."""

    status: str  # "ok" or "unavailable"
    latency_ms: float | None = None
    error: str | None = None
    detail: dict[str, Any] | None = None  # the check's own fields (backend, latency...)


class Readiness(msgspec.Struct, kw_only=True):
    """The body of ``/readyz``."""

    status: str
    checks: dict[str, CheckResult]


_encode: Final = msgspec.json.encode
_ALIVE: Final = b'{"status":"ok"}'


def register_check(app: Any, name: str, check: Check) -> str:
    """Add ``check`` to ``app.state.health_checks``; return its name (``name-2`` if taken)."""
    state = getattr(app, "state", None)
    if state is None:  # not a celeris App: nothing to register with
        return name
    checks = state.health_checks if "health_checks" in state else None
    if checks is None:
        checks = state.health_checks = {}
    unique, n = name, 1
    while unique in checks:
        n += 1
        unique = f"{name}-{n}"
    checks[unique] = check
    return unique


async def _run(check: Check, timeout: float) -> CheckResult:
    """Run one check without raising: slow, raising or unavailable all say "unavailable"."""
    started = time.perf_counter()
    try:
        result = await asyncio.wait_for(check(), timeout)
    except TimeoutError:
        return CheckResult(status="unavailable", error=f"timed out after {timeout:g} s")
    except Exception as exc:  # NOTE: a check that raises means its backend is down
        return CheckResult(status="unavailable", error=f"{type(exc).__name__}: {exc}")
    latency = round((time.perf_counter() - started) * 1000, 3)
    if result is None:  # NOTE: a check that returns nothing and does not raise passed
        return CheckResult(status="ok", latency_ms=latency)
    fields = msgspec.to_builtins(result)
    if not isinstance(fields, dict):
        fields = {"result": fields}
    status = fields.pop("status", "ok")
    error = fields.pop("error", None)
    if status != "ok":
        status = "unavailable"
    return CheckResult(
        status=status,
        latency_ms=latency,
        error=None if error is None else str(error),
        detail=fields or None,
    )


class Health:
    """Serve ``/healthz`` (liveness) and ``/readyz`` (every registered check) on an app."""

    def __init__(
        self,
        app: Any = None,
        *,
        live_path: str = "/healthz",
        ready_path: str = "/readyz",
        timeout: float = 2.0,
        retry_after: int = 5,
        checks: dict[str, Check] | None = None,
    ) -> None:
        self.app = app
        self.live_path = live_path
        self.ready_path = ready_path
        self.timeout = timeout
        self.retry_after = retry_after
        self._extra = dict(checks or {})
        if app is not None:
            self.install(app)

    def install(self, app: Any) -> None:
        """Add the two routes to ``app``."""
        self.app = app
        app.add_route(
            self.live_path,
            self.live,
            ["GET"],
            name="healthz",
            tags=["health"],
            summary="Liveness: the process answers",
        )
        app.add_route(
            self.ready_path,
            self.ready,
            ["GET"],
            name="readyz",
            tags=["health"],
            summary="Readiness: every backend answers",
            responses={503: ServiceUnavailable},
        )

    @property
    def checks(self) -> dict[str, Check]:
        """The checks ``/readyz`` runs: the app's registry, then those given here."""
        state = getattr(self.app, "state", None)
        registered = state.health_checks if state is not None and "health_checks" in state else {}
        return {**registered, **self._extra}

    async def live(self) -> Response:
        """Answer 200 while the event loop runs; never touches a backend."""
        return Response(_ALIVE, media_type="application/json")

    async def run(self) -> Readiness:
        """Run every check concurrently, each within ``timeout``."""
        checks = self.checks
        results = await asyncio.gather(*(_run(c, self.timeout) for c in checks.values()))
        named = dict(zip(checks, results, strict=True))
        down = [name for name, result in named.items() if result.status != "ok"]
        if down:
            logger.warning("not ready: %s", ", ".join(down))
        return Readiness(status="unavailable" if down else "ok", checks=named)

    async def ready(self) -> Response:
        """Answer 200 with every check, or 503 problem+json naming those that failed."""
        readiness = await self.run()
        if readiness.status == "ok":
            return Response(_encode(readiness), media_type="application/json")
        down = sorted(name for name, r in readiness.checks.items() if r.status != "ok")
        problem = ServiceUnavailable(
            f"Not ready: {', '.join(down)} unavailable.",
            retry_after=self.retry_after,
            extra={"checks": msgspec.to_builtins(readiness.checks)},
        )
        return problem.to_response()


def add_health_route(app: Any, **options: Any) -> Health:
    """Serve ``/healthz`` and ``/readyz`` on ``app``; return the ``Health``."""
    return Health(app, **options)
