"""Jinja2 globals of the security battery: ``csrf_token()``, ``csrf_input()``, ``csp_nonce()``.

Each reads ``request`` from the template context (pass it as Starlette does:
``templates.render("page.html", {"request": request})``), so routes without templates pay
nothing for them.
"""

from __future__ import annotations

from typing import Any

import jinja2
from markupsafe import Markup

from celeris.security import csrf as _csrf

__all__ = ["register_template_helpers"]


def _request(context: jinja2.runtime.Context, name: str) -> Any:
    request = context.get("request")
    if request is None:
        raise RuntimeError(f"{name}() in a template needs 'request' in the context")
    return request


@jinja2.pass_context
def csrf_token(context: jinja2.runtime.Context) -> str:
    """The CSRF token (for a header or a custom field)."""
    return _csrf.csrf_token(_request(context, "csrf_token"))


@jinja2.pass_context
def csrf_input(context: jinja2.runtime.Context) -> Markup:
    """The hidden ``<input>`` carrying the CSRF token."""
    request = context.get("request")  # PERF: inline _request(): once per form on every page
    if request is None:
        raise RuntimeError("csrf_input() in a template needs 'request' in the context")
    # NOTE: str.__new__: the HTML is ours and final, Markup.__new__ would only copy it.
    return str.__new__(Markup, _csrf.csrf_input(request))


@jinja2.pass_context
def csp_nonce(context: jinja2.runtime.Context) -> str:
    """This response's CSP nonce: ``<script nonce="{{ csp_nonce() }}">`` ("" without a CSP)."""
    nonce = _request(context, "csp_nonce").state.get("csp_nonce")
    return "" if nonce is None else str(nonce)


def register_template_helpers(templates: Any) -> None:
    """Give ``templates`` (a ``celeris.templating.Templates``) the security globals."""
    env_globals = templates.env.globals
    env_globals["csrf_token"] = csrf_token
    env_globals["csrf_input"] = csrf_input
    env_globals["csp_nonce"] = csp_nonce
