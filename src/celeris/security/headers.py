"""``SecurityHeaders``: Django's SecurityMiddleware and helmet's defaults as constant headers.

Constant headers are precomputed bytes in each route's plan (``Step.headers``); only HSTS
(HTTPS responses only) and a CSP with a per-request nonce run per request, and only where
they can apply.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from celeris.core.pipeline import Step
from celeris.core.requests import Request
from celeris.core.responses import Response

if TYPE_CHECKING:
    from celeris.core.routing import Route

__all__ = ["DEFAULT_CSP", "SecurityHeaders"]

NONCE = "{nonce}"

#: A strict starting policy (helmet's, with nonce-based scripts): pass it as ``csp=``.
DEFAULT_CSP = (
    "default-src 'self'; base-uri 'self'; font-src 'self' https: data:; "
    "form-action 'self'; frame-ancestors 'none'; img-src 'self' data:; object-src 'none'; "
    "script-src 'self' {nonce}; script-src-attr 'none'; style-src 'self' {nonce}; "
    "upgrade-insecure-requests"
)


def _policy(csp: str | Mapping[str, str | Sequence[str]]) -> str:
    if isinstance(csp, str):
        return csp
    parts = []
    for directive, sources in csp.items():
        value = sources if isinstance(sources, str) else " ".join(sources)
        parts.append(f"{directive} {value}".strip())
    return "; ".join(parts)


class SecurityHeaders(Step):
    """Add security headers to every response; ``SecurityHeaders(app=app, csp=DEFAULT_CSP)``.

    ``csp`` may contain ``{nonce}``: each response then gets a fresh ``'nonce-...'`` source,
    readable as ``request.state.csp_nonce`` and ``{{ csp_nonce() }}`` in templates.
    """

    def __init__(
        self,
        app: Any = None,
        *,
        hsts: bool | int = True,
        hsts_include_subdomains: bool = True,
        hsts_preload: bool = False,
        csp: str | Mapping[str, str | Sequence[str]] | None = None,
        csp_report_only: bool = False,
        frame_options: str | None = "DENY",
        referrer_policy: str | None = "same-origin",
        content_type_options: bool = True,
        cross_origin_opener_policy: str | None = "same-origin",
        cross_origin_resource_policy: str | None = "same-origin",
        permissions_policy: str | None = None,
        extra: Mapping[str, str] | None = None,
        templates: Any = None,
    ) -> None:
        constant: list[tuple[str, str]] = []
        if content_type_options:
            constant.append(("X-Content-Type-Options", "nosniff"))
        if frame_options:
            constant.append(("X-Frame-Options", frame_options))
        if referrer_policy:
            constant.append(("Referrer-Policy", referrer_policy))
        if cross_origin_opener_policy:
            constant.append(("Cross-Origin-Opener-Policy", cross_origin_opener_policy))
        if cross_origin_resource_policy:
            constant.append(("Cross-Origin-Resource-Policy", cross_origin_resource_policy))
        constant.append(("X-Permitted-Cross-Domain-Policies", "none"))
        constant.append(("Origin-Agent-Cluster", "?1"))
        # NOTE: helmet: the old XSS auditor caused leaks; "0" switches it off everywhere.
        constant.append(("X-XSS-Protection", "0"))
        if permissions_policy:
            constant.append(("Permissions-Policy", permissions_policy))
        constant.extend((extra or {}).items())
        self.constant = constant
        self.csp_header = (
            "Content-Security-Policy-Report-Only" if csp_report_only else "Content-Security-Policy"
        )
        self.csp = _policy(csp) if csp is not None else None
        seconds = 31_536_000 if hsts is True else int(hsts)
        if seconds > 0:
            value = f"max-age={seconds}"
            if hsts_include_subdomains:
                value += "; includeSubDomains"
            if hsts_preload:
                value += "; preload"
            self.hsts: bytes | None = value.encode("latin-1")
        else:
            self.hsts = None
        self.headers = self._headers(with_nonce=False)
        if templates is not None:
            from celeris.security.templating import register_template_helpers  # NOTE: jinja2

            register_template_helpers(templates)
        if app is not None:
            app.add_step(self)

    def _headers(self, *, with_nonce: bool) -> list[tuple[str, str]]:
        headers = list(self.constant)
        if self.csp is not None and not with_nonce:
            # NOTE: where no template can read a nonce, the policy carries none: no inline code.
            headers.append((self.csp_header, self.csp.replace(" " + NONCE, "").replace(NONCE, "")))
        return headers

    def for_route(self, route: Route) -> Step | None:
        """Constant headers everywhere; HSTS and a nonce'd CSP only where they can apply."""
        plan = route.plan
        nonce = self.csp is not None and NONCE in self.csp
        nonce = nonce and (plan is None or plan.needs_request)
        if nonce:
            return _Nonce(self)
        if self.hsts is not None:
            return _HSTS(self)
        return self  # PERF: constant bytes only, no call per request


class _HSTS(Step):
    """The constant headers, and Strict-Transport-Security on HTTPS responses."""

    def __init__(self, parent: SecurityHeaders) -> None:
        self.headers = parent.headers
        self.hsts = parent.hsts

    async def after(self, request: Request, response: Response) -> None:
        self.add_hsts(request, response)

    def add_hsts(self, request: Request, response: Response) -> None:
        """Add Strict-Transport-Security to an HTTPS response that has none."""
        if request.conn.scheme == "https" and self.hsts is not None:
            raw = response.raw_headers
            if not any(name.lower() == b"strict-transport-security" for name, _ in raw):
                raw.append((b"strict-transport-security", self.hsts))

    def _after_entry(self) -> tuple[Any, bool]:
        return self.add_hsts, False  # PERF: a plain call for the core pipeline, no coroutine


class _Nonce(Step):
    """Also a fresh CSP nonce per request, in ``request.state.csp_nonce`` and the header."""

    def __init__(self, parent: SecurityHeaders) -> None:
        self.headers = parent._headers(with_nonce=True)
        self.hsts = parent.hsts
        self.csp_name = parent.csp_header.lower().encode("latin-1")
        assert parent.csp is not None
        self.csp = parent.csp

    async def before(self, request: Request) -> Response | None:
        self.new_nonce(request)
        return None

    async def after(self, request: Request, response: Response) -> None:
        self.add_policy(request, response)

    # PERF: plain-function forms for the core pipeline: neither awaits anything.
    def _before_entry(self) -> tuple[Any, bool]:
        return self.new_nonce, False

    def _after_entry(self) -> tuple[Any, bool]:
        return self.add_policy, False

    def new_nonce(self, request: Request) -> None:
        """Give the request its CSP nonce."""
        request.state.csp_nonce = secrets.token_urlsafe(16)

    def add_policy(self, request: Request, response: Response) -> None:
        """Add the nonce'd policy (and HSTS on HTTPS) unless the response set its own."""
        nonce = request.state.csp_nonce
        policy = self.csp.replace(NONCE, "'nonce-" + nonce + "'")
        raw = response.raw_headers
        names = {name.lower() for name, _ in raw}
        if self.csp_name not in names:
            raw.append((self.csp_name, policy.encode("latin-1")))
        if (
            self.hsts is not None
            and request.conn.scheme == "https"
            and b"strict-transport-security" not in names
        ):
            raw.append((b"strict-transport-security", self.hsts))
