"""What every app of the secured-page test shares (see bench/README.md, "secured").

``GET /login?user=NAME`` puts NAME in the session; ``GET /secured`` reads it from the session,
takes one dependency (the site, below), and renders a CSRF-protected form from a Jinja2 (or
Django) template; ``POST /secured`` accepts that form (303 back to the page) and refuses a
forged one. Every answer carries the same security headers. ``GET /plaintext`` answers the
bench's readiness probe.
"""

from __future__ import annotations

from dataclasses import dataclass

from bench.apps.sql import TEMPLATES

# NOTE: a fixed key so that a cookie obtained before timing stays valid in the timed run.
SECRET_KEY = "bench-secured-not-a-secret-0123456789abcdef"
SECURED_TEMPLATES = TEMPLATES / "secured"
ANONYMOUS = "anonymous"
CSP = "default-src 'self'"
REFERRER_POLICY = "same-origin"
# The headers Django's SecurityMiddleware + XFrameOptionsMiddleware send by default, plus a CSP.
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", REFERRER_POLICY),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Content-Security-Policy", CSP),
)


@dataclass(frozen=True)
class Site:
    """The one dependency of the secured page: what the page says about the site."""

    title: str = "Bench notes"


SITE = Site()


def get_site() -> Site:
    """Provide the site (a dependency without parameters, as config usually is)."""
    return SITE
