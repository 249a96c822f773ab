"""``celeris routes``: print an app's route table."""

from __future__ import annotations

import json
from typing import Any, TypedDict

import click

from celeris.cli.serve import Command, config_options, fail, load_app

_MAX_WRAPPERS = 32  # how deep to look through middleware wrappers for the routed app


class RouteRow(TypedDict):
    methods: list[str]
    path: str
    name: str
    handler: str


def dotted_name(obj: Any) -> str:
    """Return ``module.qualname`` of a function, class or (by its class) an instance."""
    target = obj if hasattr(obj, "__qualname__") else type(obj)
    return f"{getattr(target, '__module__', '?')}.{target.__qualname__}"


def routes_of(app: Any) -> list[Any] | None:
    """Return the route objects of ``app`` (an App, Router or Starlette-style app), or None."""
    for _ in range(_MAX_WRAPPERS):
        owners = [app, getattr(app, "router", None)]
        # NOTE: celeris's Router.iter_routes() gives routes *and* mounts without compiling the
        # app; ``.routes`` (Starlette's shape) is the fallback.
        for owner in owners:
            iter_routes = getattr(owner, "iter_routes", None)
            if callable(iter_routes):
                return list(iter_routes())
        for owner in owners:
            found = getattr(owner, "routes", None)
            if isinstance(found, list | tuple):
                return list(found)
        app = getattr(app, "app", None)  # a middleware wrapping the app
        if app is None:
            break
    return None


def _methods(route: Any) -> list[str]:
    methods = getattr(route, "methods", None)
    if methods is None:
        return ["WS"] if "websocket" in type(route).__name__.lower() else ["*"]
    return sorted("WS" if m == "WEBSOCKET" else m for m in methods)


def route_rows(app: Any, prefix: str = "") -> list[RouteRow]:
    """Flatten ``app``'s routes, mounted sub-apps included, into table rows."""
    rows: list[RouteRow] = []
    for route in routes_of(app) or ():
        path = prefix + str(getattr(route, "path", ""))
        endpoint = getattr(route, "endpoint", None)
        mounted = getattr(route, "app", None)
        if endpoint is None and mounted is not None:  # a mount
            if routes_of(mounted) is not None:
                rows.extend(route_rows(mounted, path))
                continue
            handler = dotted_name(mounted)
            methods = ["*"]
        else:
            handler = getattr(route, "handler_name", None) or dotted_name(endpoint)
            methods = _methods(route)
        rows.append(
            {
                "methods": methods,
                "path": path or "/",
                "name": str(getattr(route, "name", None) or ""),
                "handler": handler,
            }
        )
    return rows


def format_table(rows: list[RouteRow]) -> str:
    """Return ``rows`` as a left-aligned text table with a header line."""
    header = ("METHODS", "PATH", "NAME", "HANDLER")
    cells = [header, *((",".join(r["methods"]), r["path"], r["name"], r["handler"]) for r in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    lines = [
        "  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
        for row in cells
    ]
    return "\n".join(line.rstrip() for line in lines)


@click.command(cls=Command)
@click.argument("target", metavar="MODULE:ATTR")
@click.option("--json", "as_json", is_flag=True, help="Print the routes as a JSON array.")
@config_options(only=["factory"])
def routes(target: str, as_json: bool, factory: bool) -> None:
    """Print the route table of the app MODULE:ATTR."""
    app = load_app(target, factory=factory)
    if routes_of(app) is None:
        fail(f"{target!r} has no route table; point it at a celeris App or Router")
    rows = route_rows(app)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    elif not rows:
        click.echo("No routes.")
    else:
        click.echo(format_table(rows))
