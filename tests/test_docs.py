"""The docs' examples run as tests: every ```python block in docs/*.md and README.md.

A fragment that is not a whole program is fenced as ```py instead, and is not run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from celeris.server.config import Config

ROOT = Path(__file__).resolve().parent.parent
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = doc.read_text()
        for match in BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{doc.name}:{line}", match.group(1)))
    return found


BLOCKS = _blocks()


def test_docs_have_examples() -> None:
    assert len(BLOCKS) >= 10


@pytest.mark.parametrize(("where", "source"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_example_runs(where: str, source: str, tmp_path: Path) -> None:
    # A fresh interpreter per example, as a user would run it: no shared models or state.
    path = tmp_path / "example.py"
    path.write_text(source)
    done = subprocess.run(
        [sys.executable, "-W", "error", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{where} failed:\n{done.stderr[-3000:]}"


def test_server_doc_lists_every_option() -> None:
    text = (ROOT / "docs" / "server.md").read_text()
    for option in fields(Config):
        flag = "--" + option.metadata.get("flag", option.name.replace("_", "-"))
        assert f"`{flag}" in text, f"docs/server.md does not document {flag}"
