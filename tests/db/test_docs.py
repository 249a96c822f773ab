"""docs/db.md's examples run as written from a fresh, empty folder, and answer their requests.

Each ```python block that defines an ``app`` is followed by a comment listing requests and the
status each must answer, one a line: ``<!-- requests: POST /note {"title": "a"} -> 201 -->``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "db.md"
BLOCK = re.compile(r"^```python\n(.*?)^```\n(?:\s*<!-- requests:\n(.*?)-->)?", re.S | re.M)
REQUEST = re.compile(r"^\s*(GET|POST|PATCH|PUT|DELETE) (\S+)(?: (.+?))? -> (\d{3})\s*$")

DRIVER = """
import json, sys
sys.path.insert(0, ".")
import example
from celeris.testing import TestClient

with TestClient(example.app) as client:
    for method, path, body, status in json.loads(sys.argv[1]):
        response = client.request(method, path, json=body)
        assert response.status_code == status, (method, path, response.status_code, response.text)
"""


def _examples() -> list[tuple[str, str, list[tuple[str, str, object, int]]]]:
    text = DOC.read_text()
    found = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        requests = []
        for raw in (match.group(2) or "").strip().splitlines():
            parsed = REQUEST.match(raw)
            assert parsed, f"db.md:{line}: cannot read request line {raw!r}"
            method, path, body, status = parsed.groups()
            requests.append((method, path, json.loads(body) if body else None, int(status)))
        found.append((f"db.md:{line}", match.group(1), requests))
    return found


EXAMPLES = _examples()


def test_every_app_example_lists_its_requests() -> None:
    apps = [where for where, source, requests in EXAMPLES if "\napp = " in source]
    assert apps
    for where, source, requests in EXAMPLES:
        if "\napp = " in source:
            assert requests, f"{where} defines an app but lists no requests to check it"


@pytest.mark.parametrize(
    ("where", "source", "requests"), EXAMPLES, ids=[where for where, _, _ in EXAMPLES]
)
def test_example_answers_from_a_fresh_folder(
    where: str, source: str, requests: list[object], tmp_path: Path
) -> None:
    (tmp_path / "example.py").write_text(source)
    (tmp_path / "driver.py").write_text(DRIVER)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(p for p in sys.path if p)}
    done = subprocess.run(
        [sys.executable, "-W", "error", "driver.py", json.dumps(requests)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, f"{where} failed:\n{done.stderr[-3000:]}"
    assert not (tmp_path / "migrations").exists()
