"""A job definition (``@jobs.job``), its typed arguments, and the handle ``enqueue`` returns.

A job's parameters split in two: ``Depends(...)`` ones are solved by the core's dependency
injection when the job runs, exactly as for handlers (generator dependencies are closed after
the job, shown its exception, so ``db.session`` commits on success and rolls back on failure);
the others are its arguments, encoded as JSON when enqueued and decoded into their annotated
types when run.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast, get_type_hints

import msgspec

from celeris import telemetry
from celeris.core.di import Context, call, solve
from celeris.core.signature import Kind, ParamInfo, Plan, compile_plan
from celeris.core.validation import encode_json
from celeris.jobs.base import FINISHED, JobRecord, State
from celeris.jobs.errors import JobArgumentError, JobCancelled, JobFailed, JobNotFound

if TYPE_CHECKING:
    from celeris.jobs.jobs import Jobs

__all__ = ["Job", "JobHandle"]

P = ParamSpec("P")
R = TypeVar("R")

_REQUEST_KINDS = frozenset(Kind) - {Kind.DEPENDENCY}


def _request_bound(plan: Plan, owner: str) -> None:
    """Refuse dependencies that need a request: a job has none."""
    for info in (*plan.dependencies, *plan.params):
        if info.kind in _REQUEST_KINDS:
            raise TypeError(
                f"job {owner}: dependency {plan.endpoint.__qualname__} takes {info.name!r} from "
                f"the {info.kind.value}, and a job has no request; pass it as a job argument"
            )
        if info.dependency is not None:
            _request_bound(info.dependency, owner)


class Job(Generic[P, R]):
    """A function registered with ``@jobs.job``: call it directly or ``enqueue`` it."""

    def __init__(
        self,
        jobs: Jobs,
        func: Callable[P, Any],
        *,
        name: str,
        queue: str,
        retries: int,
        timeout: float | None,
        priority: int,
        backoff: float,
        max_backoff: float,
        dont_retry: tuple[type[BaseException], ...] = (),
    ) -> None:
        if retries < 0:
            raise ValueError(f"job {name}: retries must be >= 0, not {retries}")
        if timeout is not None and timeout <= 0:
            raise ValueError(f"job {name}: timeout must be positive, not {timeout}")
        self.jobs = jobs
        self.func = func
        self.name = name
        self.queue = queue
        self.retries = retries
        self.timeout = timeout
        self.priority = priority
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.dont_retry = dont_retry  # exceptions that go straight to the dead-letter list
        self.__name__ = getattr(func, "__name__", name)
        self.__qualname__ = getattr(func, "__qualname__", name)
        self.__doc__ = func.__doc__
        self.__wrapped__ = func
        self.signature = inspect.signature(func)
        plan = compile_plan(func)
        self.plan = plan
        dependencies = tuple(info for info in plan.params if info.kind is Kind.DEPENDENCY)
        for info in dependencies:
            assert info.dependency is not None
            _request_bound(info.dependency, name)
        # NOTE: a plan of the dependencies only: ``solve`` binds them through the core's DI.
        self._dependencies = Plan(endpoint=func, params=dependencies)
        self._arguments = self._args_type(dependencies)
        hints = get_type_hints(func, include_extras=True)
        self.returns = hints.get("return", Any)

    def _args_type(self, dependencies: tuple[ParamInfo, ...]) -> type[msgspec.Struct]:
        """Build the Struct that validates and decodes this job's arguments."""
        skipped = {info.name for info in dependencies}
        hints = get_type_hints(self.func, include_extras=True)
        fields: list[tuple[str, Any, Any]] = []
        for name, parameter in self.signature.parameters.items():
            if name in skipped:
                continue
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise TypeError(f"job {self.name}: *args and **kwargs cannot be serialised")
            annotation = hints.get(name, Any)
            default = (
                msgspec.NODEFAULT if parameter.default is parameter.empty else parameter.default
            )
            fields.append((name, annotation, default))
        self.argument_names = tuple(name for name, _, _ in fields)
        try:
            return msgspec.defstruct(f"{self.name}.arguments", fields, kw_only=True)
        except TypeError as error:
            raise TypeError(
                f"job {self.name}: an argument type msgspec cannot encode: {error}"
            ) from None

    # --- arguments --------------------------------------------------------------------------

    def encode_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """Bind and serialise the arguments now, so a mistake raises at the call site."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as error:
            raise JobArgumentError(f"{self.name}.enqueue(): {error}") from None
        values = {k: v for k, v in bound.arguments.items() if k in self.argument_names}
        extra = set(bound.arguments) - set(values)
        if extra:
            raise JobArgumentError(
                f"{self.name}.enqueue(): {', '.join(sorted(extra))} is injected by Depends(); "
                "do not pass it"
            )
        try:
            raw = encode_json(values)
        except (TypeError, NotImplementedError, msgspec.EncodeError):
            for key, value in values.items():
                try:
                    encode_json(value)
                except (TypeError, NotImplementedError, msgspec.EncodeError) as error:
                    raise JobArgumentError(
                        f"{self.name}.enqueue(): argument {key!r} "
                        f"({type(value).__name__}) is not JSON serialisable: {error}"
                    ) from None
            raise
        try:
            msgspec.json.decode(raw, type=self._arguments)
        except msgspec.ValidationError as error:
            raise JobArgumentError(f"{self.name}.enqueue(): {error}") from None
        return raw.decode()

    def decode_arguments(self, raw: str) -> dict[str, Any]:
        """Return the keyword arguments stored by ``encode_arguments``, in their types."""
        decoded = msgspec.json.decode(raw, type=self._arguments)
        return {name: getattr(decoded, name) for name in self.argument_names}

    # --- running ----------------------------------------------------------------------------

    async def invoke(self, kwargs: dict[str, Any]) -> Any:
        """Solve the dependencies and run the job once, here (no queue, no retries)."""
        ctx = Context(None, {})
        try:
            kwargs.update(await solve(self._dependencies, ctx))
            result = await call(self.plan, kwargs)
        except BaseException as error:
            await ctx.close(error)
            raise
        await ctx.close()
        return result

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        """Run the job right now with its dependencies solved: ``await send_welcome(42)``."""
        bound = self.signature.bind_partial(*args, **kwargs)
        return self.invoke(dict(bound.arguments))

    async def enqueue(
        self,
        *args: Any,
        delay: float | None = None,
        at: Any = None,
        priority: int | None = None,
        queue: str | None = None,
        unique_key: str | None = None,
        session: Any = None,
        **kwargs: Any,
    ) -> JobHandle[R]:
        """Queue one run; ``session=`` stores it in that db transaction (handed over on commit)."""
        raw = self.encode_arguments(args, kwargs)
        if at is not None:
            delay = at.timestamp() - time.time()
        record = self.jobs.record_for(
            self, raw, delay=delay, priority=priority, queue=queue, unique_key=unique_key
        )
        push: Callable[..., Awaitable[JobRecord]] = self.jobs.push
        if telemetry.tracer is not None:  # a PRODUCER span, its context carried in the args
            push = telemetry.traced_push(push)
        stored = await push(record, session=session)
        return JobHandle(self.jobs, stored.id, self)

    def __repr__(self) -> str:
        return f"<Job {self.name} queue={self.queue!r} retries={self.retries}>"


class JobHandle(Generic[R]):
    """What ``enqueue`` returns: the job's id, its state and, once done, its result."""

    __slots__ = ("id", "job", "jobs")

    def __init__(self, jobs: Jobs, job_id: str, job: Job[Any, R] | None = None) -> None:
        self.jobs = jobs
        self.id = job_id
        self.job = job

    async def record(self) -> JobRecord:
        """Return the stored record; raises JobNotFound."""
        record = await self.jobs.get(self.id)
        if record is None:
            raise JobNotFound(self.id)
        return record

    async def status(self) -> State:
        """Return the job's state."""
        return (await self.record()).state

    async def result(self, timeout: float | None = None) -> R:
        """Wait for the job to finish and return its result; raises JobFailed, TimeoutError."""
        pause = 0.005
        async with asyncio.timeout(timeout):
            while True:
                record = await self.record()
                if record.state in FINISHED:
                    break
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.25)
        if record.state is State.FAILED:
            raise JobFailed(self.id, record.error)
        if record.state is State.CANCELLED:
            raise JobCancelled(f"job {self.id} was cancelled")
        returns = self.job.returns if self.job is not None else Any
        raw = record.result or "null"
        try:
            decoded = msgspec.json.decode(raw, type=returns)
        except (TypeError, msgspec.ValidationError):  # a type msgspec does not decode
            decoded = msgspec.json.decode(raw)
        return cast(R, decoded)

    async def cancel(self) -> bool:
        """Cancel the job if it has not started."""
        return await self.jobs.cancel(self.id)

    async def retry(self) -> bool:
        """Queue a failed or cancelled job again."""
        return await self.jobs.retry(self.id)

    def __repr__(self) -> str:
        return f"<JobHandle {self.id}>"
