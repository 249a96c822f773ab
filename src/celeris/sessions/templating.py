"""Jinja2 globals of the sessions battery: ``get_flashed_messages()`` in templates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jinja2

from celeris.sessions.flash import get_flashed_messages

__all__ = ["register_template_helpers"]


@jinja2.pass_context
def template_get_flashed_messages(
    context: jinja2.runtime.Context,
    with_categories: bool = False,
    category_filter: Sequence[str] = (),
) -> list[Any]:
    """``get_flashed_messages()`` in a template: reads ``request`` from the context."""
    request = context.get("request")
    if request is None:
        raise RuntimeError("get_flashed_messages() in a template needs 'request' in the context")
    return get_flashed_messages(
        request, with_categories=with_categories, category_filter=category_filter
    )


def register_template_helpers(templates: Any) -> None:
    """Give ``templates`` (a ``celeris.templating.Templates``) ``get_flashed_messages()``."""
    templates.env.globals["get_flashed_messages"] = template_get_flashed_messages
