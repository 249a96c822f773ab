"""The per-route pipeline: ``Step`` and what a route runs around its handler, compiled once.

At start-up every HTTP route gets a ``Flow``: the ``before`` of its steps in order, the
``after`` of the same steps in reverse, and the constant headers of those steps as raw bytes.
A step is asked once per route (``Step.for_route``) whether and how it runs there; one that
declines, or that defines neither ``before`` nor ``after``, costs the route nothing per
request. Hooks (``before_request`` / ``after_request``) are steps too. See docs/internals.md.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol, cast, final

from celeris.core.asgi import ASGIConnection, scope_of
from celeris.core.concurrency import run_in_threadpool
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.types import CheckedHeader, FastRequest, RawHeaders, Send

if TYPE_CHECKING:  # NOTE: annotations only; routing imports this module at run time
    from celeris.core.routing import Route

__all__ = ["Flow", "Step", "Tail", "compile_flow", "filtered", "hook_steps", "is_plain"]

# NOTE: the public contract of ``after`` is ``-> None``; celeris's own steps (after_request
# hooks, GZip on a streamed body) may return a Response that replaces the one given.

_TOKEN: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


class Step:
    """A piece of a route's pipeline, compiled per route at start-up. Override what you use."""

    #: Constant response headers this step adds to every response of the routes it applies
    #: to, as (name, value) str pairs. Precomputed once into raw bytes in the route's plan; a
    #: header the response already set is NOT overridden (setdefault semantics).
    headers: Sequence[tuple[str, str]] = ()

    #: Whether ``after`` also runs on the 500 answered for an unhandled exception.
    on_server_error: bool = True

    def for_route(self, route: Route) -> Step | None:
        """Return the step to run on ``route`` (self, a specialised copy, or None to skip it)."""
        return self

    async def before(self, request: Request) -> Response | None:
        """Run before the handler; a Response answers at once, an HTTPError is rendered."""
        return None

    async def after(self, request: Request, response: Response) -> None:
        """Run after the handler (error responses included), before the response is sent."""
        return


def _overrides(step: Step, name: str) -> bool:
    return getattr(type(step), name) is not getattr(Step, name)


# How a flow calls a before or an after: the callable, and whether to await its result.
# NOTE: celeris's own steps also offer plain-function forms (``_before_entry``), which save
# a coroutine per call; the public contract stays async.
Entry = tuple[Callable[..., Any], bool]


def _defined_in(cls: type, name: str) -> type:
    return next(klass for klass in cls.__mro__ if name in klass.__dict__)


def _entry(step: Step, method: str) -> Entry | None:
    """Return how a flow calls the step's ``method`` ("before" or "after"), or None."""
    name = f"_{method}_entry"
    cls = type(step)
    # NOTE: the plain form counts only where it is as derived as the async method: a
    # subclass overriding before/after gets its own method called.
    if hasattr(step, name) and issubclass(_defined_in(cls, name), _defined_in(cls, method)):
        return cast("Entry | None", getattr(step, name)())
    return (getattr(step, method), True) if _overrides(step, method) else None


def _before_entry(step: Step) -> Entry | None:
    return _entry(step, "before")


def _after_entry(step: Step) -> Entry | None:
    return _entry(step, "after")


def _encode_headers(step: Step) -> RawHeaders:
    """Return the step's constant headers as raw pairs; raise ValueError on a bad one."""
    raw: RawHeaders = []
    for pair in step.headers:
        name, value = pair
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise ValueError(f"{type(step).__name__}.headers: {name!r} is not a header name")
        # SECURITY: a CR or LF would split the response head.
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ValueError(
                f"{type(step).__name__}.headers: the value of {name!r} must be a str "
                "without CR or LF"
            )
        # PERF: checked here, once: the server does not scan these per response.
        raw.append(CheckedHeader((name.lower().encode("latin-1"), value.encode("latin-1"))))
    return raw


@final
class Tail:
    """What follows the steps that ran: their ``after`` (reversed) and constant headers."""

    __slots__ = ("afters", "crash_afters", "headers", "names")

    def __init__(self, steps: Sequence[Step]) -> None:
        afters: list[Entry] = []
        crash: list[Entry] = []
        headers: RawHeaders = []
        names: set[bytes] = set()
        for step in reversed(steps):
            entry = _after_entry(step)
            if entry is not None:
                afters.append(entry)
                if step.on_server_error:
                    crash.append(entry)
            for name, value in _encode_headers(step):
                # NOTE: the innermost step's value wins, as if each set its header in turn.
                if name not in names:
                    names.add(name)
                    headers.append((name, value))
        self.afters: tuple[Entry, ...] = tuple(afters)
        self.crash_afters: tuple[Entry, ...] = tuple(crash)
        self.headers: RawHeaders = headers
        self.names: frozenset[bytes] = frozenset(names)


