"""What a template sees when ``Templates`` renders it: exactly what ``Template.render`` gives."""

from __future__ import annotations

import traceback
from pathlib import Path

import jinja2
import pytest

from celeris.templating import TemplateNotFoundError, Templates


def test_context_over_template_globals_over_environment_globals(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("{{ a }} {{ b }} {{ c }} {{ range(2) | list }}")
    templates = Templates(tmp_path)
    templates.env.globals.update(a="env-a", b="env-b", c="env-c")
    templates.env.get_template("page.html", globals={"b": "own-b", "c": "own-c"})
    assert templates.render_string("page.html", {"c": "ctx-c"}) == "env-a own-b ctx-c [0, 1]"
    expected = templates.env.get_template("page.html").render(c="ctx-c")
    assert templates.render_string("page.html", {"c": "ctx-c"}) == expected


def test_globals_added_after_the_first_render_are_seen(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("{{ late | default('none') }}")
    templates = Templates(tmp_path)
    assert templates.render_string("page.html") == "none"
    templates.env.globals["late"] = "here"
    assert templates.render_string("page.html") == "here"


def test_the_context_is_not_shared_between_renders(tmp_path: Path) -> None:
    (tmp_path / "page.html").write_text("{% set x = 1 %}{{ x }}{{ y | default('') }}")
    templates = Templates(tmp_path)
    given = {"y": "!"}
    assert templates.render_string("page.html", given) == "1!"
    assert given == {"y": "!"}
    assert "x" not in templates.env.globals
    assert templates.render_string("page.html") == "1"


def test_errors_keep_their_type_and_the_template_s_traceback(tmp_path: Path) -> None:
    (tmp_path / "boom.html").write_text("line one\n{{ 1 // zero }}")
    (tmp_path / "broken.html").write_text('{% include "gone.html" %}')
    templates = Templates(tmp_path)
    with pytest.raises(ZeroDivisionError) as info:
        templates.render_string("boom.html", {"zero": 0})
    frames = [(f.filename, f.lineno) for f in traceback.extract_tb(info.tb)]
    assert (str(tmp_path / "boom.html"), 2) in frames  # Jinja's rewritten frame
    with pytest.raises(TemplateNotFoundError, match="gone.html"):
        templates.render_string("broken.html")
    with pytest.raises(jinja2.UndefinedError):
        Templates(tmp_path, undefined=jinja2.StrictUndefined).render_string("boom.html")
