"""Load an app from a ``module:attr`` string with errors that say what to fix.

The app may be ASGI 3 or WSGI (``interface``: ``auto`` tells them apart); the server wraps a
WSGI app (``celeris.server.wsgi``).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from celeris.server.wsgi import is_wsgi


class ImportFromStringError(ValueError):
    """``MODULE:ATTR`` could not be turned into an ASGI app."""


def import_from_string(target: str | Any, factory: bool = False, interface: str = "auto") -> Any:
    """Return the app named by ``"module:attr"`` (calling it first when ``factory``)."""
    if not isinstance(target, str):
        app = target() if factory else target
        _check_app(app, repr(target), interface)
        return app
    module_name, sep, attrs = target.partition(":")
    if not sep or not module_name or not attrs:
        raise ImportFromStringError(
            f'Import string "{target}" must be in the format "module:attribute", e.g. "main:app".'
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name and not module_name.startswith(f"{exc.name}."):
            raise  # the module exists but imports something missing: show the real error
        raise ImportFromStringError(
            f'Could not import module "{module_name}" (is it on sys.path / the current directory?).'
        ) from exc
    obj: Any = module
    for attr in attrs.split("."):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            raise ImportFromStringError(
                f'Attribute "{attrs}" not found in module "{module_name}".'
            ) from None
    if factory:
        if not callable(obj):
            raise ImportFromStringError(f'"{target}" is not callable, so it cannot be a --factory.')
        obj = obj()
    _check_app(obj, target, interface)
    return obj


def _check_app(obj: Any, name: str, interface: str = "auto") -> None:
    if not callable(obj):
        raise ImportFromStringError(
            f'"{name}" is a {type(obj).__name__}, not an ASGI application (a callable).'
        )
    if interface == "wsgi" or (interface == "auto" and is_wsgi(obj)):
        return
    call = obj if inspect.isfunction(obj) or inspect.ismethod(obj) else type(obj).__call__
    if inspect.isclass(obj):
        call = obj
    try:
        params = inspect.signature(call).parameters
    except (TypeError, ValueError):
        return  # builtins and C callables: trust them
    positional = [
        p
        for p in params.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self"
    ]
    if not any(p.kind == p.VAR_POSITIONAL for p in params.values()) and len(positional) not in (3,):
        hint = (
            " or --interface wsgi (it takes (environ, start_response))"
            if interface == "asgi3" and is_wsgi(obj)
            else ""
        )
        raise ImportFromStringError(
            f'"{name}" does not look like an ASGI 3 application: it must take (scope, receive, send)'
            f" (use --factory if it is a function that returns the app{hint})."
        )
