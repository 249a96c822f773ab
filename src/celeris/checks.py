"""Deployment checks (``celeris check --deploy``): settings a production app must not keep.

Each finding has a stable id (``deploy.E001``...; E is an error, W a warning) that docs, CI
filters and ``--skip`` refer to; ids are never reused for another check.

| id | what |
| --- | --- |
| deploy.E001 | debug is on (``App(debug=True)`` or ``settings.DEBUG``) |
| deploy.E002 | no SECRET_KEY, or the generated development key (``.celeris/secret_key``) |
| deploy.E003 | a weak SECRET_KEY (under 32 characters or under 5 distinct ones) |
| deploy.W001 | no HSTS (no ``SecurityHeaders`` step, or ``hsts=False``) |
| deploy.W002 | the session cookie is never ``Secure`` (``Sessions(secure=False)``) |
| deploy.W003 | any Host is served (no ``TrustedHostMiddleware``, or ``allowed_hosts=["*"]``) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CHECK_IDS", "Finding", "deploy_checks"]

_MIN_KEY_LENGTH = 32
_MIN_KEY_CHARACTERS = 5


@dataclass(frozen=True)
class Finding:
    """One failed check: its stable id, what is wrong and how to fix it."""

    id: str
    message: str
    hint: str

    @property
    def is_error(self) -> bool:
        """Errors fail ``celeris check --deploy``; warnings only with ``--fail-level warning``."""
        return ".E" in self.id


CHECK_IDS = (
    "deploy.E001",
    "deploy.E002",
    "deploy.E003",
    "deploy.W001",
    "deploy.W002",
    "deploy.W003",
)


def _secret_key(app: Any) -> str | None:
    settings = getattr(app, "settings", None)
    key = getattr(settings, "SECRET_KEY", None) if settings is not None else None
    if not key:
        key = os.environ.get("SECRET_KEY")
    if isinstance(key, bytes):
        return key.decode("latin-1")
    return str(key) if key else None


def _development_key(root: Path) -> str | None:
    try:
        return (root / ".celeris" / "secret_key").read_text().strip() or None
    except OSError:
        return None


def _steps(app: Any) -> list[Any]:
    return list(getattr(app, "_steps", ()))


def _middleware(app: Any, name: str) -> list[Any]:
    found = []
    for spec in getattr(app, "user_middleware", ()):
        cls = getattr(spec, "cls", None)
        if getattr(cls, "__name__", "") == name:
            found.append(spec)
    return found


def deploy_checks(app: Any, root: str | os.PathLike[str] | None = None) -> list[Finding]:
    """Return the deployment findings for ``app`` (an empty list: nothing to fix).

    ``root`` is where the development key would be (``.celeris/secret_key``; the working
    directory by default).
    """
    findings: list[Finding] = []
    settings = getattr(app, "settings", None)
    if getattr(app, "debug", False) is True or getattr(settings, "DEBUG", False) is True:
        findings.append(
            Finding(
                "deploy.E001",
                "debug is on: errors show tracebacks and local values to every client",
                "set DEBUG=false (and do not pass App(debug=True)) in production",
            )
        )
    key = _secret_key(app)
    if key is None or key == _development_key(Path(root if root is not None else os.getcwd())):
        findings.append(
            Finding(
                "deploy.E002",
                "no SECRET_KEY is set"
                if key is None
                else "SECRET_KEY is the generated development key",
                "set SECRET_KEY in the environment, e.g. from "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'",
            )
        )
    elif len(key) < _MIN_KEY_LENGTH or len(set(key)) < _MIN_KEY_CHARACTERS:
        findings.append(
            Finding(
                "deploy.E003",
                f"SECRET_KEY is weak: {len(key)} characters, {len(set(key))} distinct "
                f"(at least {_MIN_KEY_LENGTH} and {_MIN_KEY_CHARACTERS} needed)",
                "generate one with python -c 'import secrets; print(secrets.token_urlsafe(48))'",
            )
        )
    headers = [s for s in _steps(app) if type(s).__name__ == "SecurityHeaders"]
    if not any(getattr(s, "hsts", None) for s in headers):
        findings.append(
            Finding(
                "deploy.W001",
                "no Strict-Transport-Security header: browsers may reach the site over HTTP"
                if headers
                else "no SecurityHeaders step: no HSTS and none of the security headers",
                "add celeris.security.SecurityHeaders(app=app) (HSTS on by default, sent on HTTPS)",
            )
        )
    sessions = getattr(getattr(app, "state", None), "sessions", None)
    if sessions is not None and getattr(sessions, "secure", None) is False:
        findings.append(
            Finding(
                "deploy.W002",
                "the session cookie is never Secure: it is sent over plain HTTP too",
                "leave Sessions(secure=None) (Secure on HTTPS) or pass secure=True",
            )
        )
    hosts = _middleware(app, "TrustedHostMiddleware")
    if not hosts or any("*" in spec.options.get("allowed_hosts", ["*"]) for spec in hosts):
        findings.append(
            Finding(
                "deploy.W003",
                "any Host header is served: host-header attacks (password-reset links, caches)",
                "app.add_middleware(TrustedHostMiddleware, allowed_hosts=['example.com'])",
            )
        )
    return findings
