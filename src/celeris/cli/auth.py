"""``celeris auth``: create a superuser and change a password from the command line.

``--app MODULE:ATTR`` names an ``Auth`` or an app that built one (env ``CELERIS_APP``). The
password is prompted for (twice, hidden), or read from ``CELERIS_PASSWORD`` with
``--no-input`` for scripts; it never appears on the command line.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from celeris.auth import Auth, PasswordInvalid, PasswordTooLong, SignupError

__all__ = ["auth", "load_auth"]

PASSWORD_ENV = "CELERIS_PASSWORD"


def load_auth(target: str) -> Auth:
    """Import ``MODULE:ATTR`` and return the ``Auth`` it names or its app holds."""
    module_name, _, attribute = target.partition(":")
    if not module_name:
        raise click.BadParameter(f"{target!r} is not MODULE:ATTR", param_hint="--app")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise click.BadParameter(
            f"cannot import {module_name!r}: {error}", param_hint="--app"
        ) from None
    for name in [attribute] if attribute else ["auth", "app"]:
        value = getattr(module, name, None)
        if isinstance(value, Auth):
            return value
        found = getattr(getattr(value, "state", None), "auth", None)
        if isinstance(found, Auth):
            return found
    raise click.BadParameter(
        f"{target!r} is neither a celeris.auth.Auth nor an app with one (Auth(app=app, db=db))",
        param_hint="--app",
    )


def _password(no_input: bool) -> str:
    if no_input:
        password = os.environ.get(PASSWORD_ENV)
        if not password:
            raise click.ClickException(f"--no-input needs the password in ${PASSWORD_ENV}")
        return password
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


async def _run(manager: Auth, action: Any) -> Any:
    await manager.db.connect()
    try:
        await manager.start()
        return await action()
    finally:
        await manager.db.disconnect()


@click.group()
@click.option(
    "--app", "target", envvar="CELERIS_APP", required=True, help="MODULE:ATTR of the Auth or app."
)
@click.pass_context
def auth(context: click.Context, target: str) -> None:
    """Manage user accounts."""
    context.obj = target


@auth.command()
@click.option("--email", help="The superuser's email address (prompted when missing).")
@click.option(
    "--no-input", is_flag=True, help=f"Do not prompt: read the password from ${PASSWORD_ENV}."
)
@click.pass_obj
def createsuperuser(target: str, email: str | None, no_input: bool) -> None:
    """Create an active, verified staff superuser."""
    manager = load_auth(target)
    if not email:
        if no_input:
            raise click.ClickException("--no-input needs --email")
        email = str(click.prompt("Email"))
    password = _password(no_input)

    async def create() -> Any:
        return await manager.create_user(
            email, password, is_staff=True, is_superuser=True, email_verified=True
        )

    try:
        user = asyncio.run(_run(manager, create))
    except (SignupError, PasswordInvalid) as error:
        raise click.ClickException(" ".join(error.messages)) from None
    except PasswordTooLong as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Superuser {user.email} created (id {user.id}).")


@auth.command()
@click.argument("email")
@click.option(
    "--no-input", is_flag=True, help=f"Do not prompt: read the password from ${PASSWORD_ENV}."
)
@click.pass_obj
def changepassword(target: str, email: str, no_input: bool) -> None:
    """Set a new password for EMAIL (the account's sessions are signed out)."""
    manager = load_auth(target)
    password = _password(no_input)

    async def change() -> bool:
        user = await manager.get_user_by_email(email)
        if user is None:
            return False
        await manager.set_password(user, password)
        return True

    try:
        changed = asyncio.run(_run(manager, change))
    except PasswordInvalid as error:
        raise click.ClickException(" ".join(error.messages)) from None
    except PasswordTooLong as error:
        raise click.ClickException(str(error)) from None
    if not changed:
        raise click.ClickException(f"no account uses {email}")
    click.echo(f"Password of {email} changed.")
