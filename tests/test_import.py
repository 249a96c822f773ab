"""`import celeris` stays cheap: no heavy optional libraries, a bounded number of modules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "jinja2",
    "pydantic",
    "httpx",
    "python_multipart",
    "multipart",
    "sqlalchemy",
    "alembic",
    "redis",
    "jwt",
    "celeris.server",
    "celeris.testing",
    "celeris.templating",
    "celeris.db",
    "celeris.cli",
    "celeris.core.multipart",
)
# NOTE: measured at 254 modules (Python 3.11, with the OpenAPI extension registered) plus 20%.
MODULE_BUDGET = 305


def _imported_after(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; return the module names it leaves loaded."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    modules: list[str] = json.loads(out)
    return modules


@pytest.fixture(scope="module")
def after_import() -> list[str]:
    return _imported_after("import celeris")


def test_import_celeris_loads_no_heavy_modules(after_import: list[str]) -> None:
    heavy = [m for m in after_import if m in HEAVY or m.split(".")[0] in HEAVY]
    assert heavy == [], f"`import celeris` pulled in {heavy}"


def test_import_celeris_stays_within_its_module_budget(after_import: list[str]) -> None:
    assert len(after_import) <= MODULE_BUDGET, (
        f"`import celeris` loads {len(after_import)} modules, over the budget of {MODULE_BUDGET}"
    )


def test_an_app_with_routes_and_docs_still_loads_no_heavy_modules() -> None:
    code = (
        "import celeris\n"
        "app = celeris.App()\n"
        "@app.get('/')\n"
        "async def index(q: int = 0) -> dict:\n"
        "    return {'q': q}\n"
        "app.build_middleware_stack()\n"
        "assert '/openapi.json' in [r.path for r in app.routes]"
    )
    loaded = _imported_after(code)
    assert not [m for m in loaded if m.split(".")[0] in ("pydantic", "jinja2", "httpx")]
    assert "python_multipart" not in loaded


def test_multipart_parsing_loads_python_multipart_on_first_use() -> None:
    code = (
        "import asyncio, sys\n"
        "from celeris.core.datastructures import Headers\n"
        "from celeris.core.forms import parse_form\n"
        "assert 'python_multipart' not in sys.modules\n"
        "body = b'--b\\r\\nContent-Disposition: form-data; name=\"a\"\\r\\n\\r\\n1\\r\\n--b--\\r\\n'\n"
        "async def stream():\n"
        "    yield body\n"
        "headers = Headers([(b'content-type', b'multipart/form-data; boundary=b')])\n"
        "form = asyncio.run(parse_form(headers, stream()))\n"
        "assert form['a'] == '1', form"
    )
    assert "python_multipart" in _imported_after(code)
