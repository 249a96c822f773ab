"""``celeris serve`` and ``celeris run``: every flag generated from the server's ``Config``."""

from __future__ import annotations

import dataclasses
import importlib
import math
import os
import re
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import click

import celeris.server
from celeris.server.config import Config
from celeris.server.importer import ImportFromStringError, import_from_string

F = TypeVar("F", bound=Callable[..., Any])

_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def optional_module(name: str, extras: tuple[str, ...] = ()) -> types.ModuleType | None:
    """Import module ``name``, or return None when it or one of its optional ``extras`` is absent.

    Any other import error from inside the module still raises.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = (exc.name or "").partition(".")[0]
        if exc.name != name and missing not in extras:
            raise
        return None


class CLIError(click.ClickException):
    """Bad input to the CLI: shown as one ``Error: ...`` line, exit code 2."""

    exit_code = 2


def fail(message: str) -> typing.NoReturn:
    """Print ``Error: message`` on one line and exit with code 2."""
    raise CLIError(message)


class Command(click.Command):
    """A click command whose usage errors are one line (no usage banner, no traceback)."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise CLIError(exc.format_message()) from None


def check_target(target: str) -> None:
    """Fail unless ``target`` looks like ``MODULE:ATTR``."""
    if not _TARGET.fullmatch(target):
        fail(f"TARGET {target!r} must look like MODULE:ATTR, e.g. 'myproject.main:app'")


def load_app(target: str, factory: bool = False) -> Any:
    """Import the app named by ``target``; any failure becomes a one-line error."""
    check_target(target)
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return import_from_string(target, factory=factory)
    except ImportFromStringError as exc:  # precise already: module/attribute missing, not an app
        fail(str(exc))
    except Exception as exc:  # raised by the user's module while it was imported
        module = target.partition(":")[0]
        fail(
            f"importing {target!r} raised {type(exc).__name__}: {exc} "
            f"(run `python -c 'import {module}'` for the traceback)"
        )


# --- flags from Config -------------------------------------------------------------------------


class _OrNone(click.ParamType):  # type: ignore[type-arg]  # NOTE: generic only in click>=8.2
    """A number option that also takes ``none`` (for Config fields typed ``X | None``)."""

    def __init__(self, inner: click.ParamType[Any]) -> None:
        self.inner = inner
        self.name = f"{inner.name}|none"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or (isinstance(value, str) and value.strip().lower() in ("none", "off")):
            return None
        return self.inner.convert(value, param, ctx)


class _Size(click.ParamType):  # type: ignore[type-arg]  # NOTE: generic only in click>=8.2
    """A size in bytes: ``1048576``, ``1MiB``, ``64k``, ``1MB`` (multiples of 1024, as nginx)."""

    name = "bytes"
    _UNITS: typing.ClassVar[dict[str, int]] = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    _FORM = re.compile(r"\s*(-?\d+)\s*([kmg]?)(?:i?b)?\s*", re.I)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            return value
        found = self._FORM.fullmatch(str(value))
        if found is None or (not found.group(2) and str(value).strip().lower().endswith("ib")):
            self.fail(f"{value!r} is not a size (e.g. 1048576, 64KiB, 1MiB, 1GiB)", param, ctx)
        return int(found.group(1)) * self._UNITS[found.group(2).lower()]


_HINTS = typing.get_type_hints(Config)
_FLAGS = {
    f.name: "--" + f.metadata.get("flag", f.name.replace("_", "-"))
    for f in dataclasses.fields(Config)
}
_SCALARS: dict[type, click.ParamType[Any]] = {int: click.INT, float: click.FLOAT, str: click.STRING}


def _split_optional(hint: Any) -> tuple[type, bool]:
    """Return the base type of a field and whether it may be None."""
    args = typing.get_args(hint)
    if type(None) in args:
        (base,) = [a for a in args if a is not type(None)]
        return base, True
    return hint, False


