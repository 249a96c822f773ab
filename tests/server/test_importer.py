"""Loading apps from "module:attr" strings, with precise errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from celeris.server.importer import ImportFromStringError, import_from_string


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    (tmp_path / "celeris_test_appmod.py").write_text(
        "async def app(scope, receive, send):\n    pass\n"
        "def factory():\n    return app\n"
        "not_an_app = 42\n"
        "async def two_args(a, b):\n    pass\n"  # a sync (environ, start_response) is WSGI
        "def one_arg(scope):\n    pass\n"
        "class Holder:\n    inner = app\n"
    )
    (tmp_path / "celeris_test_broken.py").write_text("import celeris_no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "celeris_test_appmod"
    sys.modules.pop("celeris_test_appmod", None)
    sys.modules.pop("celeris_test_broken", None)


def test_imports_an_app(app_module: str) -> None:
    app = import_from_string(f"{app_module}:app")
    assert app.__name__ == "app"
    assert import_from_string(f"{app_module}:Holder.inner") is app


def test_factory(app_module: str) -> None:
    assert import_from_string(f"{app_module}:factory", factory=True).__name__ == "app"


def test_app_objects_pass_through() -> None:
    async def app(scope: object, receive: object, send: object) -> None: ...

    assert import_from_string(app) is app


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nocolon", "format"),
        (":app", "format"),
        ("celeris_test_appmod:", "format"),
        ("celeris_no_such_module:app", 'Could not import module "celeris_no_such_module"'),
        ("celeris_test_appmod:missing", 'Attribute "missing" not found'),
        ("celeris_test_appmod:not_an_app", "not an ASGI application"),
        ("celeris_test_appmod:two_args", "does not look like an ASGI 3 application"),
        ("celeris_test_appmod:one_arg", "does not look like an ASGI 3 application"),
    ],
)
def test_precise_errors(app_module: str, target: str, message: str) -> None:
    with pytest.raises(ImportFromStringError, match=message):
        import_from_string(target)


def test_a_missing_dependency_inside_the_module_is_not_hidden(app_module: str) -> None:
    with pytest.raises(ModuleNotFoundError, match="celeris_no_such_dependency"):
        import_from_string("celeris_test_broken:app")


def test_factory_must_be_callable(app_module: str) -> None:
    with pytest.raises(ImportFromStringError, match="not callable"):
        import_from_string(f"{app_module}:not_an_app", factory=True)
