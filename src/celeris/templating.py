"""``Templates``: Jinja2 templates rendered into ``HTMLResponse`` objects."""

from __future__ import annotations

import os
from collections import ChainMap
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import jinja2

from celeris.core.errors import HTTPError, prefers_html
from celeris.core.requests import Request
from celeris.core.responses import HTMLResponse, Response

__all__ = ["TemplateNotFoundError", "Templates"]

ContextProcessor = Callable[[Any], Mapping[str, Any]]
ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class TemplateNotFoundError(LookupError):
    """The named template is in none of the template folders."""


@jinja2.pass_context
def _url_for(context: jinja2.runtime.Context, name: str, /, **params: Any) -> str:
    request = context.get("request")
    if request is None:
        raise RuntimeError("url_for() in a template needs 'request' in the context")
    return str(request.url_for(name, **params))


class Templates:
    """A folder (or folders) of Jinja2 templates, autoescaped by default."""

    def __init__(
        self,
        directory: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        *,
        autoescape: bool = True,
        context_processors: Sequence[ContextProcessor] | None = None,
        **env_options: Any,
    ) -> None:
        if isinstance(directory, str | os.PathLike):
            directories = [os.fspath(directory)]
        else:
            directories = [os.fspath(d) for d in directory]
        self.directories = directories
        self.context_processors = list(context_processors or ())
        env_options.setdefault("loader", jinja2.FileSystemLoader(directories))
        env_options.setdefault("autoescape", autoescape)
        # PERF: an auto-reloading Jinja stats the file on every render; only development
        # (`celeris run` sets CELERIS_DEBUG=1) needs edits picked up. auto_reload= decides.
        env_options.setdefault("auto_reload", os.environ.get("CELERIS_DEBUG") == "1")
        self._options = env_options
        self.env = jinja2.Environment(**env_options)
        self.env.globals.setdefault("url_for", _url_for)
        self._async_env: jinja2.Environment | None = None

    @property
    def async_env(self) -> jinja2.Environment:
        """The ``enable_async`` twin of ``env``; it shares filters, tests and globals."""
        env = self._async_env
        if env is None:
            env = jinja2.Environment(**{**self._options, "enable_async": True})
            env.filters = self.env.filters
            env.tests = self.env.tests
            env.globals = self.env.globals
            env.policies = self.env.policies
            self._async_env = env
        return env

    def get_template(self, name: str, *, is_async: bool = False) -> jinja2.Template:
        """Load template ``name``; a missing one raises ``TemplateNotFoundError``."""
        env = self.async_env if is_async else self.env
        try:
            return env.get_template(name)
        except jinja2.TemplateNotFound as exc:
            raise self._not_found(name, exc) from None

    def _not_found(self, name: str, exc: jinja2.TemplateNotFound) -> TemplateNotFoundError:
        missing = f" (it includes or extends {exc.name!r})" if exc.name and exc.name != name else ""
        what = repr(exc.name) if missing else repr(name)
        return TemplateNotFoundError(
            f"Template {what} not found in {self.directories}{missing.replace('it', repr(name), 1)}"
        )

    def _context(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        ctx = dict(context or {})
        request = ctx.get("request")
        for processor in self.context_processors:
            for key, value in processor(request).items():
                ctx.setdefault(key, value)
        return ctx

    def render(
        self,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str = "text/html",
        background: Any = None,
    ) -> HTMLResponse:
        """Render template ``name`` with ``context`` into an ``HTMLResponse``."""
        content = self.render_string(name, context)
        return HTMLResponse(content, status_code, headers, media_type, background)

    async def render_async(
        self,
        name: str,
        context: Mapping[str, Any] | None = None,
        *,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str = "text/html",
        background: Any = None,
    ) -> HTMLResponse:
        """Render with the async environment (templates may await async functions)."""
        template = self.get_template(name, is_async=True)
        try:
            content = await template.render_async(self._context(context))
        except jinja2.TemplateNotFound as exc:
            raise self._not_found(name, exc) from None
        return HTMLResponse(content, status_code, headers, media_type, background)

    def TemplateResponse(  # the Starlette/FastAPI spelling users know
        self,
        request_or_name: Any,
        name_or_context: Any = None,
        context: Mapping[str, Any] | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str = "text/html",
        background: Any = None,
    ) -> HTMLResponse:
        """Render like Starlette: ``(request, name, context)`` or ``(name, {"request": ...})``."""
        if isinstance(request_or_name, str):
            name, ctx = request_or_name, dict(name_or_context or {})
        else:
            if not isinstance(name_or_context, str):
                raise TypeError("TemplateResponse(request, name, context): name must be a str")
            name, ctx = name_or_context, {**(context or {}), "request": request_or_name}
        return self.render(
            name,
            ctx,
            status_code=status_code,
            headers=headers,
            media_type=media_type,
            background=background,
        )

    def render_string(self, name: str, context: Mapping[str, Any] | None = None) -> str:
        """Render template ``name`` to a string."""
        template = self.get_template(name)
        env = template.environment
        # PERF: Template.render merges the template's globals (a ChainMap over env.globals)
        # into the context key by key in Python (a sixth of the secured page); these dict
        # merges in C build the same context (context over template globals over env's).
        own = template.globals
        own = own.maps[0] if isinstance(own, ChainMap) else own
        ctx = template.new_context({**env.globals, **own, **self._context(context)}, shared=True)
        try:
            try:
                return env.concat(template.root_render_func(ctx))
            except Exception:
                env.handle_exception()  # NOTE: as Template.render: the template's traceback
        except jinja2.TemplateNotFound as exc:
            raise self._not_found(name, exc) from None

    def error_handler(self, name: str = "error.html") -> ErrorHandler:
        """Return an exception handler that renders error pages from these templates.

        A client that prefers HTML gets ``errors/<status>.html`` if there is one, else
        ``name``, with ``request``, ``error`` (an ``HTTPError``), ``status_code``, ``title`` and
        ``detail`` in the context; every other client gets the usual problem+json. Register
        it for ``HTTPError`` (and ``500`` for unhandled errors, whose detail is never shown).
        """

        async def render_error(request: Request, exc: Exception) -> Response:
            error = exc if isinstance(exc, HTTPError) else HTTPError(500)
            if not prefers_html(request.headers.get("accept")):
                return error.to_response()
            try:
                template = self.env.select_template([f"errors/{error.status_code}.html", name])
            except jinja2.TemplatesNotFound:
                return error.to_response(request.headers.get("accept"))
            context = {
                "request": request,
                "error": error,
                "status_code": error.status_code,
                "title": error.title,
                "detail": error.detail,
            }
            content = template.render(self._context(context))
            response = HTMLResponse(content, error.status_code, error.headers)
            response.headers["vary"] = "Accept"  # NOTE: chosen by Accept, as the built-in page
            return response

        return render_error