def config_options(
    only: Iterable[str] | None = None, defaults: Mapping[str, Any] | None = None
) -> Callable[[F], F]:
    """Decorate a click command with one option per ``Config`` field (or just ``only``)."""
    wanted = set(only) if only is not None else None
    overrides = dict(defaults or {})
    decorators: list[Callable[[F], F]] = []
    for field in dataclasses.fields(Config):
        if wanted is not None and field.name not in wanted:
            continue
        flag = field.metadata.get("flag", field.name.replace("_", "-"))
        help_text = field.metadata.get("help")
        default = overrides.get(field.name, field.default)
        base, optional = _split_optional(_HINTS[field.name])
        if base is bool:
            decl = click.option(
                f"--{flag}/--no-{flag}",
                field.name,
                default=default,
                show_default=True,
                help=help_text,
            )
        else:
            choices = field.metadata.get("choices")
            ptype = click.Choice(choices) if choices else _SCALARS[base]
            if field.metadata.get("unit") == "bytes":
                ptype = _Size()
            decl = click.option(
                f"--{flag}",
                field.name,
                type=_OrNone(ptype) if optional and base is not str else ptype,
                default=default,
                show_default=True,
                help=help_text,
            )
        decorators.append(decl)

    def apply(command: F) -> F:
        for decorate in reversed(decorators):  # click lists options in decoration order
            command = decorate(command)
        return command

    return apply


def validate(ctx: click.Context, options: Mapping[str, Any]) -> str | None:
    """Return what is wrong with a set of server options, or None."""
    port = options.get("port")
    if port is not None and not 0 <= port <= 65535:
        return f"--port {port} is out of range; use 0-65535 (0 picks a free port)"
    if options.get("workers", 1) < 1:
        return "--workers must be at least 1"
    if options.get("wsgi_threads", 1) < 1:
        return "--wsgi-threads must be at least 1"
    for name, value in options.items():
        if isinstance(value, float) and not math.isfinite(value):
            return f"{_FLAGS[name]} must be a finite number (got {value})"
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            return f"{_FLAGS[name]} must not be negative (got {value})"
    if options.get("ssl_keyfile") and not options.get("ssl_certfile"):
        return "--ssl-keyfile needs --ssl-certfile too"
    for name in ("ssl_certfile", "ssl_keyfile"):
        path = options.get(name)
        if path and not os.path.isfile(path):
            return f"{_FLAGS[name]} {path!r}: no such file"
    if options.get("uds"):
        given = [
            name
            for name in ("host", "port")
            if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE
        ]
        if given:
            return f"--uds cannot be combined with --{' / --'.join(given)}; use one or the other"
        parent = os.path.dirname(os.path.abspath(options["uds"]))
        if not os.path.isdir(parent):
            return f"--uds {options['uds']!r}: directory {parent!r} does not exist"
    if options.get("reload") and options.get("workers", 1) > 1:
        return "--reload and --workers > 1 cannot be combined; reload runs one worker"
    return None


# --- starting the server ---------------------------------------------------------------------


def start(target: str, options: dict[str, Any]) -> None:
    """Serve ``target`` with ``celeris.server.run`` (looked up at call time)."""
    if os.getcwd() not in sys.path:  # as ``python -m`` does, for the console script too
        sys.path.insert(0, os.getcwd())
    celeris.server.run(target, **options)


def _serve(ctx: click.Context, target: str, options: dict[str, Any]) -> None:
    check_target(target)
    problem = validate(ctx, options)
    if problem is not None:
        fail(problem)
    try:
        start(target, options)
    except (ImportFromStringError, celeris.server.MissingExtraError) as exc:
        fail(str(exc))
    except OSError as exc:
        raise click.ClickException(f"cannot serve {target!r}: {exc}") from None


@click.command(cls=Command)
@click.argument("target", metavar="MODULE:ATTR")
@config_options()
@click.pass_context
def serve(ctx: click.Context, /, target: str, **options: Any) -> None:
    """Serve the ASGI app MODULE:ATTR (a celeris app runs on its fast lane)."""
    _serve(ctx, target, options)


@click.command(cls=Command)
@click.argument("target", metavar="MODULE:ATTR")
@config_options(defaults={"reload": True, "debug": True})
@click.pass_context
def run(ctx: click.Context, /, target: str, **options: Any) -> None:
    """Serve MODULE:ATTR for development: reload on change and debug on."""
    reload_asked = ctx.get_parameter_source("reload") is click.core.ParameterSource.COMMANDLINE
    if options["reload"] and not reload_asked and not celeris.server.reload_available():
        # NOTE: `pip install celeris` alone must run `celeris run`: without the reload extra it
        # serves without reloading and says how to get it; an explicit --reload still fails.
        click.echo(f"celeris: reload off ({celeris.server.RELOAD_HINT})", err=True)
        options["reload"] = False
    _serve(ctx, target, options)
