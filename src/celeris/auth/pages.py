"""The pages side of the auth routes: templates, content negotiation, form input, errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from celeris.auth.dependencies import prefers_html
from celeris.core.errors import HTTPError
from celeris.core.requests import Request
from celeris.core.responses import Response
from celeris.mail import Message
from celeris.security import csrf_input
from celeris.templating import Templates

if TYPE_CHECKING:
    from celeris.auth.manager import Auth

__all__ = ["Pages", "make_templates", "problem", "read_input", "safe_next", "wants_html"]

TEMPLATES = Path(__file__).parent / "templates"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def make_templates(directory: Any) -> Templates:
    """Return the auth templates: ``directory`` (overrides) first, then the battery's."""
    folders: list[Any] = [TEMPLATES]
    if directory is not None:
        extra = getattr(directory, "directories", None) or [directory]
        folders = [*extra, TEMPLATES]
    return Templates(folders)


def safe_next(target: str | None, default: str) -> str:
    """Return ``target`` when it is a path on this site, else ``default`` (no open redirect)."""
    if (
        not target
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 32 for c in target)
    ):
        return default
    return target


def _is_form(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() in _FORM_TYPES


def wants_html(request: Request) -> bool:
    """Tell whether to answer with a page: a browser form post or a browser page load."""
    if _is_form(request):
        accept = request.headers.get("accept", "")
        return not accept or prefers_html(request) or ("*/*" in accept and "json" not in accept)
    return prefers_html(request)


async def read_input(request: Request) -> dict[str, str]:
    """Return the string fields of a form or JSON object body."""
    if _is_form(request):
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    body = await request.body()
    if not body:
        return {}
    data = await request.json()
    if not isinstance(data, dict):
        raise HTTPError(422, "The body must be a JSON object.")
    return {k: v for k, v in data.items() if isinstance(v, str)}


def problem(status: int, detail: str, errors: dict[str, list[str]] | None = None) -> HTTPError:
    extra = None
    if errors:
        extra = {
            "errors": [
                {"loc": ["body", field], "msg": msg, "type": "value_error"}
                for field, messages in errors.items()
                for msg in messages
            ]
        }
    return HTTPError(status, detail, extra=extra)


class Pages:
    """Render the battery's pages and mails for one ``Auth``; the flows build on it."""

    def __init__(self, auth: Auth) -> None:
        self.auth = auth

    def page(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:
        app = request.app
        csrf = Markup("")
        if app is not None and "csrf" in app.state:
            csrf = Markup(csrf_input(request))
        context.setdefault("errors", {})
        context.setdefault("values", {})
        response: Response = self.auth.templates.render(
            f"auth/{name}.html",
            {
                "request": request,
                "csrf_field": csrf,
                "prefix": self.auth.prefix,
                "signup_enabled": self.auth.signup_enabled,
                "status": status,
                **context,
            },
            status_code=status,
            headers={"cache-control": "no-store"},
        )
        return response

    def fail(
        self,
        request: Request,
        page: str,
        status: int,
        detail: str,
        errors: dict[str, list[str]] | None = None,
        values: dict[str, str] | None = None,
        **context: Any,
    ) -> Response:
        if wants_html(request):
            safe = {k: v for k, v in (values or {}).items() if "password" not in k}
            return self.page(
                request, page, status, detail=detail, errors=errors or {}, values=safe, **context
            )
        raise problem(status, detail, errors)

    def link(self, request: Request, path: str, token: str) -> str:
        return f"{str(request.base_url).rstrip('/')}{self.auth.prefix}{path}?token={token}"

    async def send(self, request: Request, user: Any, kind: str, link: str) -> None:
        auth = self.auth
        if auth.mailer is None:
            return
        templates = auth.templates
        context = {"user": user, "link": link, "site": request.headers.get("host", "")}
        subject = templates.env.get_template(f"auth/mail/{kind}.subject").render(context).strip()
        text = templates.env.get_template(f"auth/mail/{kind}.txt").render(context)
        # SECURITY: sent in the background: the answer takes as long whether or not the
        # address has an account, and a slow mail server does not hold the request.
        await auth.mailer.send(
            Message(to=[user.email], subject=subject, text=text), background=True
        )