class Answering(Protocol):
    """What a flow needs of its app (``App``; a protocol, so this module never imports it)."""

    def _inner(
        self, route: Route | None, ctx: Any, outcome: Any, request: Request
    ) -> Awaitable[Response]: ...

    def _error_response(
        self, request: Request, exc: Exception
    ) -> Awaitable[tuple[Response, Exception | None]]: ...

    def _handled(self, request: Request, exc: Exception) -> Awaitable[Response | None]: ...


@final
class Flow:
    """A route's compiled pipeline: the steps that run there, in order.

    ``befores`` are the entries of the steps with a ``before``; ``tails[i]`` is what runs
    after ``befores[i]`` answered or raised (the steps before it), ``tail`` what runs after
    the handler (every step).
    """

    __slots__ = ("befores", "steps", "tail", "tails")

    def __init__(self, steps: Sequence[Step]) -> None:
        self.steps: tuple[Step, ...] = tuple(steps)
        befores: list[Entry] = []
        tails: list[Tail] = []
        for i, step in enumerate(self.steps):
            entry = _before_entry(step)
            if entry is not None:
                befores.append(entry)
                tails.append(Tail(self.steps[:i]))
        self.befores: tuple[Entry, ...] = tuple(befores)
        self.tails: tuple[Tail, ...] = tuple(tails)
        self.tail = Tail(self.steps)

    def __bool__(self) -> bool:
        return bool(self.befores or self.tail.afters or self.tail.headers)

    async def answer(
        self, app: Answering, request: Request, route: Route | None, ctx: Any, outcome: Any
    ) -> tuple[Response, Exception | None]:
        """Run the steps around the handler; return the response and an unhandled error."""
        index = 0
        try:
            for before, is_async in self.befores:
                early = (await before(request)) if is_async else before(request)
                if early is not None and isinstance(early, Response):
                    return await self.finish(app, request, early, self.tails[index], None)
                index += 1
            response = await app._inner(route, ctx, outcome, request)
        except Exception as exc:
            return await self.fail(app, request, index, exc)
        return await self.finish(app, request, response, self.tail, None)

    async def wrap(
        self, app: Answering, request: Request, route: Route | None, ctx: Any, outcome: Any
    ) -> Response:
        """Run the steps around the handler, letting unhandled errors propagate."""
        index = 0
        try:
            for before, is_async in self.befores:
                early = (await before(request)) if is_async else before(request)
                if early is not None and isinstance(early, Response):
                    return await self._afters(request, early, self.tails[index].afters)
                index += 1
            response = await app._inner(route, ctx, outcome, request)
        except Exception as exc:
            tail = self.tails[index] if index < len(self.befores) else self.tail
            handled = await app._handled(request, exc)
            if handled is None:
                raise
            return await self._afters(request, handled, tail.afters)
        return await self._afters(request, response, self.tail.afters)

    async def fail(
        self, app: Answering, request: Request, index: int, exc: Exception
    ) -> tuple[Response, Exception | None]:
        """Answer ``exc``, raised by ``befores[index]`` (or past them, by the handler)."""
        tail = self.tails[index] if index < len(self.befores) else self.tail
        response, error = await app._error_response(request, exc)
        return await self.finish(app, request, response, tail, error)

    async def finish(
        self,
        app: Answering,
        request: Request,
        response: Response,
        tail: Tail,
        error: Exception | None,
    ) -> tuple[Response, Exception | None]:
        """Run ``tail`` on ``response``; return what to send and the error to re-raise."""
        try:
            response = await self._afters(
                request, response, tail.afters if error is None else tail.crash_afters
            )
        except Exception as exc:
            # NOTE: a failing after is answered as such; the remaining afters do not run.
            response, late = await app._error_response(request, exc)
            return response, error or late
        if tail.headers:
            add_headers(response, tail.headers, tail.names)
        return response, error

    @staticmethod
    async def _afters(request: Request, response: Response, afters: tuple[Entry, ...]) -> Response:
        for after, is_async in afters:
            replaced = (await after(request, response)) if is_async else after(request, response)
            if replaced is not None:
                response = replaced
        return response


