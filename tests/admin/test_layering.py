"""`import celeris` loads no part of the admin; the admin loads no jobs or tickets of its own."""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(json.loads(out))


def test_import_celeris_loads_no_admin() -> None:
    assert not any(name.startswith("celeris.admin") for name in _modules_after("import celeris"))


def test_the_admin_loads_jobs_and_tickets_only_when_given() -> None:
    loaded = _modules_after("import celeris.admin")
    assert "celeris.jobs" not in loaded
    assert "celeris.tickets" not in loaded
