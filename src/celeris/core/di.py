"""Bind a compiled plan to one request: parameters, body, form and dependencies.

Dependencies are resolved once per request (``use_cache``); generator dependencies are
entered on a per-request exit stack that the app closes after the response was sent,
passing the handler's exception (if any) into the generator. Those with
``scope="function"`` go on a second stack that ``run`` closes as soon as the handler
returns, so their errors reach the exception handlers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

from celeris.core.background import BackgroundTasks
from celeris.core.concurrency import run_in_threadpool
from celeris.core.datastructures import UploadFile
from celeris.core.errors import BadRequest, RequestValidationError, UnsupportedMediaType
from celeris.core.params import MISSING
from celeris.core.signature import TEXT_KINDS, Kind, ParamInfo, Plan, bind_text, gather
from celeris.core.validation import (
    ErrorItem,
    MalformedBody,
    ValidationFailure,
    decode_json,
    missing_error,
    repeated_error,
)


class Context:
    """Per-request binding state: the connection, dependency cache, clean-ups, tasks."""

    __slots__ = (
        "background",
        "cache",
        "conn",
        "early",
        "error",
        "path_params",
        "request",
        "stack",
        "websocket",
    )

    def __init__(self, conn: Any, path_params: dict[str, Any], *, websocket: bool = False) -> None:
        self.conn = conn  # a Request, or a WebSocket
        self.request = None if websocket else conn
        self.websocket = conn if websocket else None
        self.path_params = path_params
        self.background: BackgroundTasks | None = None
        self.cache: dict[Callable[..., Any], Any] = {}
        self.stack: AsyncExitStack | None = None
        self.early: AsyncExitStack | None = None  # Depends(scope="function") clean-ups
        self.error: Exception | None = None  # the handler's exception, even if it was handled

    def tasks(self) -> BackgroundTasks:
        """Return this request's BackgroundTasks, created on first use."""
        if self.background is None:
            self.background = BackgroundTasks()
        return self.background

    async def close_early(self, exc: BaseException | None = None) -> None:
        """Run function-scoped clean-up now (before the response); its errors propagate."""
        stack, self.early = self.early, None
        if stack is None:
            return
        if exc is None:
            await stack.aclose()
        else:
            await stack.__aexit__(type(exc), exc, exc.__traceback__)

    async def close(self, exc: BaseException | None = None) -> None:
        """Run generator dependencies' clean-up, showing them ``exc`` if the handler raised."""
        exc = exc or self.error
        for attr in ("early", "stack"):  # NOTE: early is normally closed by run() already
            stack = getattr(self, attr)
            if stack is None:
                continue
            setattr(self, attr, None)
            if exc is None:
                await stack.aclose()
            else:
                with contextlib.suppress(type(exc)):
                    await stack.__aexit__(type(exc), exc, exc.__traceback__)


async def run(plan: Plan, ctx: Context) -> Any:
    """Bind and call ``plan``; function-scoped dependencies are cleaned up before returning."""
    kwargs = await solve(plan, ctx)
    if ctx.early is None:
        return await call(plan, kwargs)
    return await call_early(plan, ctx, kwargs)


async def call_early(plan: Plan, ctx: Context, kwargs: dict[str, Any]) -> Any:
    """Call ``plan``, then run its function-scoped clean-up (shown the handler's exception)."""
    try:
        result = await call(plan, kwargs)
    except Exception as exc:
        await ctx.close_early(exc)
        raise
    await ctx.close_early()
    return result


async def solve(plan: Plan, ctx: Context) -> dict[str, Any]:
    """Return the keyword arguments for ``plan``; raises RequestValidationError or BadRequest."""
    errors: list[ErrorItem] = []
    try:
        kwargs = await _bind(plan, ctx, errors)
        if errors:
            raise RequestValidationError(errors)
    except Exception as exc:
        if ctx.early is not None:  # NOTE: function-scoped clean-up happens before any response
            await ctx.close_early(exc)
        raise
    return kwargs


async def call(plan: Plan, kwargs: dict[str, Any]) -> Any:
    """Call the plan's endpoint: awaited if async, in the thread pool if sync."""
    if plan.is_async:
        return await plan.endpoint(**kwargs)
    return await run_in_threadpool(plan.endpoint, **kwargs)