def add_headers(response: Response, headers: RawHeaders, names: frozenset[bytes]) -> None:
    """Append ``headers`` to the response's, except those whose name it already has."""
    raw = response.raw_headers
    present = {name.lower() for name, _ in raw}  # PERF: usually two names
    if names.isdisjoint(present):
        raw.extend(headers)
    else:
        raw.extend(pair for pair in headers if pair[0] not in present)


def compile_flow(steps: Sequence[Step], route: Route | None) -> Flow | None:
    """Return the flow of ``steps`` on ``route`` (None: nothing to run there).

    ``route`` None is the flow of requests no route matched: steps run as given.
    """
    chosen: list[Step] = []
    for step in steps:
        if route is not None:
            specialised = step.for_route(route)
            if specialised is None:
                continue
            if not isinstance(specialised, Step):
                raise TypeError(
                    f"{type(step).__name__}.for_route() returned {specialised!r}, "
                    "not a Step or None"
                )
            step = specialised
        if _before_entry(step) or _after_entry(step) or step.headers:
            chosen.append(step)
    flow = Flow(chosen)
    return flow if flow else None


# --- responses sent through an ASGI send filter ---------------------------------------------


def is_plain(response: Response) -> bool:
    """Tell whether ``response`` is sent as one ``respond()`` of its ``body`` and headers."""
    return type(response).send_to is Response.send_to


@final
class _Filtered(Response):
    """A response sent through an ASGI ``send`` filter: a middleware's, applied as a step.

    Shares the headers of the response it wraps, so later steps still edit what is sent.
    """

    __slots__ = ("inner", "wrap")

    def __init__(self, inner: Response, wrap: Callable[[Send], Send]) -> None:
        # NOTE: no Response.__init__: nothing is rendered, the inner response is the body.
        self.inner = inner
        self.wrap = wrap
        self.status_code = inner.status_code
        self.media_type = inner.media_type
        self.background = inner.background
        self.body = b""
        self._headers = inner._headers
        self.raw_headers = inner.raw_headers

    async def send_to(self, conn: FastRequest) -> None:
        """Send the inner response, its messages passing through the filter."""
        inner = self.inner
        inner.status_code = self.status_code
        inner.raw_headers = self.raw_headers
        await inner.send_to(ASGIConnection(scope_of(conn), conn.receive, self.wrap(conn.send)))


def filtered(response: Response, wrap: Callable[[Send], Send]) -> Response:
    """Return ``response`` sent through ``wrap(send)``, an ASGI middleware's send filter.

    For celeris's own middleware as steps: a response that is not plain (streamed, a file, a
    mounted app) meets the filter message by message, exactly as in the ASGI form.
    """
    return _Filtered(response, wrap)


# --- hooks as steps ---------------------------------------------------------------------------


async def _call(hook: Callable[..., Any], is_async: bool, arg: Any) -> Any:
    if is_async:
        return await hook(arg)
    result = await run_in_threadpool(hook, arg)
    if inspect.isawaitable(result):
        return await result
    return result


@final
class _BeforeHook(Step):
    """One ``before_request`` hook: a Response it returns answers at once."""

    def __init__(self, hook: Callable[..., Any]) -> None:
        self.hook = hook
        # PERF: whether the hook is a coroutine function is decided once, not per request.
        self.is_async = inspect.iscoroutinefunction(hook)

    def _before_entry(self) -> Entry:
        # PERF: an async hook is called as it is (the flow ignores what is not a Response).
        return (self.hook, True) if self.is_async else (self.before, True)

    async def before(self, request: Request) -> Response | None:
        early = await _call(self.hook, self.is_async, request)
        return early if isinstance(early, Response) else None


@final
class _AfterHooks(Step):
    """The app's ``after_request`` hooks, in order; a returned Response replaces the one given."""

    on_server_error = False  # NOTE: as before steps: an unhandled error skips the hooks

    def __init__(self, hooks: Sequence[Callable[..., Any]]) -> None:
        self.hooks = tuple((h, inspect.iscoroutinefunction(h)) for h in hooks)

    async def after(self, request: Request, response: Response) -> Response | None:  # type: ignore[override]
        replaced: Response | None = None
        for hook, is_async in self.hooks:
            result = await _call(hook, is_async, response if replaced is None else replaced)
            if isinstance(result, Response):
                replaced = result
        return replaced


def hook_steps(
    before: Sequence[Callable[..., Any]], after: Sequence[Callable[..., Any]]
) -> list[Step]:
    """Return the hooks as the innermost steps: after hooks see early answers of before hooks."""
    steps: list[Step] = []
    if after:
        steps.append(_AfterHooks(after))
    steps.extend(_BeforeHook(hook) for hook in before)
    return steps
