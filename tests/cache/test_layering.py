"""`import celeris` never imports a battery; each battery imports its backend only when chosen."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _modules_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return set(json.loads(out))


def test_import_celeris_loads_no_battery() -> None:
    loaded = _modules_after("import celeris")
    for name in ("celeris.cache", "celeris.mail", "celeris.storage"):
        assert name not in loaded
    for name in ("redis", "aiosmtplib", "obstore", "jinja2"):
        assert name not in loaded


@pytest.mark.parametrize(
    ("code", "absent"),
    [
        ("from celeris.cache import Cache; Cache(url='memory://')", {"redis"}),
        ("from celeris.mail import Mailer; Mailer(url='memory://')", {"aiosmtplib"}),
        ("from celeris.storage import Storage; Storage(url='memory://')", {"boto3", "moto"}),
    ],
)
def test_backends_imported_only_when_chosen(code: str, absent: set[str]) -> None:
    assert not (absent & _modules_after(code))
