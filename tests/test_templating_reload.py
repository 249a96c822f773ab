"""``Templates`` re-reads edited files only in development (or when asked to)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from celeris.templating import Templates


def _edit(page: Path, text: str) -> None:
    page.write_text(text)
    later = page.stat().st_mtime + 10
    os.utime(page, (later, later))


def test_templates_are_not_re_read_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CELERIS_DEBUG", raising=False)
    page = tmp_path / "page.html"
    page.write_text("one")
    templates = Templates(tmp_path)
    assert templates.env.auto_reload is False
    assert templates.render_string("page.html") == "one"
    _edit(page, "two")
    assert templates.render_string("page.html") == "one"  # compiled once, no stat per render


def test_templates_reload_under_celeris_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CELERIS_DEBUG", "1")  # what `celeris run` sets
    page = tmp_path / "page.html"
    page.write_text("one")
    templates = Templates(tmp_path)
    assert templates.render_string("page.html") == "one"
    _edit(page, "two")
    assert templates.render_string("page.html") == "two"


@pytest.mark.parametrize("debug", [None, "1"])
def test_auto_reload_argument_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, debug: str | None
) -> None:
    if debug is None:
        monkeypatch.delenv("CELERIS_DEBUG", raising=False)
    else:
        monkeypatch.setenv("CELERIS_DEBUG", debug)
    assert Templates(tmp_path, auto_reload=True).env.auto_reload is True
    assert Templates(tmp_path, auto_reload=False).env.auto_reload is False
    assert Templates(tmp_path, auto_reload=True).async_env.auto_reload is True
