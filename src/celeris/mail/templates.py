"""Mail templates: ``templates/mail/<name>.subject``, ``.txt`` and ``.html`` rendered with Jinja2.

HTML is autoescaped, the subject and text are not (they are not HTML); a missing ``.txt`` is
derived from the HTML, so every mail has a plain-text part for clients that want one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2

__all__ = ["MailTemplates", "Rendered", "html_to_text"]

_BLOCK = frozenset(
    {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"}
    | {"blockquote", "pre", "hr", "section", "article", "header", "footer"}
)


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        if tag == "a":
            self._href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")
        if tag == "a" and self._href:
            href = self._href.pop()
            if href and not href.startswith(("#", "mailto:")):
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text version of an HTML mail (paragraphs, list items, link targets)."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = (line.strip() for line in "".join(parser.parts).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str | None
    html: str | None


class MailTemplates:
    """Find and render ``mail/<name>.*`` under a templates folder."""

    def __init__(self, directory: str | Path = "templates") -> None:
        self.directory = Path(directory)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(self.directory),
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
            enable_async=True,
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
        )

    async def _render(self, path: str, context: dict[str, Any]) -> str | None:
        try:
            template = self.env.get_template(path)
        except jinja2.TemplateNotFound:
            return None
        return await template.render_async(context)

    async def render(self, name: str, context: dict[str, Any]) -> Rendered:
        """Render the subject, text and HTML of template ``name``."""
        if "/" in name or "\\" in name or name.startswith("."):
            raise ValueError(f"a mail template name is a plain name, not {name!r}")
        subject = await self._render(f"mail/{name}.subject", context)
        text = await self._render(f"mail/{name}.txt", context)
        html = await self._render(f"mail/{name}.html", context)
        if text is None and html is None:
            raise LookupError(
                f"no mail template {name!r}: add {self.directory / 'mail' / name}.txt or .html"
            )
        if text is None and html is not None:
            text = html_to_text(html)
        # SECURITY: a subject rendered from user data could carry line breaks; one line only.
        one_line = " ".join((subject or "").split())
        return Rendered(subject=one_line, text=text, html=html)