async def _bind(plan: Plan, ctx: Context, errors: list[ErrorItem]) -> dict[str, Any]:
    for dep in plan.dependencies:
        await _resolve(dep, ctx, errors)
    body: dict[str, Any] = {}
    if plan.body_params:
        body = await _read_body(plan, ctx.conn, errors)
    if plan.form_params:
        body.update(await _read_form(plan, ctx, errors))
    kwargs: dict[str, Any] = {}
    conn, path_params = ctx.conn, ctx.path_params
    for info in plan.params:
        kind = info.kind
        if kind in TEXT_KINDS:
            kwargs[info.name] = bind_text(info, conn, path_params, errors)
        elif kind is Kind.DEPENDENCY:
            kwargs[info.name] = await _resolve(info, ctx, errors)
        elif kind is Kind.REQUEST:
            kwargs[info.name] = ctx.request
        elif kind is Kind.WEBSOCKET:
            kwargs[info.name] = ctx.websocket
        elif kind is Kind.BACKGROUND:
            kwargs[info.name] = ctx.tasks()
        else:
            kwargs[info.name] = body.get(info.name, info.default)
    return kwargs


async def _resolve(info: ParamInfo, ctx: Context, errors: list[ErrorItem]) -> Any:
    plan = info.dependency
    assert plan is not None
    key = plan.endpoint
    if info.use_cache and key in ctx.cache:
        return ctx.cache[key]
    before = len(errors)
    kwargs = await _bind(plan, ctx, errors)
    if len(errors) > before:
        return MISSING
    if plan.is_async_generator:
        value = await _stack(ctx, info.early).enter_async_context(
            contextlib.asynccontextmanager(plan.endpoint)(**kwargs)
        )
    elif plan.is_generator:
        manager = contextlib.contextmanager(plan.endpoint)(**kwargs)
        value = await run_in_threadpool(manager.__enter__)

        async def exit_sync(*exc_info: Any) -> bool | None:
            return await run_in_threadpool(manager.__exit__, *exc_info)

        _stack(ctx, info.early).push_async_exit(exit_sync)
    else:
        value = await call(plan, kwargs)
    if info.use_cache:
        ctx.cache[key] = value
    return value


# --- binding without a Context ---------------------------------------------------------------


def is_flat(plan: Plan) -> bool:
    """Tell whether ``plan`` binds without a ``Context`` (``flat_kwargs``).

    Its parameters and those of its dependencies are path/query/header/cookie values, the
    ``Request`` or dependencies; no dependency is a generator (nothing to clean up) and none
    is needed twice (nothing to cache); no body, form, file or BackgroundTasks.
    """
    seen: set[Callable[..., Any]] = set()

    def walk(plan: Plan) -> bool:
        for info in (*plan.dependencies, *plan.params):
            kind = info.kind
            if kind in TEXT_KINDS or kind is Kind.REQUEST:
                continue
            dep = info.dependency
            if kind is not Kind.DEPENDENCY or dep is None:
                return False
            if dep.is_generator or dep.is_async_generator or dep.endpoint in seen:
                return False
            seen.add(dep.endpoint)
            if not walk(dep):
                return False
        return True

    return walk(plan)


async def flat_kwargs(
    plan: Plan, request: Any, path_params: dict[str, Any], errors: list[ErrorItem]
) -> dict[str, Any]:
    """Return the keyword arguments of a flat ``plan`` (``is_flat``), as ``solve`` would.

    The same values and errors, in the same order; the caller raises for ``errors``.
    """
    for dep in plan.dependencies:
        await _flat_value(dep, request, path_params, errors)
    kwargs: dict[str, Any] = {}
    for info in plan.params:
        kind = info.kind
        if kind is Kind.DEPENDENCY:
            sub = info.dependency
            assert sub is not None
            if sub.text_only and sub.is_async:
                # PERF: _flat_value inlined for the usual dependency (one coroutine less).
                before = len(errors)
                values = {i.name: bind_text(i, request, path_params, errors) for i in sub.params}
                kwargs[info.name] = (
                    MISSING if len(errors) > before else await sub.endpoint(**values)
                )
            else:
                kwargs[info.name] = await _flat_value(info, request, path_params, errors)
        elif kind is Kind.REQUEST:
            kwargs[info.name] = request
        else:
            kwargs[info.name] = bind_text(info, request, path_params, errors)
    return kwargs


async def _flat_value(
    info: ParamInfo, request: Any, path_params: dict[str, Any], errors: list[ErrorItem]
) -> Any:
    plan = info.dependency
    assert plan is not None
    before = len(errors)
    if plan.simple:
        kwargs: dict[str, Any] = {}
    elif plan.text_only:
        # PERF: a dependency of text values only binds without another coroutine.
        kwargs = {i.name: bind_text(i, request, path_params, errors) for i in plan.params}
    else:
        kwargs = await flat_kwargs(plan, request, path_params, errors)
    if len(errors) > before:
        return MISSING
    if plan.is_async:
        return await plan.endpoint(**kwargs)
    return await run_in_threadpool(plan.endpoint, **kwargs)


def _stack(ctx: Context, early: bool) -> AsyncExitStack:
    """Return the exit stack for a function-scoped (``early``) or request-scoped clean-up."""
    if early:
        if ctx.early is None:
            ctx.early = AsyncExitStack()
        return ctx.early
    if ctx.stack is None:
        ctx.stack = AsyncExitStack()
    return ctx.stack


def _check_json_type(conn: Any) -> None:
    """Refuse a body whose Content-Type is not JSON (415); an absent one counts as JSON."""
    content_type = conn.headers.get("content-type")
    if content_type is None:
        return
    media = content_type.partition(";")[0].strip().lower()
    if media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    ):
        return
    raise UnsupportedMediaType(
        f"Expected a JSON body (Content-Type: application/json), got {media or 'an empty type'!r}."
    )


async def bind_body_and_text(
    plan: Plan, request: Any, path_params: dict[str, Any]
) -> dict[str, Any]:
    """Bind a plan whose parameters are all body or path/query/header/cookie ones.

    What ``solve`` does for such a plan (same values, same errors in the same order), without
    a ``Context``: no dependencies, forms or files to resolve (``Plan.body_short``).
    """
    errors: list[ErrorItem] = []
    body = await _read_body(plan, request, errors)
    kwargs: dict[str, Any] = {}
    for info in plan.params:
        if info.kind is Kind.BODY:
            kwargs[info.name] = body.get(info.name, info.default)
        else:
            kwargs[info.name] = bind_text(info, request, path_params, errors)
    if errors:
        raise RequestValidationError(errors)
    return kwargs


async def _read_body(plan: Plan, conn: Any, errors: list[ErrorItem]) -> dict[str, Any]:
    raw: bytes = await conn.body()
    out: dict[str, Any] = {}
    if plan.body_decoder is not None:
        info = plan.body_params[0]
        if info.type is bytes:
            out[info.name] = raw
        elif not raw:
            if info.required:
                errors.append(missing_error(["body"]))
        else:
            _check_json_type(conn)
            try:
                out[info.name] = plan.body_decoder(raw)
            except ValidationFailure as exc:
                errors.extend(exc.errors)
            except MalformedBody as exc:
                raise BadRequest(str(exc)) from None
        return out
    if raw:
        _check_json_type(conn)
    try:
        data = decode_json(raw) if raw else {}
    except MalformedBody as exc:
        raise BadRequest(str(exc)) from None
    if not isinstance(data, dict):
        errors.append({"loc": ["body"], "msg": "Expected `object`", "type": "type_error"})
        return out
    for info in plan.body_params:
        value = data.get(info.alias, MISSING)
        if value is MISSING:
            if info.required:
                errors.append(missing_error(["body", info.alias]))
            continue
        assert info.convert is not None
        try:
            out[info.name] = info.convert(value)
        except ValidationFailure as exc:
            errors.extend(exc.errors)
    return out


async def _read_form(plan: Plan, ctx: Context, errors: list[ErrorItem]) -> dict[str, Any]:
    form = await ctx.conn.form()
    out: dict[str, Any] = {}
    for info in plan.form_params:
        if info.whole:
            assert info.convert is not None
            data = gather(form)
            if not data and not info.required:
                continue
            try:
                out[info.name] = info.convert(data)
            except ValidationFailure as exc:
                errors.extend(exc.errors)
            continue
        values = form.getlist(info.alias)
        if info.kind is Kind.FILE:
            files = [v for v in values if isinstance(v, UploadFile)]
            if not files:
                if info.required:
                    errors.append(missing_error(["file", info.alias]))
                continue
            if info.type is bytes:
                content = await files[0].read()
                if info.convert is not None:
                    try:
                        content = info.convert(content)
                    except ValidationFailure as exc:
                        errors.extend(exc.errors)
                        continue
                out[info.name] = content
            else:
                out[info.name] = files if info.sequence else files[0]
            continue
        texts = [v for v in values if isinstance(v, str)]
        if not texts:
            if info.required:
                errors.append(missing_error(["form", info.alias]))
            continue
        if len(texts) > 1 and not info.sequence:
            errors.append(repeated_error(["form", info.alias], len(texts)))
            continue
        assert info.convert is not None
        try:
            out[info.name] = info.convert(texts if info.sequence else texts[0])
        except ValidationFailure as exc:
            errors.extend(exc.errors)
    return out
